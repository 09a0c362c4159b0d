"""Out-of-process evaluation of one model (the base or a variant):
`python -m bmw_assets.evaluation.run --spec eval_spec.json`.

Imports only dagster_pipes (through the training reporter) and the ML stack, never
dagster. Under Dagster Pipes it streams logs and reports the materialization; run by
hand it prints plain lines. The spec is JSON:

{"variant", "run_id", "model_path", "adapter_path" (LoRA adapter folder or null),
 "config" (the resolved config's `evaluation` section), "test_texts_path" (JSONL with a
 "text" field per row, e.g. the dataset's test.jsonl), "facts_path" (JSONL: article_id,
 split train|test, question, answer), "probe_path" (forgetting-probe JSON),
 "output_dir", optional "removed_layers" (layers to take out of model_path before the
 adapter goes on), optional "base_model_path" (to build a missing probe from the base
 model), optional "probe_max_new_tokens" (tokens per probe generation, default 128),
 optional "cpu_threads" (torch threads on CPU, default 1: on a shared 2-core machine
 two threads contend so badly that greedy decoding ran 7x slower than with one)
 and optional "judge_base_url" (for judge "llm"; else $OPENAI_BASE_URL)}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from bmw_assets.evaluation.fact_recall import fact_recall, load_facts, score_fact_recall
from bmw_assets.evaluation.judges import build_judge
from bmw_assets.evaluation.perplexity import text_perplexity
from bmw_assets.evaluation.probe import build_probe, general_text_probe
from bmw_assets.evaluation.report import EvalReport, write_report
from bmw_assets.evaluation.samples import generate_samples
from bmw_assets.evaluation.semantic_entropy import semantic_entropy_for_questions
from bmw_assets.models.loading import load_model
from bmw_assets.training.reporting import metadata_path, open_reporter

REQUIRED_KEYS = ("variant", "run_id", "model_path", "config", "test_texts_path", "facts_path", "probe_path", "output_dir")
BASE_VARIANT = "base"
PROBE_MAX_NEW_TOKENS = 128


def load_spec(path: Path) -> dict[str, Any]:
    """Read and check an eval spec (see the module docstring)."""
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    missing = [key for key in REQUIRED_KEYS if key not in spec]
    if missing:
        raise ValueError(f"eval spec {path} lacks {missing}; it needs {list(REQUIRED_KEYS)}")
    spec.setdefault("adapter_path", None)
    return spec


def _read_texts(path: Path) -> list[str]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [row["text"] for row in map(json.loads, filter(str.strip, lines)) if row.get("text")]


def _ensure_probe(spec: dict[str, Any], model, tokenizer, log: Callable[[str], None]) -> None:
    probe_path = Path(spec["probe_path"])
    if probe_path.is_file():
        return
    probe_tokens = int(spec.get("probe_max_new_tokens", PROBE_MAX_NEW_TOKENS))
    if spec.get("base_model_path"):
        log(f"building the forgetting probe from the base model {spec['base_model_path']}")
        base_model, base_tokenizer = load_model(spec["base_model_path"], None)
        build_probe(base_model, base_tokenizer, probe_path, max_new_tokens=probe_tokens)
    elif spec["variant"] == BASE_VARIANT and not spec["adapter_path"]:
        log("building the forgetting probe from this (base) model")
        build_probe(model, tokenizer, probe_path, max_new_tokens=probe_tokens)
    else:
        raise FileNotFoundError(
            f"probe {probe_path} is missing and variant {spec['variant']!r} is not the base model: "
            "evaluate the base first or give base_model_path in the spec"
        )


def evaluate(spec: dict[str, Any], log: Callable[[str], None]) -> EvalReport:
    """Run every metric for the spec's model and write the report into output_dir."""
    started = time.perf_counter()
    cfg = spec["config"]
    if not torch.cuda.is_available():
        torch.set_num_threads(int(spec.get("cpu_threads", 1)))
    model, tokenizer = load_model(spec["model_path"], spec["adapter_path"], spec.get("removed_layers"))
    log(f"loaded {spec['model_path']}" + (f" + adapter {spec['adapter_path']}" if spec["adapter_path"] else ""))
    _ensure_probe(spec, model, tokenizer, log)
    windows = {"max_length": cfg["perplexity_max_length"], "stride": cfg["perplexity_stride"], "batch_size": cfg["batch_size"]}

    heldout = text_perplexity(model, tokenizer, _read_texts(Path(spec["test_texts_path"])), progress=log, **windows)
    log(f"held-out perplexity {heldout.perplexity:.3f} over {heldout.tokens} tokens")
    probe = general_text_probe(model, tokenizer, Path(spec["probe_path"]), progress=log, **windows)
    log(f"probe perplexity {probe.perplexity:.3f} over {probe.tokens} tokens")

    facts = load_facts(Path(spec["facts_path"]))
    recall = fact_recall(model, tokenizer, facts, max_new_tokens=cfg["max_new_tokens"], batch_size=cfg["batch_size"])
    by_split = {
        split: score_fact_recall(
            [f for f in facts if f.split == split],
            [a.prediction for f, a in zip(facts, recall.answers) if f.split == split],
        )
        for split in ("train", "test")
    }
    log(f"fact recall train {by_split['train'].rate:.3f} (n={by_split['train'].n}), test {by_split['test'].rate:.3f} (n={by_split['test'].n})")

    judge = build_judge(
        cfg["judge"], model=cfg.get("judge_model"), threshold=cfg.get("embedding_threshold", 0.85),
        base_url=spec.get("judge_base_url") or os.environ.get("OPENAI_BASE_URL"),
    )
    entropy = semantic_entropy_for_questions(
        model, tokenizer, [f.question for f in facts], [a.correct for a in recall.answers], judge,
        samples=cfg["entropy_samples"], temperature=cfg["entropy_temperature"],
        max_new_tokens=cfg["max_new_tokens"], seed=cfg.get("seed"), progress=log,
    )
    samples = generate_samples(model, tokenizer, cfg["generation_prompts"], max_new_tokens=cfg["max_new_tokens"])

    report = EvalReport(
        variant=spec["variant"],
        run_id=spec["run_id"],
        model_path=spec["model_path"],
        adapter_path=spec["adapter_path"],
        config=cfg,
        perplexity=heldout.to_dict(),
        probe=probe.to_dict(),
        fact_recall={split: result.to_dict() for split, result in by_split.items()},
        semantic_entropy=entropy.to_dict(),
        samples=[asdict(s) for s in samples],
        layers=int(model.config.num_hidden_layers),
        parameters=sum(p.numel() for p in model.parameters()),
        wall_seconds=round(time.perf_counter() - started, 2),
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(),
    )
    json_path, markdown_path = write_report(report, Path(spec["output_dir"]))
    log(f"wrote {json_path} and {markdown_path}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate one model variant and write its report.")
    parser.add_argument("--spec", required=True, type=Path, help="eval spec JSON (see module docstring)")
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    with open_reporter() as reporter:
        report = evaluate(spec, reporter.log)
        metadata: dict[str, Any] = {
            name: value for name, (value, _) in report.metrics().items() if value is not None and not math.isnan(value)
        }
        metadata["report"] = metadata_path(Path(spec["output_dir"]) / "eval_report.md")
        metadata["config_sha256"] = report.config_sha256
        reporter.report_materialization(metadata)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
