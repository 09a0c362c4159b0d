"""`eval_report[variant]`, `base_model_report` and `variant_comparison`: the eval specs handed to
the evaluation process, the facts it asks about, and the records it leaves."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bmw_assets.atomic import write_text_atomic
from bmw_assets.catalog import connect, transaction
from bmw_assets.catalog.datasets import train_and_test_splits
from bmw_assets.catalog.evaluations import replace_eval_results
from bmw_assets.evaluation.general_text import GeneralTextUnavailable, write_general_text
from bmw_assets.evaluation.report import (
    EvalReport,
    config_sha256,
    eval_result_rows,
    read_report,
)
from bmw_assets.models.config import EvaluationMeasurement
from bmw_assets.run_folders import EvaluationFolder
from bmw_assets.run_specs import EvalSpec, EvaluatedModel, RetrievalSettings
from bmw_assets.settings import StorageLayout

BASE_VARIANT = "base"


@dataclass(frozen=True)
class EvalPlan:
    variant: str
    run_id: str
    folder: EvaluationFolder
    config_sha256: str  # of the evaluation config the spec asks for

    @property
    def output_dir(self) -> Path:
        return self.folder.path

    @property
    def spec_path(self) -> Path:
        return self.folder.spec

    @property
    def completed(self) -> bool:
        """True when output_dir holds a whole report of this evaluation config. The report JSON is
        written last and atomically, so a killed run leaves none; an unreadable one (written by
        something else) or one of another config does not count, and the evaluation runs again."""
        if not self.folder.report_json.is_file() or not self.folder.report_markdown.is_file():
            return False
        try:
            report = read_report(self.folder.report_json)
        except (ValueError, TypeError, KeyError):
            return False
        return report.config_sha256 == self.config_sha256


def write_facts_file(
    catalog_path: Path,
    dataset_version: str,
    facts: dict[str, list[tuple[str, str]]],
    path: Path,
    per_split: int,
    dataset_path: Path | None = None,
) -> int:
    """At most `per_split` facts of train and of test articles of `dataset_version` as JSONL (in article
    order, so every model gets the same questions; validation articles stay out); returns rows. A fact
    whose question has a `qa` row in the dataset at `dataset_path` carries that row's answer, the
    article's sentence stating it (`sentence`), on which the answer's likelihood is measured."""
    with connect(catalog_path) as con:
        splits = train_and_test_splits(con, dataset_version)
    sentences = _qa_answers(dataset_path) if dataset_path is not None else {}
    rows = []
    for wanted in ("train", "test"):
        rows += [
            {"article_id": article_id, "split": split, "question": q, "answer": a,
             "sentence": sentences.get((article_id, q))}
            for article_id, split in sorted(splits.items())
            if split == wanted
            for q, a in facts.get(article_id, ())
        ][:per_split]  # fmt: skip
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))
    return len(rows)


def _qa_answers(dataset_path: Path) -> dict[tuple[str, str], str]:
    """(article id, question) -> the assistant turn of its first `qa` row, over the train and test splits."""
    answers = {}
    for split in ("train", "test"):
        lines = (dataset_path / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        for row in map(json.loads, filter(str.strip, lines)):
            if row.get("style") == "qa" and row.get("chunk", 0) == 0:
                question = next(m["content"] for m in row["messages"] if m["role"] == "user")
                answers.setdefault((row["article_id"], question), row["messages"][-1]["content"])
    return answers


def write_heldout_texts(dataset_path: Path, path: Path, max_tokens: int | None) -> int:
    """The held-out text scored for perplexity: the test split's plain `article` rows (all test
    rows when the dataset has no such style), in file order, up to `max_tokens`; returns tokens."""
    rows = [json.loads(line) for line in (dataset_path / "test.jsonl").read_text(encoding="utf-8").splitlines() if line]
    articles = [row for row in rows if row["style"] == "article"] or rows
    chosen, tokens = [], 0
    for row in articles:
        if max_tokens is not None and tokens + row["tokens"] > max_tokens and chosen:
            break
        chosen.append({"article_id": row["article_id"], "text": row["text"]})
        tokens += row["tokens"]
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in chosen))
    return tokens


def general_text_spec(layout: StorageLayout, max_chars: int) -> dict[str, Path | str | None]:
    """EvalSpec fields for the general-English text (the forgetting measure): the JSONL file written once
    under reports/general_text/, or no path and the reason (WordNet not installed)."""
    path = layout.reports_dir / "general_text" / f"wordnet-{max_chars}.jsonl"
    if not path.is_file():
        try:
            write_general_text(path, max_chars)
        except GeneralTextUnavailable as missing:
            return {"general_text_path": None, "general_text_unavailable": str(missing)}
    return {"general_text_path": path, "general_text_unavailable": None}


def plan_eval_run(
    variant: str,
    run_id: str,
    measurement: EvaluationMeasurement,
    model: EvaluatedModel,
    facts_path: Path,
    heldout_path: Path,
    layout: StorageLayout,
    retrieval_corpus: Path | None = None,
    system_prompt: str | None = None,
) -> EvalPlan:
    """Write the eval spec for one model under reports/<variant>/<run_id>/; with `retrieval_corpus`
    (a split JSONL) the spec asks for the retrieval baseline over that split's articles. Questions
    are asked under `system_prompt`, the one the dataset's rows carry."""
    folder = EvaluationFolder.of(layout.reports_dir, variant, run_id)
    spec = EvalSpec(
        variant=variant,
        run_id=run_id,
        model=model,
        config=measurement,
        test_texts_path=heldout_path,
        facts_path=facts_path,
        **general_text_spec(layout, measurement.general_text_chars),
        retrieval=RetrievalSettings(corpus_path=retrieval_corpus) if retrieval_corpus else None,
        system_prompt=system_prompt,
        output_dir=folder.path,
    )
    spec.write(folder.spec)
    return EvalPlan(variant, run_id, folder, config_sha256(measurement.model_dump(mode="json")))


def record_eval(catalog_path: Path, plan: EvalPlan) -> EvalReport:
    """Read the finished report and upsert its metrics into `eval_results`."""
    report = read_report(plan.folder.report_json)
    now = datetime.now(UTC)
    rows = [(*r.values(), now) for r in eval_result_rows(report)]
    with connect(catalog_path) as con, transaction(con):
        replace_eval_results(con, plan.variant, plan.run_id, rows)
    return report
