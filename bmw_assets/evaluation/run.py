"""Out-of-process evaluation of one model (the base or a variant):
`python -m bmw_assets.evaluation.run --spec eval_spec.json`.

The spec is a `bmw_assets.run_specs.EvalSpec`: the model to load, the measurement settings
(`config`, every value resolved from configs/base.yaml), the held-out texts, fact questions and
general English to measure on, and the folder the report goes to. Imports only dagster_pipes
(through the training reporter) and the ML stack, never dagster. Under Dagster Pipes it streams
logs and reports the materialization; run by hand it prints plain lines.
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

from bmw_assets.evaluation.fact_recall import answer_likelihood, fact_recall, load_facts, score_fact_recall
from bmw_assets.evaluation.judges import build_judge
from bmw_assets.evaluation.perplexity import text_perplexity
from bmw_assets.evaluation.report import EvalReport, write_report
from bmw_assets.evaluation.retrieval import PassageIndex, article_texts, passages, rag_questions
from bmw_assets.evaluation.samples import generate_samples
from bmw_assets.evaluation.semantic_entropy import semantic_entropy_for_questions
from bmw_assets.models.loading import load_model
from bmw_assets.run_specs import EvalSpec
from bmw_assets.training.reporting import metadata_path, open_reporter

RETRIEVAL_NO_PERPLEXITY = "not scored: the retrieval baseline is the base model (its perplexity is the base row's)"


def _read_texts(path: Path) -> list[str]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [row["text"] for row in map(json.loads, filter(str.strip, lines)) if row.get("text")]


def _perplexity(
    model, tokenizer, path: Path | None, unavailable: str | None, windows: dict, name: str, log
) -> dict[str, Any]:
    """The perplexity section of the report for the texts at `path`, or {"unavailable": why}; logs
    the `name`d result or why there is none."""
    if path is None:
        why = unavailable or "no texts given"
        log(f"{name} perplexity not measured: {why}")
        return {"perplexity": float("nan"), "tokens": 0, "unavailable": why}
    result = text_perplexity(model, tokenizer, _read_texts(path), progress=log, **windows).to_dict()
    log(f"{name} perplexity {result['perplexity']:.3f} over {result['tokens']} tokens")
    return result


def _fact_prompts(spec: EvalSpec, facts, log: Callable[[str], None]) -> list[str]:
    """The user turns the fact questions are asked in: the questions themselves, or for the
    retrieval baseline each question with its top passages of the training articles."""
    questions = [f.question for f in facts]
    if spec.retrieval is None:
        return questions
    from sentence_transformers import SentenceTransformer

    from bmw_assets.evaluation.judges import packaged_minilm_path

    cfg = spec.config
    encoder_path = spec.retrieval.encoder_path or packaged_minilm_path()
    encoder = SentenceTransformer(str(encoder_path), device="cuda" if torch.cuda.is_available() else "cpu",
                                  model_kwargs={"use_safetensors": True})  # fmt: skip
    articles = article_texts(spec.retrieval.corpus_path)
    index = PassageIndex.build(passages(articles, cfg.retrieval_passage_words), encoder)
    log(f"retrieval: {len(index.passages)} passages of the training articles, top {cfg.retrieval_top_k} per question")
    return rag_questions(questions, index.top_k(questions, cfg.retrieval_top_k))


def evaluate(spec: EvalSpec, log: Callable[[str], None]) -> EvalReport:
    """Run every metric for the spec's model and write the report into output_dir."""
    started = time.perf_counter()
    cfg = spec.config
    if not torch.cuda.is_available():
        torch.set_num_threads(spec.cpu_threads)
    adapter = str(spec.model.adapter) if spec.model.adapter else None
    model, tokenizer = load_model(spec.model.path, adapter, spec.model.removed_layers, cfg.cpu_bf16)
    log(f"loaded {spec.model.path}" + (f" + adapter {adapter}" if adapter else ""))
    windows = {"max_length": cfg.perplexity_max_length, "stride": cfg.perplexity_stride, "batch_size": cfg.batch_size}
    retrieval = spec.retrieval is not None
    heldout = _perplexity(model, tokenizer, None if retrieval else spec.test_texts_path, RETRIEVAL_NO_PERPLEXITY,
                          windows, "held-out", log)  # fmt: skip
    general = _perplexity(model, tokenizer, None if retrieval else spec.general_text_path,
                          RETRIEVAL_NO_PERPLEXITY if retrieval else spec.general_text_unavailable,
                          windows, "general-English", log)  # fmt: skip

    facts = load_facts(spec.facts_path)
    prompts = _fact_prompts(spec, facts, log)
    recall = fact_recall(model, tokenizer, facts, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size,
                         prompts=prompts, system_prompt=spec.system_prompt)  # fmt: skip
    by_split = {
        split: score_fact_recall(
            [f for f in facts if f.split == split],
            [a.prediction for f, a in zip(facts, recall.answers, strict=True) if f.split == split],
        )
        for split in ("train", "test")
    }
    log(
        f"fact recall train {by_split['train'].rate:.3f} (n={by_split['train'].n}), test {by_split['test'].rate:.3f} (n={by_split['test'].n})"
    )

    likelihood = {
        split: answer_likelihood(model, tokenizer, [f for f in facts if f.split == split],
                                 [p for f, p in zip(facts, prompts, strict=True) if f.split == split],
                                 spec.system_prompt)
        for split in ("train", "test")
    }  # fmt: skip
    log("answer perplexity where the sentence states it: "
        + ", ".join(f"{split} {r.perplexity:.2f} (n={r.n})" for split, r in likelihood.items()))  # fmt: skip

    judge = build_judge(
        cfg.judge,
        model=cfg.judge_model,
        threshold=cfg.embedding_threshold,
        base_url=spec.judge_base_url or os.environ.get("OPENAI_BASE_URL"),
    )
    # The first entropy_questions facts, alternating train and test articles so both kinds are asked.
    per_split = [[i for i, f in enumerate(facts) if f.split == split] for split in ("train", "test")]
    order = [i for pair in itertools.zip_longest(*per_split) for i in pair if i is not None]
    asked = order[: cfg.entropy_questions or len(facts)]
    entropy = semantic_entropy_for_questions(
        model,
        tokenizer,
        [prompts[i] for i in asked],
        [recall.answers[i].correct for i in asked],
        judge,
        samples=cfg.entropy_samples,
        temperature=cfg.entropy_temperature,
        max_new_tokens=cfg.max_new_tokens,
        seed=cfg.seed,
        progress=log,
        system_prompt=spec.system_prompt,
    )
    samples = generate_samples(model, tokenizer, cfg.generation_prompts, max_new_tokens=cfg.max_new_tokens,
                               system_prompt=spec.system_prompt)  # fmt: skip

    report = EvalReport(
        variant=spec.variant,
        run_id=spec.run_id,
        model_path=spec.model.path,
        adapter_path=adapter,
        config=cfg.model_dump(mode="json"),
        perplexity=heldout,
        general_text=general,
        fact_recall={split: result.to_dict() for split, result in by_split.items()},
        fact_likelihood={split: result.to_dict() for split, result in likelihood.items()},
        semantic_entropy=entropy.to_dict(),
        samples=[asdict(s) for s in samples],
        layers=int(model.config.num_hidden_layers),
        parameters=sum(p.numel() for p in model.parameters()),
        wall_seconds=round(time.perf_counter() - started, 2),
        created_at=dt.datetime.now(dt.UTC).isoformat(),
    )
    json_path, markdown_path = write_report(report, spec.output_dir)
    log(f"wrote {json_path} and {markdown_path}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate one model variant and write its report.")
    parser.add_argument("--spec", required=True, type=Path, help="eval_spec.json: a bmw_assets.run_specs.EvalSpec")
    args = parser.parse_args(argv)
    spec = EvalSpec.load(args.spec)
    with open_reporter() as reporter:
        report = evaluate(spec, reporter.log)
        metadata: dict[str, Any] = {
            name: value for name, (value, _) in report.metrics().items() if value is not None and not math.isnan(value)
        }
        metadata["report"] = metadata_path(spec.folder.report_markdown)
        metadata["config_sha256"] = report.config_sha256
        reporter.report_materialization(metadata)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
