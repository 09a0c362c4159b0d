"""One variant's evaluation report: a dataclass written as JSON and Markdown, and
rows for the catalog table `eval_results`."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bmw_assets.atomic import write_json_atomic, write_text_atomic
from bmw_assets.evaluation.bootstrap import paired_log_ratio_error
from bmw_assets.hashing import sha256_json
from bmw_assets.run_folders import REPORT_JSON, REPORT_MARKDOWN


def config_sha256(config: dict[str, Any]) -> str:
    """sha256 of the config as canonical JSON (sorted keys, no spaces)."""
    return sha256_json(config)


@dataclass
class EvalReport:
    """Everything measured for one model. Perplexities are per token; entropies in nats;
    rates in [0, 1]; `wall_seconds` is the evaluation's wall time. Sections are the
    `to_dict()` forms of the metric results (see perplexity, fact_recall, semantic_entropy)."""

    variant: str
    run_id: str
    model_path: str
    adapter_path: str | None
    config: dict[str, Any]
    perplexity: dict[str, Any]
    general_text: dict[str, Any]  # perplexity on general English (the forgetting measure), or {"unavailable": why}
    fact_recall: dict[str, dict[str, Any]]  # "train" / "test" -> FactRecallResult.to_dict()
    semantic_entropy: dict[str, Any]
    samples: list[dict[str, Any]]
    layers: int
    parameters: int
    wall_seconds: float
    created_at: str
    config_sha256: str = field(default="")
    # "train" / "test" -> AnswerLikelihoodResult.to_dict(); empty in reports written before it existed
    fact_likelihood: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.config_sha256:
            self.config_sha256 = config_sha256(self.config)

    def metrics(self) -> dict[str, tuple[float | None, int | None]]:
        """Headline metrics as name -> (value, n): n is the tokens or questions behind it."""
        entropy = self.semantic_entropy
        return {
            "heldout_perplexity": (self.perplexity["perplexity"], self.perplexity["tokens"]),
            "general_perplexity": (self.general_text.get("perplexity"), self.general_text.get("tokens")),
            "fact_recall_train": (self.fact_recall["train"]["rate"], self.fact_recall["train"]["n"]),
            "fact_recall_test": (self.fact_recall["test"]["rate"], self.fact_recall["test"]["n"]),
            "fact_perplexity_train": self._likelihood("train"),
            "fact_perplexity_test": self._likelihood("test"),
            "semantic_entropy": (entropy["mean_weighted_entropy"], entropy["n"]),
            "semantic_entropy_discrete": (entropy["mean_discrete_entropy"], entropy["n"]),
            "semantic_entropy_auroc": (entropy["auroc"], entropy["n"]),
            "layers": (self.layers, None),
            "parameters": (self.parameters, None),
            "eval_wall_seconds": (self.wall_seconds, None),
        }

    def _likelihood(self, split: str) -> tuple[float | None, int | None]:
        section = self.fact_likelihood.get(split)
        return (section["perplexity"], section["n"]) if section else (None, None)

    def standard_errors(self) -> dict[str, float | None]:
        """Standard errors of the headline metrics that have one (None where too little was
        measured): perplexities by bootstrap over documents, fact recall as a binomial
        proportion (Agresti-Coull, so that 0 of n still has an error)."""
        return {
            "heldout_perplexity": self.perplexity.get("standard_error"),
            "general_perplexity": self.general_text.get("standard_error"),
            "fact_recall_train": self.fact_recall["train"].get("standard_error"),
            "fact_recall_test": self.fact_recall["test"].get("standard_error"),
            "fact_perplexity_train": self.fact_likelihood.get("train", {}).get("standard_error"),
            "fact_perplexity_test": self.fact_likelihood.get("test", {}).get("standard_error"),
        }

    def paired_errors(self, base: EvalReport) -> dict[str, float]:
        """Standard errors of log(this / base) where both reports scored the same units: the
        held-out and general-English perplexities over the same documents (paired bootstrap), the
        answer perplexities from the per-fact differences (as many facts, in the facts file's order)."""
        paired = {}
        for metric, mine, theirs in (("heldout_perplexity", self.perplexity, base.perplexity),
                                     ("general_perplexity", self.general_text, base.general_text)):  # fmt: skip
            error = paired_log_ratio_error(mine.get("documents") or [], theirs.get("documents") or [])
            if error is not None:
                paired[metric] = error
        for split in ("train", "test"):
            mine = self.fact_likelihood.get(split, {}).get("nll") or []
            theirs = base.fact_likelihood.get(split, {}).get("nll") or []
            if len(mine) == len(theirs) >= 2:
                differences = [a - b for a, b in zip(mine, theirs, strict=True)]
                paired[f"fact_perplexity_{split}"] = statistics.stdev(differences) / math.sqrt(len(differences))
        return paired

    def unavailable(self) -> dict[str, str]:
        """Why a metric could not be computed, by metric name (missing, not zero)."""
        reasons = {}
        if self.perplexity.get("unavailable"):
            reasons["heldout_perplexity"] = self.perplexity["unavailable"]
        if self.general_text.get("unavailable"):
            reasons["general_perplexity"] = self.general_text["unavailable"]
        for split in ("train", "test"):
            section = self.fact_likelihood.get(split)
            if section is None:
                reasons[f"fact_perplexity_{split}"] = "not measured (a report from before answer likelihood)"
            elif section.get("unavailable"):
                reasons[f"fact_perplexity_{split}"] = section["unavailable"]
        if self.semantic_entropy.get("auroc_unavailable"):
            reasons["semantic_entropy_auroc"] = self.semantic_entropy["auroc_unavailable"]
        return reasons

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        return cls(**data)


def _finite(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def eval_result_rows(report: EvalReport) -> list[dict[str, Any]]:
    """Rows for `eval_results` (variant, run_id, metric, value, n, config_sha256); NaN
    values (nothing to measure) become None. The caller adds created_at on insert."""
    return [
        {
            "variant": report.variant,
            "run_id": report.run_id,
            "metric": metric,
            "value": _finite(value),
            "n": n,
            "config_sha256": report.config_sha256,
        }
        for metric, (value, n) in report.metrics().items()
    ]


def _shown(value: float | None, error: float | None = None) -> str:
    value = _finite(value)
    if value is None:
        return "—"
    shown = f"{value:,.0f}" if value.is_integer() and abs(value) >= 100 else f"{value:.4g}"
    return shown if _finite(error) is None else f"{shown} ± {error:.2g}"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(report: EvalReport) -> str:
    """A human-readable Markdown page: headline metrics, fact answers, samples."""
    lines = [
        f"# Evaluation: {report.variant} ({report.run_id})",
        "",
        f"Model `{report.model_path}`" + (f", adapter `{report.adapter_path}`" if report.adapter_path else ""),
        f"; config sha256 `{report.config_sha256[:12]}`; {report.wall_seconds:.0f} s.",
        "",
        "| metric | value ± standard error | n |",
        "| --- | --- | --- |",
    ]
    errors, reasons = report.standard_errors(), report.unavailable()
    lines += [
        f"| {metric} | {reasons.get(metric) or _shown(value, errors.get(metric))} | {'' if n is None else n} |"
        for metric, (value, n) in report.metrics().items()
    ]
    for split in ("train", "test"):
        lines += [
            "",
            f"## Fact recall ({split} articles)",
            "",
            "| question | reference | answer | correct |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {_cell(a['question'])} | {_cell(a['reference'])} | {_cell(a['prediction'])} | {'yes' if a['correct'] else 'no'} |"
            for a in report.fact_recall[split]["answers"]
        ]
    lines += ["", "## Sample generations", ""]
    for sample in report.samples:
        mode = {True: "thinking on", False: "thinking off", None: "no thinking switch"}[sample["enable_thinking"]]
        lines += [f"**{sample['prompt']}** ({mode})", ""]
        if sample["thinking"]:
            lines += [f"> thinking: {_cell(sample['thinking'])}", ""]
        lines += [sample["answer"] or "_(empty)_", ""]
    return "\n".join(lines) + "\n"


def write_report(report: EvalReport, output_dir: Path) -> tuple[Path, Path]:
    """Write `eval_report.md` and then `eval_report.json` into `output_dir`, each atomically;
    return their paths (json, markdown). The JSON goes last: its presence means the
    evaluation finished, so a process killed in between leaves no finished-looking folder."""
    output_dir = Path(output_dir)
    json_path, markdown_path = output_dir / REPORT_JSON, output_dir / REPORT_MARKDOWN
    write_text_atomic(markdown_path, render_markdown(report))
    write_json_atomic(json_path, report.to_dict())
    return json_path, markdown_path


def read_report(path: Path) -> EvalReport:
    """Load a report from its JSON file (or the folder holding `eval_report.json`)."""
    path = Path(path)
    if path.is_dir():
        path = path / REPORT_JSON
    return EvalReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
