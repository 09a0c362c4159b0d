"""`eval_report[variant]`, `base_model_report` and `variant_comparison`: the eval specs handed to
the evaluation process, the facts it asks about, and the records it leaves."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bmw_assets.atomic import write_json_atomic, write_text_atomic
from bmw_assets.catalog import connect, transaction
from bmw_assets.evaluation.report import REPORT_JSON, EvalReport, eval_result_rows, read_report
from bmw_assets.settings import StorageLayout

BASE_VARIANT = "base"


@dataclass(frozen=True)
class EvalPlan:
    variant: str
    run_id: str
    output_dir: Path
    spec_path: Path

    @property
    def completed(self) -> bool:
        return (self.output_dir / REPORT_JSON).is_file()


def write_facts_file(
    catalog_path: Path, dataset_version: str, facts: dict[str, list[tuple[str, str]]], path: Path, per_split: int
) -> int:
    """At most `per_split` facts of train and of test articles of `dataset_version` as JSONL (in article
    order, so every model gets the same questions; validation articles stay out); returns rows."""
    with connect(catalog_path) as con:
        splits = dict(
            con.execute(
                "SELECT article_id, split FROM dataset_splits WHERE version = ? AND split IN ('train', 'test')",
                [dataset_version],
            ).fetchall()
        )
    rows = []
    for wanted in ("train", "test"):
        rows += [
            {"article_id": article_id, "split": split, "question": q, "answer": a}
            for article_id, split in sorted(splits.items())
            if split == wanted
            for q, a in facts.get(article_id, ())
        ][:per_split]
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))
    return len(rows)


def model_paths(trained: dict[str, Any], base_model: str) -> tuple[str, str | None]:
    """(model folder, LoRA adapter folder or None) to evaluate for a trained-model manifest.

    A merged folder wins; a LoRA adapter sits on the unmodified base model; a full
    fine-tune is its own folder.
    """
    output_dir = Path(trained["output_dir"])
    if trained["paths"].get("merged"):
        return str(output_dir / trained["paths"]["merged"]), None
    if trained["method"] == "lora":
        if trained.get("removed_layers"):
            raise ValueError(
                f"{trained['variant']}: a LoRA adapter trained after layer surgery needs its merged model; "
                "train with training.merge_lora: true"
            )
        return base_model, str(output_dir)
    return str(output_dir), None


def plan_eval_run(
    variant: str,
    run_id: str,
    evaluation_config: dict[str, Any],
    model: tuple[str, str | None],
    dataset: dict[str, Any],
    facts_path: Path,
    layout: StorageLayout,
    base_model: str,
) -> EvalPlan:
    """Write the eval spec for one model under reports/<variant>/<run_id>/."""
    output_dir = layout.reports_dir / variant / run_id
    spec = {
        "variant": variant,
        "run_id": run_id,
        "model_path": model[0],
        "adapter_path": model[1],
        "config": evaluation_config,
        "test_texts_path": str(Path(dataset["path"]) / "test.jsonl"),
        "facts_path": str(facts_path),
        # One probe for every model: generated once by the base model.
        "probe_path": str(layout.reports_dir / "forgetting_probe.json"),
        "base_model_path": base_model,
        "output_dir": str(output_dir),
    }
    spec_path = output_dir / "eval_spec.json"
    write_json_atomic(spec_path, spec)
    return EvalPlan(variant, run_id, output_dir, spec_path)


def record_eval(catalog_path: Path, plan: EvalPlan) -> EvalReport:
    """Read the finished report and upsert its metrics into `eval_results`."""
    report = read_report(plan.output_dir / REPORT_JSON)
    now = datetime.now(timezone.utc)
    rows = [(*r.values(), now) for r in eval_result_rows(report)]
    with connect(catalog_path) as con, transaction(con):
        con.execute("DELETE FROM eval_results WHERE variant = ? AND run_id = ?", [plan.variant, plan.run_id])
        con.executemany("INSERT INTO eval_results VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    return report
