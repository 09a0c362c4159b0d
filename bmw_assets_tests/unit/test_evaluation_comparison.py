"""EvalReport files and rows, the variant comparison table and its plots."""

from __future__ import annotations

import json
import math

import pytest

from bmw_assets.evaluation.comparison import (
    compare_variants,
    comparison_markdown,
    load_training_stats,
    samples_markdown,
    table_rows,
    unmeasured_reasons,
)
from bmw_assets.evaluation.plots import metric_panels, plot_loss_curves, plot_metric_bars
from bmw_assets.evaluation.report import (
    EvalReport,
    eval_result_rows,
    read_report,
    write_report,
)


def make_report(
    variant: str, heldout: float, general: float, recall_train: float, layers: int = 30, answer_ppl: float = 40.0
) -> EvalReport:
    answers = [{"question": "Where? |", "reference": "Munich", "prediction": "In Munich", "correct": True}]
    return EvalReport(
        variant=variant,
        run_id="run-1",
        model_path=f"/models/{variant}",
        adapter_path=None,
        config={"perplexity_stride": 128, "perplexity_max_length": 256},
        perplexity={"nll_sum": 100.0, "tokens": 50, "perplexity": heldout},
        general_text={"nll_sum": 80.0, "tokens": 40, "perplexity": general},
        fact_recall={
            "train": {"rate": recall_train, "n": 4, "answers": answers},
            "test": {"rate": float("nan"), "n": 0, "answers": []},
        },
        semantic_entropy={
            "mean_weighted_entropy": 0.7,
            "mean_discrete_entropy": 0.8,
            "auroc": None,
            "n": 4,
            "questions": [],
        },
        samples=[{"prompt": "Hi", "enable_thinking": None, "thinking": "", "answer": "Hello"}],
        layers=layers,
        fact_likelihood={
            "train": {"perplexity": answer_ppl, "n": 4, "standard_error": 4.0, "nll": [3.7] * 4},
            "test": {
                "perplexity": float("nan"),
                "n": 0,
                "standard_error": None,
                "nll": [],
                "unavailable": "no question has a sentence stating its answer",
            },
        },  # fmt: skip
        parameters=134_515_008,
        wall_seconds=12.5,
        created_at="2026-01-01T00:00:00+00:00",
    )


def test_report_round_trips_through_json_and_writes_markdown(tmp_path):
    report = make_report("original", 12.0, 20.0, 0.5)
    json_path, markdown_path = write_report(report, tmp_path / "eval")
    assert read_report(tmp_path / "eval") == read_report(json_path)
    loaded = read_report(json_path)
    assert loaded.config_sha256 == report.config_sha256 and len(report.config_sha256) == 64
    assert loaded.perplexity == report.perplexity
    markdown = markdown_path.read_text()
    assert "| heldout_perplexity | 12 | 50 |" in markdown
    assert "Where? \\|" in markdown  # a pipe in a question cannot break the table
    assert not list((tmp_path / "eval").glob(".*"))  # no temp files left behind


def test_config_hash_ignores_key_order():
    first = make_report("a", 1, 1, 1)
    second = make_report("a", 1, 1, 1)
    second.config = {"perplexity_max_length": 256, "perplexity_stride": 128}
    second.config_sha256 = ""
    second.__post_init__()
    assert first.config_sha256 == second.config_sha256


def test_eval_result_rows():
    rows = {row["metric"]: row for row in eval_result_rows(make_report("original", 12.0, 20.0, 0.5))}
    assert set(next(iter(rows.values()))) == {"variant", "run_id", "metric", "value", "n", "config_sha256"}
    assert rows["heldout_perplexity"]["value"] == 12.0 and rows["heldout_perplexity"]["n"] == 50
    assert rows["fact_recall_train"]["n"] == 4
    assert rows["fact_recall_test"]["value"] is None  # nothing measured: NULL, not NaN or 0
    assert rows["semantic_entropy_auroc"]["value"] is None


def test_comparison_shows_a_missing_variant_as_null_never_zero():
    base = make_report("base", 10.0, 20.0, 0.25)
    reports = {"original": make_report("original", 8.0, 25.0, 0.75), "dropped": None}
    stats = {
        "original": {
            "layers": 30,
            "total_params": 134_515_008,
            "trainable_params": 134_515_008,
            "tokens_per_second": 850.0,
            "wall_seconds": 60.0,
        },
        "dropped": {
            "layers": 29,
            "total_params": 130_000_000,
            "trainable_params": 130_000_000,
            "tokens_per_second": 900.0,
            "wall_seconds": 55.0,
        },
    }
    table = compare_variants(reports, base, stats)
    assert table["variant"].to_list() == ["base", "original", "dropped"]
    rows = {row["variant"]: row for row in table.iter_rows(named=True)}
    assert rows["original"]["forgetting_change_pct"] == pytest.approx(25.0)
    assert rows["base"]["forgetting_change_pct"] == 0.0
    assert rows["base"]["trainable_parameters"] is None
    dropped = rows["dropped"]
    for column in (
        "heldout_perplexity",
        "general_perplexity",
        "forgetting_change_pct",
        "fact_recall_train",
        "semantic_entropy",
    ):
        assert dropped[column] is None, column
    assert dropped["layers"] == 29 and dropped["train_tokens_per_s"] == 900.0  # training facts still shown
    assert rows["original"]["fact_recall_test"] is None  # NaN (no questions) becomes null
    markdown = comparison_markdown(table, unmeasured_reasons(reports, base))
    dropped_line = next(line for line in markdown.splitlines() if line.startswith("| dropped"))
    assert "—" in dropped_line and " 0 " not in dropped_line
    assert "+25.0" in markdown
    notes = markdown.split("Empty cells:")[1]
    assert "- **dropped**: not evaluated yet." in notes
    # each empty cell of a measured row says why, in the report's words or the split's
    assert "- **original**, fact recall, test articles: no fact questions about test articles." in notes
    assert "- **base**, entropy AUROC: not measured in this report." in notes
    assert "- Not trained, so no training columns: base." in notes


def test_an_empty_cell_gives_the_reason_its_report_gives():
    base = make_report("base", 10.0, 20.0, 0.25)
    rag = make_report("base+rag", float("nan"), float("nan"), 0.5)
    rag.perplexity["unavailable"] = rag.general_text["unavailable"] = "not scored: the retrieval baseline is the base"
    rag.semantic_entropy["auroc_unavailable"] = "every answer was correct: no AUROC"
    table = compare_variants({}, base, retrieval=rag)
    notes = comparison_markdown(table, unmeasured_reasons({}, base, rag)).split("Empty cells:")[1]
    for column in ("held-out perplexity", "general-English perplexity", "forgetting (general-English ppl vs base)"):
        assert f"- **base+rag**, {column}: not scored: the retrieval baseline is the base." in notes
    assert "- **base+rag**, entropy AUROC: every answer was correct: no AUROC." in notes
    assert "missing" not in notes


def test_training_stats_and_plots(tmp_path):
    run = tmp_path / "original"
    run.mkdir()
    (run / "manifest.json").write_text(
        json.dumps({"layers": 30, "total_params": 10, "trainable_params": 5, "wall_seconds": 3.0})
    )
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "tokens_per_second": 99.0,
                "history": {
                    "train": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}],
                    "eval": [{"step": 2, "loss": 1.8}],
                },
            }
        )
    )
    stats = load_training_stats(run)
    assert stats["tokens_per_second"] == 99.0 and stats["layers"] == 30
    assert load_training_stats(tmp_path / "never-trained") is None
    table = compare_variants(
        {"original": make_report("original", 8.0, 25.0, 0.75), "pruned": None},
        make_report("base", 10, 20, 0.25),
        {"original": stats},
    )
    bars, skipped = plot_metric_bars(table, tmp_path / "bars.png")
    curves = plot_loss_curves({"original": stats, "pruned": None}, tmp_path / "loss.png")
    # The test split had no questions (NaN for every model): no empty panel, and the reason instead.
    assert skipped == {"fact_recall_test": "no model has a value yet"}
    for path in (bars, curves):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert math.isfinite(table.filter(table["variant"] == "original")["general_perplexity"].item())


def test_panels_skip_metrics_that_are_zero_or_missing_for_every_model(tmp_path):
    reports = {"original": make_report("original", 55.8, 25.0, 0.0), "pruned": make_report("pruned", 252.0, 30.0, 0.0)}
    table = compare_variants(reports, make_report("base", 59.8, 20.0, 0.0))
    drawn, skipped = metric_panels(table)
    assert skipped == {"fact_recall_train": "0 for every model, the base included",
                       "fact_recall_test": "no model has a value yet"}  # fmt: skip
    assert drawn == ["heldout_perplexity", "forgetting_change_pct", "fact_perplexity_train", "semantic_entropy",
                     "parameters"]  # fmt: skip
    nothing = compare_variants({"original": None}, make_report("base", 59.8, 20.0, 0.0)).with_columns(
        heldout_perplexity=None,
        forgetting_change_pct=None,
        fact_perplexity_train=None,
        semantic_entropy=None,
        parameters=None,
    )
    assert plot_metric_bars(nothing, tmp_path / "none.png")[0] is None
    assert not (tmp_path / "none.png").exists()


def test_table_rows_are_rounded_and_samples_grouped_by_prompt():
    table = compare_variants(
        {"original": make_report("original", 55.81234, 25.0, 0.5)}, make_report("base", 59.8, 20.0, 0.25)
    )
    rows = table_rows(table)
    assert rows[1]["heldout_perplexity"] == 55.81 and rows[1]["forgetting_change_pct"] == 25.0
    assert rows[1]["parameters"] == 134_515_008
    long_answer = "word " * 200
    markdown = samples_markdown({
        "base": [{"prompt": "Which models?", "enable_thinking": None, "answer": "The  iX3\nand i4."}],
        "original": [{"prompt": "Which models?", "enable_thinking": None, "answer": long_answer},
                     {"prompt": "Deliveries?", "enable_thinking": False, "answer": ""}],
    })  # fmt: skip
    lines = markdown.splitlines()
    assert lines[:4] == ["**Which models?**", "", "- **base**: The iX3 and i4.", lines[3]]
    assert lines[3].startswith("- **original**: word word") and lines[3].endswith(" …") and len(lines[3]) < 440
    assert "**Deliveries?** (thinking off)" in lines and "- **original**: _(empty)_" in lines
