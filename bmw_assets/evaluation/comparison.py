"""The comparison of all variants with the base model: one Polars table, its Markdown
rendering, and the training statistics it draws on."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from bmw_assets.evaluation.report import EvalReport
from bmw_assets.evaluation.verdict import significant
from bmw_assets.run_folders import TrainingRunFolder

BASE_ROW = "base"
# Column -> (header, unit) for the Markdown table; the order is the table's.
COLUMNS: dict[str, tuple[str, str]] = {
    "heldout_perplexity": ("held-out perplexity", ""),
    "general_perplexity": ("general-English perplexity", ""),
    "forgetting_change_pct": ("forgetting (general-English ppl vs base)", "%"),
    "fact_recall_train": ("fact recall, train articles", ""),
    "fact_recall_test": ("fact recall, test articles", ""),
    "fact_perplexity_train": ("answer perplexity, train articles", ""),
    "fact_perplexity_test": ("answer perplexity, test articles", ""),
    "semantic_entropy": ("semantic entropy", "nats"),
    "entropy_auroc": ("entropy AUROC", ""),
    "layers": ("layers", ""),
    "parameters": ("parameters", ""),
    "trainable_parameters": ("trainable parameters", ""),
    "train_tokens_per_s": ("training tokens/s", ""),
    "train_wall_s": ("training wall time", "s"),
}
_INTEGER_COLUMNS = {"layers", "parameters", "trainable_parameters"}


def load_training_stats(run_dir: Path) -> dict[str, Any] | None:
    """A training run's `manifest.json` merged with its `metrics.json` (None when the run
    folder has no manifest): keys used here are layers, total_params, trainable_params,
    tokens_per_second, wall_seconds and history {"train": [{step, loss}], "eval": [...]}."""
    run = TrainingRunFolder(Path(run_dir))
    stats = run.read_manifest()
    if stats is not None and run.metrics.is_file():
        stats.update(run.read_metrics())
    return stats


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _nan_to_none(value: Any) -> Any:
    return None if _is_empty(value) else value


def _row(variant: str, report: EvalReport | None, base: EvalReport, stats: Mapping[str, Any] | None) -> dict[str, Any]:
    stats = stats or {}
    row: dict[str, Any] = {"variant": variant} | {column: None for column in COLUMNS}
    if report is not None:
        metrics = {name: _nan_to_none(value) for name, (value, _) in report.metrics().items()}
        base_general = _nan_to_none(base.general_text["perplexity"])
        row |= {
            "heldout_perplexity": metrics["heldout_perplexity"],
            "general_perplexity": metrics["general_perplexity"],
            "forgetting_change_pct": (
                100.0 * (metrics["general_perplexity"] / base_general - 1.0)
                if metrics["general_perplexity"] is not None and base_general
                else None
            ),
            "fact_recall_train": metrics["fact_recall_train"],
            "fact_recall_test": metrics["fact_recall_test"],
            "fact_perplexity_train": metrics["fact_perplexity_train"],
            "fact_perplexity_test": metrics["fact_perplexity_test"],
            "semantic_entropy": metrics["semantic_entropy"],
            "entropy_auroc": metrics["semantic_entropy_auroc"],
            "layers": report.layers,
            "parameters": report.parameters,
        }
    # Training facts exist even when the evaluation is missing; they never overwrite a measured value.
    row["layers"] = row["layers"] if row["layers"] is not None else stats.get("layers")
    row["parameters"] = row["parameters"] if row["parameters"] is not None else stats.get("total_params")
    row["trainable_parameters"] = stats.get("trainable_params")
    row["train_tokens_per_s"] = stats.get("tokens_per_second")
    row["train_wall_s"] = stats.get("wall_seconds")
    return row


def compare_variants(
    reports: Mapping[str, EvalReport | None],
    base: EvalReport,
    training_stats: Mapping[str, Mapping[str, Any] | None] | None = None,
    retrieval: EvalReport | None = None,
) -> pl.DataFrame:
    """One row for the base model, one for the retrieval baseline (`retrieval`, when given), then
    one per variant in `reports` order, with the columns of `COLUMNS`. A variant whose report is
    None (not evaluated) has null metrics, never zeros; `training_stats[variant]` (see
    `load_training_stats`) fills the training columns.
    forgetting_change_pct = 100 * (general-English ppl / base general-English ppl - 1)."""
    training_stats = training_stats or {}
    rows = [_row(BASE_ROW, base, base, None)]
    if retrieval is not None:
        rows.append(_row(retrieval.variant, retrieval, base, None))
    rows += [_row(variant, report, base, training_stats.get(variant)) for variant, report in reports.items()]
    schema = {"variant": pl.String} | {
        column: pl.Int64 if column in _INTEGER_COLUMNS else pl.Float64 for column in COLUMNS
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


_METRIC_COLUMNS = ("heldout_perplexity", "general_perplexity", "forgetting_change_pct", "fact_recall_train",
                   "fact_recall_test", "fact_perplexity_train", "fact_perplexity_test", "semantic_entropy",
                   "entropy_auroc")  # fmt: skip
_TRAINING_COLUMNS = ("trainable_parameters", "train_tokens_per_s", "train_wall_s")


def _report_reasons(report: EvalReport, base: EvalReport) -> dict[str, str]:
    """Why each of `report`'s metric cells is empty, in the report's own words where it has them."""
    unavailable = report.unavailable()
    reasons = {
        "heldout_perplexity": unavailable.get("heldout_perplexity", "not measured in this report"),
        "general_perplexity": unavailable.get("general_perplexity", "not measured in this report"),
        "forgetting_change_pct": unavailable.get("general_perplexity")
        or base.unavailable().get("general_perplexity", "the base's general-English perplexity is missing"),
        "fact_perplexity_train": unavailable.get("fact_perplexity_train", "not measured in this report"),
        "fact_perplexity_test": unavailable.get("fact_perplexity_test", "not measured in this report"),
        "semantic_entropy": "no entropy questions were asked",
        "entropy_auroc": unavailable.get("semantic_entropy_auroc", "not measured in this report"),
    }
    for split in ("train", "test"):
        section = report.fact_recall[split]
        reasons[f"fact_recall_{split}"] = (
            f"no fact questions about {split} articles" if not section.get("n") else "not measured in this report"
        )
    return reasons


def unmeasured_reasons(
    reports: Mapping[str, EvalReport | None], base: EvalReport, retrieval: EvalReport | None = None
) -> dict[str, dict[str, str]]:
    """Why a metric cell of `compare_variants(reports, base, ..., retrieval)` may be empty, by row
    and column: a report's own reason (e.g. the retrieval baseline scores no perplexity), no
    questions for a split, or a variant not evaluated yet. Only cells that are empty in the table
    are printed (see `comparison_markdown`)."""
    rows = {BASE_ROW: base} | ({retrieval.variant: retrieval} if retrieval is not None else {}) | dict(reports)
    return {
        variant: _report_reasons(report, base) if report is not None
        else dict.fromkeys(_METRIC_COLUMNS, "not evaluated yet")
        for variant, report in rows.items()
    }  # fmt: skip


def _format(column: str, value: Any) -> str:
    if _is_empty(value):
        return "—"
    if column in _INTEGER_COLUMNS:
        return f"{int(value):,}"
    if column == "forgetting_change_pct":
        return f"{value:+.1f}"
    return f"{value:.4g}"


def empty_cell_notes(table: pl.DataFrame, reasons: Mapping[str, Mapping[str, str]]) -> list[str]:
    """One Markdown bullet per empty metric cell of `table` saying why (`reasons`, see
    `unmeasured_reasons`), a row not yet evaluated as one bullet, and the untrained rows."""
    notes, untrained = [], []
    for row in table.iter_rows(named=True):
        variant = row["variant"]
        empty = [c for c in _METRIC_COLUMNS if c in row and _is_empty(row[c])]
        if empty and all(reasons.get(variant, {}).get(c) == "not evaluated yet" for c in empty):
            notes.append(f"- **{variant}**: not evaluated yet.")
        else:
            notes += [f"- **{variant}**, {COLUMNS[c][0]}: {reasons.get(variant, {}).get(c, 'not measured')}."
                      for c in empty]  # fmt: skip
        if all(_is_empty(row[c]) for c in _TRAINING_COLUMNS if c in row):
            untrained.append(variant)
    if untrained:
        notes.append(f"- Not trained, so no training columns: {', '.join(untrained)}.")
    return notes


def comparison_markdown(table: pl.DataFrame, reasons: Mapping[str, Mapping[str, str]]) -> str:
    """The comparison table as Markdown (an empty cell reads "—", never 0), then why each empty
    metric cell is empty (see `empty_cell_notes`)."""
    present = [c for c in COLUMNS if c in table.columns]
    headers = ["variant"] + [f"{COLUMNS[c][0]} ({COLUMNS[c][1]})" if COLUMNS[c][1] else COLUMNS[c][0] for c in present]
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    for row in table.iter_rows(named=True):
        lines.append("| " + " | ".join([row["variant"]] + [_format(c, row[c]) for c in present]) + " |")
    notes = empty_cell_notes(table, reasons)
    return "\n".join(lines) + "\n" + ("\nEmpty cells:\n\n" + "\n".join(notes) + "\n" if notes else "")


def table_rows(table: pl.DataFrame) -> list[dict[str, Any]]:
    """The comparison table's rows with floats rounded to SIGNIFICANT_DIGITS significant digits."""
    return [{column: significant(value) for column, value in row.items()} for row in table.iter_rows(named=True)]


SAMPLE_CHARS = 400  # characters of an answer shown inline; the report file has all of it


def samples_markdown(samples: Mapping[str, list[dict[str, Any]]], max_chars: int = SAMPLE_CHARS) -> str:
    """Sample generations grouped by prompt (and thinking mode), one bullet per model in
    `samples` order (model name -> its report's `samples`), each answer on one line, cut to
    `max_chars`; "_(empty)_" for an empty answer."""
    prompts: dict[tuple[str, bool | None], list[str]] = {}
    for model, generations in samples.items():
        for sample in generations:
            answer = " ".join((sample.get("answer") or "").split())
            if len(answer) > max_chars:
                answer = answer[:max_chars].rstrip() + " …"
            prompts.setdefault((sample["prompt"], sample.get("enable_thinking")), []).append(
                f"- **{model}**: {answer or '_(empty)_'}"
            )
    lines = []
    for (prompt, thinking), answers in prompts.items():
        mode = {True: " (thinking on)", False: " (thinking off)", None: ""}[thinking]
        lines += [f"**{' '.join(prompt.split())}**{mode}", "", *answers, ""]
    return "\n".join(lines) if lines else "_no sample generations_"
