"""The quality run: does the platform turn press releases into a model that knows them?

Three phases, one script:

    python benchmarks/quality.py prepare --storage DIR --articles 1100 --bundle .quality
        CPU, through the normal assets: a replica of N articles on loopback, then
        article_index -> raw_pdfs -> regex_text -> llm_text -> chatml_dataset -> base_model
        (local profile). Writes the bundle the GPU host needs: the dataset splits, the fact
        questions, the held-out texts, the general-English text and the base model's GGUF
        (split in parts that fit one device carry).

    python benchmarks/quality.py run --bundle .quality --work /tmp/q --out DIR [--stage sweep|final|eval]
        GPU host: builds the base model from the bundle, then trains and evaluates through the
        same entry points `trained_model` and `eval_report` launch
        (`python -m bmw_assets.training.train --spec`, `python -m bmw_assets.evaluation.run
        --spec`) with the `gpu-quality` profile's configs; several processes share the GPU.
        Writes quality.json (every number) into --out.

    python benchmarks/quality.py report
        Turns benchmarks/results/quality.json into the tables of docs/results.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "quality.json"
PROFILE = "gpu-quality"
VARIANTS = ("original", "original_lora", "dropped", "dropped_lora", "pruned", "pruned_lora")
GGUF_PART_BYTES = 48 * 1024 * 1024  # one part per device carry (64 MiB with the code)


# ---------------------------------------------------------------- prepare (CPU)


def prepare(storage: Path, articles: int, bundle: Path, fact_questions: int) -> dict[str, Any]:
    """Build the dataset of an `articles`-article replica through the data assets and write the bundle."""
    os.environ.update({"BMW_STORAGE": str(storage), "BMW_PROFILE": "local", "BMW_REPLICA_SIZE": str(articles)})
    import dagster as dg

    from bmw_assets.definitions import build_definitions
    from bmw_assets.evaluation.general_text import write_general_text
    from bmw_assets.models.base_model import packaged_gguf_path
    from bmw_assets.replica.server import ReplicaServer
    from bmw_assets.settings import load_settings
    from bmw_assets.stages.evaluation import write_facts_file, write_heldout_texts

    started = time.monotonic()
    with ReplicaServer(port=0, published=articles, size=articles) as replica:
        os.environ["BMW_PRESSCLUB_URL"] = replica.base_url
        settings = load_settings()
        defs = build_definitions(settings)
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                list(defs.assets or []),
                selection=["article_index", "raw_pdfs", "regex_text", "llm_text", "chatml_dataset"],
                resources=dict(defs.resources or {}), instance=instance,
                run_config={"ops": {"article_index": {"config": {"target": articles}}}},
            )
            dataset = result.output_for_node("chatml_dataset")
    layout = settings.storage
    dataset_dir = Path(dataset["path"])
    if bundle.exists():
        shutil.rmtree(bundle)
    (bundle / "dataset").mkdir(parents=True)
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "manifest.json"):
        shutil.copy(dataset_dir / name, bundle / "dataset" / name)
    facts = defs.resources["facts"].facts()
    questions = write_facts_file(layout.catalog_path, dataset["version"], facts, bundle / "facts.jsonl", fact_questions)
    heldout_tokens = write_heldout_texts(dataset_dir, bundle / "heldout.jsonl", None)
    general = write_general_text(bundle / "general_text.jsonl")
    gguf = packaged_gguf_path()
    parts = _split_file(gguf, bundle / "gguf", GGUF_PART_BYTES)
    info = {
        "articles": articles,
        "dataset_version": dataset["version"],
        "dataset_rows": json.loads((dataset_dir / "manifest.json").read_text())["rows"],
        "fact_questions": questions,
        "heldout_tokens": heldout_tokens,
        "general_text": general,
        "gguf": {"name": gguf.name, "sha256": _sha256(gguf), "parts": parts},
        "prepare_seconds": round(time.monotonic() - started, 1),
    }
    (bundle / "bundle.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _split_file(path: Path, folder: Path, part_bytes: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    with open(path, "rb") as handle:
        for number, block in enumerate(iter(lambda: handle.read(part_bytes), b"")):
            name = f"part{number}"
            (folder / name).write_bytes(block)
            names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    phases = parser.add_subparsers(dest="phase", required=True)
    prep = phases.add_parser("prepare", help="CPU: build the dataset through the assets and write the bundle")
    prep.add_argument("--storage", type=Path, required=True)
    prep.add_argument("--articles", type=int, default=1100)
    prep.add_argument("--bundle", type=Path, default=ROOT / ".quality")
    prep.add_argument("--fact-questions", type=int, default=250, help="per split (train and test articles)")
    args = parser.parse_args(argv)
    if args.phase == "prepare":
        info = prepare(args.storage.resolve(), args.articles, args.bundle.resolve(), args.fact_questions)
        print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
