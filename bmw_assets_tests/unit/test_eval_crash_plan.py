"""What an evaluation folder must hold before `eval_report` trusts it: the report JSON is
renamed into place last, and a folder a killed or different evaluation left behind is
never taken for this one's finished report."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bmw_assets.evaluation.report import EvalReport, write_report
from bmw_assets.run_folders import REPORT_JSON, REPORT_MARKDOWN
from bmw_assets.run_specs import EvaluatedModel
from bmw_assets.settings import StorageLayout
from bmw_assets.stages.evaluation import plan_eval_run
from bmw_assets_tests.specs import measurement

CHANGES = {"perplexity_max_length": 32, "perplexity_stride": 16, "max_new_tokens": 4, "general_text_chars": 2000}
CONFIG = measurement(**CHANGES).model_dump(mode="json")


def make_report(config: dict) -> EvalReport:
    return EvalReport(
        variant="base", run_id="run-1", model_path="/models/base", adapter_path=None, config=config,
        perplexity={"nll_sum": 10.0, "tokens": 5, "perplexity": 7.4}, general_text={"nll_sum": 8.0, "tokens": 4, "perplexity": 7.4},
        fact_recall={split: {"rate": 1.0, "n": 1, "answers": []} for split in ("train", "test")},
        semantic_entropy={"mean_weighted_entropy": 0.1, "mean_discrete_entropy": 0.1, "auroc": None, "n": 1, "questions": []},
        samples=[], layers=30, parameters=1, wall_seconds=1.0, created_at="2026-01-01T00:00:00+00:00",
    )  # fmt: skip


def plan(tmp_path: Path, changes: dict = CHANGES):
    return plan_eval_run("base", "run-1", measurement(**changes), EvaluatedModel(path="/models/base"),
                         tmp_path / "facts.jsonl", tmp_path / "heldout.jsonl", StorageLayout(tmp_path))  # fmt: skip


def test_the_report_json_is_renamed_into_place_last(tmp_path, monkeypatch):
    renamed: list[str] = []
    real_replace = os.replace

    def recording_replace(source, target):
        renamed.append(Path(target).name)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", recording_replace)  # observes the real renames; writes still happen
    write_report(make_report(CONFIG), tmp_path)
    assert renamed == [REPORT_MARKDOWN, REPORT_JSON]


def test_only_a_whole_report_of_this_config_counts_as_completed(tmp_path):
    evaluation = plan(tmp_path)
    assert evaluation.spec_path.is_file() and not evaluation.completed  # the spec alone is not a result

    # Killed between the two writes of an older writer: Markdown without JSON, JSON without Markdown.
    write_report(make_report(CONFIG), evaluation.output_dir)
    (evaluation.output_dir / REPORT_JSON).rename(tmp_path / "aside.json")
    assert not evaluation.completed
    (tmp_path / "aside.json").rename(evaluation.output_dir / REPORT_JSON)
    assert evaluation.completed
    (evaluation.output_dir / REPORT_MARKDOWN).unlink()
    assert not evaluation.completed

    # A truncated JSON (a non-atomic writer killed mid-write) is re-evaluated, not read.
    write_report(make_report(CONFIG), evaluation.output_dir)
    whole = (evaluation.output_dir / REPORT_JSON).read_bytes()
    (evaluation.output_dir / REPORT_JSON).write_bytes(whole[: len(whole) // 2])
    assert not evaluation.completed
    # A leftover temp file of an interrupted atomic write is not a report either.
    (evaluation.output_dir / REPORT_JSON).unlink()
    (evaluation.output_dir / f".{REPORT_JSON}.x1y2z3").write_bytes(whole)
    assert not evaluation.completed


@pytest.mark.parametrize("changed", [{"max_new_tokens": 8}, {"perplexity_stride": 8}])
def test_a_report_of_another_evaluation_config_is_not_reused(tmp_path, changed):
    write_report(make_report(CONFIG), plan(tmp_path).output_dir)
    assert plan(tmp_path).completed
    # The base model's run id is the dataset version: a config change keeps the folder, not the result.
    assert not plan(tmp_path, CHANGES | changed).completed
