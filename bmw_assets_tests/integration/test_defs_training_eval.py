"""Materialize `trained_model` for every variant, then evaluation and the comparison, on CPU
with the packaged model: real training through Dagster Pipes, real checkpoints, a real
DuckDB catalog. A tiny profile overlay keeps each variant to a few seconds of training."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from bmw_assets.catalog import connect
from bmw_assets.dataset.article import DatasetArticle
from bmw_assets.dataset.build import build_dataset
from bmw_assets.dataset.settings import DatasetSettings
from bmw_assets.definitions import build_definitions
from bmw_assets.models.config import list_variants
from bmw_assets.replica.corpus import build_corpus
from bmw_assets.settings import load_settings
from bmw_assets_tests.conftest import TINY_PROFILE, write_tiny_configs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, base_model_dir: Path) -> dict:
    """A storage root whose catalog, dataset and upstream manifests are ready for training."""
    root = tmp_path_factory.mktemp("storage")
    configs = write_tiny_configs(root / "configs")

    from transformers import AutoTokenizer

    start = datetime(2025, 1, 1, tzinfo=UTC)
    corpus = build_corpus()[:20]
    articles = [
        DatasetArticle(a.id, a.title, start + timedelta(days=i), "\n\n".join(a.paragraphs[:3]), a.facts)
        for i, a in enumerate(corpus)
    ]
    manifest = build_dataset(articles, AutoTokenizer.from_pretrained(base_model_dir), DatasetSettings(
        styles=("instruct", "qa"), max_length=128, test_strategy="newest"), root / "datasets")  # fmt: skip
    with connect(root / "catalog.duckdb") as con:
        con.executemany("INSERT INTO dataset_splits VALUES (?, ?, ?)",
                        [(manifest.version, a, s) for a, s in manifest.article_splits.items()])  # fmt: skip
    manifests = root / "manifests"
    (manifests / "chatml_dataset").mkdir(parents=True)
    (manifests / "chatml_dataset" / "__all__.json").write_text(
        json.dumps({"version": manifest.version, "path": manifest.path})
    )
    (manifests / "base_model").mkdir(parents=True)
    (manifests / "base_model" / "__all__.json").write_text(json.dumps({"path": str(base_model_dir), "layers": 30}))
    # The code location of the tiny configs: their variants and their values.
    defs = build_definitions(load_settings({"BMW_STORAGE": str(root), "BMW_CONFIGS_DIR": str(configs)}))
    return {"root": root, "defs": defs}


def materialize(workspace: dict, assets: list[str], instance: dg.DagsterInstance, partition: str | None = None):
    """Materialize `assets` of the whole graph; their inputs load from upstream manifests."""
    defs = workspace["defs"]
    result = dg.materialize(defs.assets, selection=assets, resources=defs.resources, instance=instance,
                            partition_key=partition)  # fmt: skip
    assert result.success
    return result


def test_all_variants_train_then_evaluate_and_compare(workspace: dict) -> None:
    root = workspace["root"]
    expected_layers = {
        "original": 30,
        "original_lora": 30,
        "dropped": 29,
        "dropped_lora": 29,
        "pruned": 20,
        "pruned_lora": 20,
    }
    assert set(list_variants()) == set(expected_layers)
    with dg.instance_for_test() as instance:
        for variant, layers in expected_layers.items():
            result = materialize(workspace, ["trained_model"], instance, variant)
            meta = {k: v.value for k, v in result.asset_materializations_for_node("trained_model")[0].metadata.items()}
            assert meta["layers"] == layers, variant
            share = meta["trainable_params"] / meta["total_params"]
            assert share < 0.05 if variant.endswith("_lora") else share == 1.0, variant
            assert meta["loss_curve"].startswith("![loss curve](data:image/png;base64,")
            assert (Path(meta["checkpoint_dir"]) / "manifest.json").is_file()
            assert any(Path(meta["checkpoint_dir"]).glob("*.safetensors"))
            # training.report_to: tensorboard (the default) logged event files where the metadata says.
            assert any(Path(meta["tensorboard_logdir"]).rglob("events.out.tfevents.*"))
            assert meta["open_tracking"].startswith(f"`tensorboard --logdir {meta['tensorboard_logdir']}`")

        # A finished run is not trained again for the same inputs.
        manifest = next((root / "models" / "original_lora").glob("*/manifest.json"))
        written = manifest.stat().st_mtime_ns
        materialize(workspace, ["trained_model"], instance, "original_lora")
        assert manifest.stat().st_mtime_ns == written

        con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
        runs = dict(con.execute("SELECT variant, layers FROM training_runs").fetchall())
        con.close()
        assert runs == expected_layers

        materialize(workspace, ["base_model_report"], instance)
        materialize(workspace, ["rag_baseline"], instance)
        for variant in ("original_lora", "dropped_lora"):
            evaluated = materialize(workspace, ["eval_report"], instance, variant)
            # Both verdict checks ran for this partition, each saying how the variant compares.
            checks = {c.check_name: c for c in evaluated.get_asset_check_evaluations()}
            assert set(checks) == {"beats_base_on_heldout_perplexity", "forgetting_within_limit"}
            assert all(c.partition == variant and c.description for c in checks.values())
            meta = {k: v.value for k, v in evaluated.asset_materializations_for_node("eval_report")[0].metadata.items()}
            assert meta["verdict"].startswith(f"**{variant}**: ")
            assert len(str(meta["heldout_perplexity"]).split(".")[-1]) <= 4  # rounded, not 15 digits
            assert any(r.data["change_vs_base"].endswith("held-out perplexity, lower is better")
                       or "within noise" in r.data["change_vs_base"] for r in meta["metrics"].records)  # fmt: skip
        compared = materialize(workspace, ["variant_comparison"], instance)
        shown = {
            k: v.value for k, v in compared.asset_materializations_for_node("variant_comparison")[0].metadata.items()
        }
        verdicts = shown["verdict"].splitlines()
        assert len(verdicts) == len(expected_layers) + 1 and "- **pruned**: not evaluated yet." in verdicts
        assert verdicts[-1].startswith("- **base+rag** (retrieval baseline): fact recall on training articles")
        assert shown["samples"].count("- **base**: ") == len(TINY_PROFILE["evaluation"]["generation_prompts"])
        assert "- **original_lora**: " in shown["samples"] and "- **pruned**: " not in shown["samples"]
        assert [r.data["variant"] for r in shown["comparison"].records][0] == "base"

    table = compared.asset_value("variant_comparison")["table"]
    rows = {row["variant"]: row for row in table}
    assert list(rows)[:2] == ["base", "base+rag"] and set(rows) == {"base", "base+rag", *expected_layers}
    assert rows["base+rag"]["heldout_perplexity"] is None  # the retrieval baseline scores no perplexity
    assert rows["original_lora"]["heldout_perplexity"] > 1 and rows["dropped_lora"]["layers"] == 29
    # the facts file carries the dataset's qa answers, so each answer's likelihood is measured
    assert rows["original_lora"]["fact_perplexity_train"] > 1 and rows["base"]["fact_perplexity_train"] > 1
    # Trained but not evaluated: training columns filled, evaluation columns missing (not zero).
    assert rows["pruned"]["heldout_perplexity"] is None and rows["pruned"]["layers"] == 20
    assert "- **pruned**: not evaluated yet." in shown["empty_cells"]
    assert "- **base+rag**, held-out perplexity: not scored: the retrieval baseline" in shown["empty_cells"]
    assert (root / "reports" / "comparison" / "comparison.md").is_file()
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    evaluated = {r[0] for r in con.execute("SELECT DISTINCT variant FROM eval_results").fetchall()}
    con.close()
    assert evaluated == {"base", "base+rag", "original_lora", "dropped_lora"}
