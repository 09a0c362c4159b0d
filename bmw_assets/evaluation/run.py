"""Out-of-process evaluation of one model (the base or a variant):
`python -m bmw_assets.evaluation.run --spec eval_spec.json`.

Imports only dagster_pipes (through the training reporter) and the ML stack, never
dagster. Under Dagster Pipes it streams logs and reports the materialization; run by
hand it prints plain lines. The spec is JSON:

{"variant", "run_id", "model_path", "adapter_path" (LoRA adapter folder or null),
 "config" (the resolved config's `evaluation` section), "test_texts_path" (JSONL with a
 "text" field per row, e.g. the dataset's test.jsonl), "facts_path" (JSONL: article_id,
 split train|test, question, answer), "general_text_path" (JSONL texts of general English
 for the forgetting measure, or null with "general_text_unavailable" saying why),
 "output_dir", optional "removed_layers" (layers to take out of model_path before the
 adapter goes on), optional "retrieval" ({"corpus_path": a split JSONL whose articles are
 retrieved from}: the retrieval baseline, which asks the fact questions with the top
 `retrieval_top_k` passages in the prompt and scores no perplexity, the model being the base),
 optional "system_prompt" (the dataset rows' system turn, under which every question is asked),
 optional "cpu_threads" (torch threads on CPU, default 1: on a shared 2-core machine
 two threads contend so badly that greedy decoding ran 7x slower than with one)
 and optional "judge_base_url" (for judge "llm"; else $OPENAI_BASE_URL)}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
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
from bmw_assets.evaluation.report import EvalReport, write_report
from bmw_assets.evaluation.retrieval import PassageIndex, article_texts, passages, rag_questions
from bmw_assets.evaluation.samples import generate_samples
from bmw_assets.evaluation.semantic_entropy import semantic_entropy_for_questions
from bmw_assets.models.loading import load_model
from bmw_assets.training.reporting import metadata_path, open_reporter

REQUIRED_KEYS = ("variant", "run_id", "model_path", "config", "test_texts_path", "facts_path", "output_dir")
BASE_VARIANT = "base"
RETRIEVAL_NO_PERPLEXITY = "not scored: the retrieval baseline is the base model (its perplexity is the base row's)"


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


def _perplexity(model, tokenizer, path: str | None, unavailable: str | None, windows: dict, log) -> dict[str, Any]:
    """The perplexity section of the report for the texts at `path`, or {"unavailable": why}."""
    if path is None:
        return {"perplexity": float("nan"), "tokens": 0, "unavailable": unavailable or "no texts given"}
    result = text_perplexity(model, tokenizer, _read_texts(Path(path)), progress=log, **windows)
    return result.to_dict()


def _fact_prompts(spec: dict[str, Any], facts, log: Callable[[str], None]) -> list[str]:
    """The user turns the fact questions are asked in: the questions themselves, or for the
    retrieval baseline each question with its top passages of the training articles."""
    questions = [f.question for f in facts]
    if not spec.get("retrieval"):
        return questions
    from sentence_transformers import SentenceTransformer

    from bmw_assets.evaluation.judges import packaged_minilm_path

    cfg = spec["config"]
    encoder_path = spec["retrieval"].get("encoder_path") or str(packaged_minilm_path())
    encoder = SentenceTransformer(encoder_path, device="cuda" if torch.cuda.is_available() else "cpu",
                                  model_kwargs={"use_safetensors": True})  # fmt: skip
    index = PassageIndex.build(passages(article_texts(Path(spec["retrieval"]["corpus_path"])),
                                        cfg["retrieval_passage_words"]), encoder)  # fmt: skip
    log(f"retrieval: {len(index.passages)} passages of the training articles, top {cfg['retrieval_top_k']} per question")
    return rag_questions(questions, index.top_k(questions, cfg["retrieval_top_k"]))


def evaluate(spec: dict[str, Any], log: Callable[[str], None]) -> EvalReport:
    """Run every metric for the spec's model and write the report into output_dir."""
    started = time.perf_counter()
    cfg = spec["config"]
    if not torch.cuda.is_available():
        torch.set_num_threads(int(spec.get("cpu_threads", 1)))
    model, tokenizer = load_model(spec["model_path"], spec["adapter_path"], spec.get("removed_layers"), cfg["cpu_bf16"])
    log(f"loaded {spec['model_path']}" + (f" + adapter {spec['adapter_path']}" if spec["adapter_path"] else ""))
    windows = {"max_length": cfg["perplexity_max_length"], "stride": cfg["perplexity_stride"], "batch_size": cfg["batch_size"]}
    retrieval = bool(spec.get("retrieval"))
    heldout = _perplexity(model, tokenizer, None if retrieval else spec["test_texts_path"], RETRIEVAL_NO_PERPLEXITY, windows, log)
    log(f"held-out perplexity {heldout['perplexity']:.3f} over {heldout['tokens']} tokens")
    general = _perplexity(model, tokenizer, None if retrieval else spec.get("general_text_path"),
                          RETRIEVAL_NO_PERPLEXITY if retrieval else spec.get("general_text_unavailable"), windows, log)  # fmt: skip
    log(f"general-English perplexity {general['perplexity']:.3f} over {general['tokens']} tokens")

    facts = load_facts(Path(spec["facts_path"]))
    prompts = _fact_prompts(spec, facts, log)
    system_prompt = spec.get("system_prompt")
    recall = fact_recall(model, tokenizer, facts, max_new_tokens=cfg["max_new_tokens"], batch_size=cfg["batch_size"],
                         prompts=prompts, system_prompt=system_prompt)  # fmt: skip
    by_split = {
        split: score_fact_recall(
            [f for f in facts if f.split == split],
            [a.prediction for f, a in zip(facts, recall.answers, strict=True) if f.split == split],
        )
        for split in ("train", "test")
    }
    log(f"fact recall train {by_split['train'].rate:.3f} (n={by_split['train'].n}), test {by_split['test'].rate:.3f} (n={by_split['test'].n})")

    judge = build_judge(
        cfg["judge"], model=cfg.get("judge_model"), threshold=cfg.get("embedding_threshold", 0.85),
        base_url=spec.get("judge_base_url") or os.environ.get("OPENAI_BASE_URL"),
    )
    # The first entropy_questions facts, alternating train and test articles so both kinds are asked.
    per_split = [[i for i, f in enumerate(facts) if f.split == split] for split in ("train", "test")]
    order = [i for pair in itertools.zip_longest(*per_split) for i in pair if i is not None]
    asked = order[: cfg.get("entropy_questions") or len(facts)]
    entropy = semantic_entropy_for_questions(
        model, tokenizer, [prompts[i] for i in asked], [recall.answers[i].correct for i in asked], judge,
        samples=cfg["entropy_samples"], temperature=cfg["entropy_temperature"],
        max_new_tokens=cfg["max_new_tokens"], seed=cfg.get("seed"), progress=log, system_prompt=system_prompt,
    )
    samples = generate_samples(model, tokenizer, cfg["generation_prompts"], max_new_tokens=cfg["max_new_tokens"],
                               system_prompt=system_prompt)  # fmt: skip

    report = EvalReport(
        variant=spec["variant"],
        run_id=spec["run_id"],
        model_path=spec["model_path"],
        adapter_path=spec["adapter_path"],
        config=cfg,
        perplexity=heldout,
        general_text=general,
        fact_recall={split: result.to_dict() for split, result in by_split.items()},
        semantic_entropy=entropy.to_dict(),
        samples=[asdict(s) for s in samples],
        layers=int(model.config.num_hidden_layers),
        parameters=sum(p.numel() for p in model.parameters()),
        wall_seconds=round(time.perf_counter() - started, 2),
        created_at=dt.datetime.now(dt.UTC).isoformat(),
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
