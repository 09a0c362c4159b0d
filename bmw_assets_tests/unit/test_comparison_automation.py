"""variant_comparison follows new evaluations by itself: once per change, not while an evaluation
is about to run, and without waiting for variants never evaluated. The real code location's
automation conditions are evaluated against a real (temporary) instance; the materializations
are reported as events, since only the conditions are under test here."""

from __future__ import annotations

import dagster as dg

from bmw_assets.definitions import build_definitions
from bmw_assets.settings import load_settings

COMPARISON = dg.AssetKey("variant_comparison")


def _materialized(instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=partition))


def test_comparison_runs_once_after_new_evaluations(tmp_path):
    defs = build_definitions(load_settings({"BMW_STORAGE": str(tmp_path)}))
    selection = dg.AssetSelection.assets("variant_comparison", "eval_report")
    with dg.instance_for_test() as instance:

        def requested(cursor=None):
            result = dg.evaluate_automation_conditions(defs, instance, asset_selection=selection, cursor=cursor)
            return result, {(key.to_user_string(), partition) for key, partition in _requested(result)}

        for asset in ("chatml_dataset", "base_model", "base_model_report", "rag_baseline"):
            _materialized(instance, asset)
        result, asked = requested()
        assert asked == set()  # nothing evaluated yet: nothing to compare

        # A variant was trained: its eval_report is requested, and the comparison waits for it.
        _materialized(instance, "trained_model", "original_lora")
        result, asked = requested(result.cursor)
        assert asked == {("eval_report", "original_lora")}
        result, asked = requested(result.cursor)
        assert asked == set()  # a tick while it runs (its run is not in this instance: only events are)

        # Its evaluation is in: the comparison runs although five variants were never evaluated...
        _materialized(instance, "eval_report", "original_lora")
        result, asked = requested(result.cursor)
        assert asked == {("variant_comparison", None)}
        # ...and once: the next tick, with nothing new, requests nothing.
        _materialized(instance, "variant_comparison")
        result, asked = requested(result.cursor)
        assert asked == set()

        # An evaluation lands while the next variant finishes training: that variant's evaluation is
        # requested, and the comparison waits for it rather than running twice.
        _materialized(instance, "eval_report", "dropped")
        _materialized(instance, "trained_model", "pruned")
        result, asked = requested(result.cursor)
        assert asked == {("eval_report", "pruned")}
        result, asked = requested(result.cursor)
        assert asked == set()  # requested on the last tick: the comparison still waits
        _materialized(instance, "eval_report", "pruned")
        result, asked = requested(result.cursor)
        assert asked == {("variant_comparison", None)}


def _requested(result) -> list[tuple[dg.AssetKey, str | None]]:
    keys = [dg.AssetKey("eval_report"), COMPARISON]
    return [(key, partition) for key in keys if result.get_num_requested(key)
            for partition in result.get_requested_partitions(key)]  # fmt: skip
