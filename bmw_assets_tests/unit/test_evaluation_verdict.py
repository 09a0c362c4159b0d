"""The verdict against the base model: rounding, the change and its direction, noise, forgetting,
and the asset-check results and metadata `eval_report` records from it."""

from __future__ import annotations

import math

import dagster as dg
import pytest

from bmw_assets.defs.evaluation import (
    BEATS_BASE_CHECK,
    FORGETTING_CHECK,
    report_metadata,
    report_verdict,
    verdict_checks,
)
from bmw_assets.evaluation.verdict import change, metric_rows, signed, significant, verdict
from bmw_assets_tests.unit.test_evaluation_comparison import make_report

BASE = {"heldout_perplexity": (59.8, 3000), "general_perplexity": (20.0, 400), "fact_recall_train": (0.05, 20),
        "layers": (30, None)}  # fmt: skip


def metrics(heldout: float, probe: float, recall: float = 0.25, **extra) -> dict:
    return {"heldout_perplexity": (heldout, 3000), "general_perplexity": (probe, 400),
            "fact_recall_train": (recall, 20), "layers": (30, None), **extra}  # fmt: skip


def test_significant_rounds_floats_to_four_digits_and_leaves_integers():
    assert significant(55.80123456789) == 55.8
    assert significant(0.000123456) == 0.0001235
    assert significant(252.34567) == 252.3
    assert significant(134_515_008) == 134_515_008  # parameter counts stay exact
    assert significant(0.0) == 0.0 and significant(None) is None and math.isnan(significant(float("nan")))


def test_change_states_the_direction_and_a_true_minus_sign():
    lower = change("heldout_perplexity", 55.5, 59.8)
    assert lower.delta == pytest.approx(-7.19, abs=0.01) and lower.better is True
    assert lower.text() == "\u22127.2% held-out perplexity, lower is better"
    worse = change("heldout_perplexity", 252.0, 59.8)
    assert worse.better is False and worse.text().startswith("+321.4% ")
    # Rates move in points, so a base of 0 still has a change (a relative one would divide by zero).
    recall = change("fact_recall_train", 0.25, 0.0)
    assert recall.delta == pytest.approx(25.0) and recall.better is True
    assert recall.text() == "+25.0 points fact recall (training articles), higher is better"
    assert change("fact_recall_train", 0.0, 0.0).text() == "no change in fact recall (training articles)"
    assert change("heldout_perplexity", None, 59.8) is None
    assert change("heldout_perplexity", float("nan"), 59.8) is None
    assert signed(-0.01) == "±0.0"


def test_a_difference_under_two_standard_errors_is_noise_and_does_not_beat_the_base():
    close = change("heldout_perplexity", 58.0, 59.8, (1.0, 1.0))  # 1.8 < 2 * sqrt(2)
    assert close.noise is True and close.better is True and close.text().endswith("(within noise)")
    clear = change("heldout_perplexity", 50.0, 59.8, (1.0, 1.0))
    assert clear.noise is False
    judged = verdict(
        "original", metrics(58.0, 20.5), {"heldout_perplexity": 1.0}, BASE, {"heldout_perplexity": 1.0}, 10.0
    )
    assert judged.beats_base is False and judged.summary == "mixed"
    # Without standard errors the same numbers count as an improvement.
    assert verdict("original", metrics(58.0, 20.5), {}, BASE, {}, 10.0).beats_base is True


def test_forgetting_is_measured_on_general_perplexity():
    judged = verdict("original", metrics(50, 31.0), {}, BASE | {"general_perplexity": (30.0, 5000)}, {}, 5.0)
    assert judged.forgetting_metric == "general_perplexity"
    assert judged.forgetting.delta == pytest.approx(3.33, abs=0.01)
    assert judged.forgetting_within_limit and judged.beats_base and judged.summary == "better"


@pytest.mark.parametrize(
    ("heldout", "probe", "summary", "beats", "within"),
    [(50.0, 21.0, "better", True, True), (50.0, 23.0, "mixed", True, False), (65.0, 21.0, "mixed", False, True),
     (252.0, 40.0, "worse", False, False)],
)  # fmt: skip
def test_verdict_summary_and_line(heldout, probe, summary, beats, within):
    judged = verdict("pruned", metrics(heldout, probe), {}, BASE, {}, 10.0)
    assert (judged.summary, judged.beats_base, judged.forgetting_within_limit) == (summary, beats, within)
    line = judged.line()
    assert line.startswith(f"**pruned**: {summary}. ") and "(limit +10%)" in line
    assert "fact recall 0.25 vs 0.05 for the base" in line


def test_verdict_of_a_report_without_perplexity_is_undecided_and_fails_its_checks():
    judged = verdict("dropped", metrics(float("nan"), float("nan")), {}, BASE, {}, 10.0)
    assert judged.summary == "undecided" and not judged.beats_base and not judged.forgetting_within_limit
    assert judged.line() == ("**dropped**: undecided. held-out perplexity is missing in this report or the base's; "
                             "forgetting cannot be measured (general_perplexity is missing); "
                             "fact recall 0.25 vs 0.05 for the base.")  # fmt: skip
    beats, forgetting = verdict_checks(judged)
    assert not beats.passed and "missing" in beats.description
    assert not forgetting.passed and "general_perplexity is missing" in forgetting.description


def test_checks_warn_with_the_change_and_the_limit():
    beats, forgetting = verdict_checks(verdict("original", metrics(55.5, 23.0), {}, BASE, {}, 10.0))
    assert (beats.check_name, beats.passed, beats.severity) == (BEATS_BASE_CHECK, True, dg.AssetCheckSeverity.WARN)
    assert beats.description == "\u22127.2% held-out perplexity, lower is better"
    assert beats.metadata["change"] == dg.MetadataValue.float(-7.191)
    assert (forgetting.check_name, forgetting.passed) == (FORGETTING_CHECK, False)
    assert forgetting.description == "+15.0% general-text perplexity, lower is better; the limit is +10%"
    assert forgetting.metadata["max_forgetting_pct"] == dg.MetadataValue.float(10.0)


def test_metric_rows_round_and_compare_with_the_base():
    rows = {r["metric"]: r for r in metric_rows(metrics(55.51234, 21.0), {"heldout_perplexity": 0.41234}, BASE, {})}
    held = rows["heldout_perplexity"]
    assert held == {"metric": "heldout_perplexity", "value": 55.51, "standard_error": 0.4123, "n": 3000,
                    "base": 59.8, "change_vs_base": "\u22127.2% held-out perplexity, lower is better"}  # fmt: skip
    assert rows["layers"]["value"] == 30 and rows["layers"]["change_vs_base"] == ""
    assert rows["general_perplexity"]["standard_error"] is None


def test_eval_report_metadata_is_rounded_with_a_table_and_inline_samples():
    report = make_report("original", 8.123456, 25.0, 0.75)
    base = make_report("base", 10.0, 20.0, 0.25)
    metadata = report_metadata(report, base)
    assert metadata["heldout_perplexity"] == 8.123
    assert "fact_recall_test" not in metadata  # NaN: nothing measured, no entry rather than NaN
    assert metadata["parameters"] == 134_515_008
    table = metadata["metrics"]
    assert isinstance(table, dg.TableMetadataValue)
    assert [c.name for c in table.schema.columns] == [
        "metric",
        "value",
        "standard_error",
        "n",
        "base",
        "change_vs_base",
    ]
    held = next(r.data for r in table.records if r.data["metric"] == "heldout_perplexity")
    assert held["change_vs_base"] == "\u221218.8% held-out perplexity, lower is better"
    assert metadata["samples"].value == "**Hi**\n\n- **original**: Hello\n"
    # This report's perplexity carries no standard error (only its answer perplexity does), and the table says so.
    assert report.standard_errors()["heldout_perplexity"] is None and held["standard_error"] is None


def test_answer_perplexity_is_judged_on_the_same_facts_paired():
    """Facts hard for the base stay harder for the variant too: unpaired standard errors (the base's
    answers vary widely) call a consistent fall noise, the paired differences do not."""
    base = make_report("base", 10.0, 20.0, 0.0)
    variant = make_report("original", 10.0, 20.0, 0.0)
    base_nll = [1.0, 5.0, 2.0, 6.0, 1.5, 4.5]
    base.fact_likelihood["train"] = {"perplexity": math.exp(sum(base_nll) / 6), "n": 6, "standard_error": 15.0,
                                     "nll": base_nll}  # fmt: skip
    variant.fact_likelihood["train"] = {"perplexity": math.exp(sum(base_nll) / 6 - 0.5), "n": 6, "standard_error": 9.0,
                                        "nll": [x - 0.5 + (0.05 if i % 2 else -0.05) for i, x in enumerate(base_nll)]}  # fmt: skip
    paired = variant.paired_errors(base)
    assert paired["fact_perplexity_train"] == pytest.approx(0.05 * math.sqrt(6 / 5) / math.sqrt(6))
    assert "fact_perplexity_test" not in paired  # no facts scored there
    unpaired = verdict("original", variant.metrics(), variant.standard_errors(), base.metrics(),
                       base.standard_errors(), 10.0)  # fmt: skip
    assert unpaired.answer_perplexity.noise  # 39 % lower, yet under two unpaired standard errors
    judged = report_verdict(variant, base, 10.0)
    assert judged.answer_perplexity.better and not judged.answer_perplexity.noise
    assert "answer perplexity (training articles), lower is better." in judged.line()
    # Reports of different fact sets are not paired.
    variant.fact_likelihood["train"]["nll"] = variant.fact_likelihood["train"]["nll"][:5]
    assert variant.paired_errors(base) == {}


def _scored(documents: list[tuple[float, int]]) -> dict:
    """A perplexity section as the evaluation writes it, from (nll_sum, tokens) per document."""
    from bmw_assets.evaluation.perplexity import PerplexityResult

    nll, tokens = sum(d[0] for d in documents), sum(d[1] for d in documents)
    return PerplexityResult(nll, tokens, math.exp(nll / tokens), documents).to_dict()


def test_held_out_perplexity_is_judged_on_the_same_documents_paired():
    """Documents differ widely in difficulty (press kits against short notes): unpaired bootstrap
    errors call a consistent 5 % fall noise; resampling the same documents for both does not."""
    tokens = [400, 300, 500, 200, 600, 350, 450, 250]
    per_token = [4.5, 2.0, 3.8, 1.2, 4.9, 2.6, 3.1, 1.7]  # the base's nats per token, by document
    base = make_report("base", 10.0, 20.0, 0.0)
    variant = make_report("original", 10.0, 20.0, 0.0)
    base.perplexity = _scored([(rate * n, n) for rate, n in zip(per_token, tokens, strict=True)])
    shift = [-0.06, -0.04, -0.05, -0.05, -0.06, -0.04, -0.05, -0.05]
    variant.perplexity = _scored([((rate + d) * n, n) for rate, d, n in zip(per_token, shift, tokens, strict=True)])
    paired = variant.paired_errors(base)
    assert 0 < paired["heldout_perplexity"] < 0.01
    unpaired = verdict("original", variant.metrics(), variant.standard_errors(), base.metrics(),
                       base.standard_errors(), 10.0)  # fmt: skip
    assert unpaired.heldout.noise and not unpaired.beats_base
    judged = report_verdict(variant, base, 10.0)
    assert judged.heldout.better and not judged.heldout.noise and judged.beats_base
    # Other documents (another tokenizer counts other tokens) are not paired.
    variant.perplexity = _scored([((rate - 0.05) * (n + 1), n + 1) for rate, n in zip(per_token, tokens, strict=True)])
    assert "heldout_perplexity" not in variant.paired_errors(base)
