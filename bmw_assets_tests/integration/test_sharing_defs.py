"""The sharing assets materialized by Dagster on a storage root made by the library (a real catalog,
dataset and one-step `dropped_lora` run; the evaluation report is built with the library's
EvalReport instead of a ~1-minute evaluation), then `publish_to_hub` against a loopback stand-in
for the Hub: the cards carry the measured numbers, and exactly the expected files are sent."""

import hashlib
import json
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from huggingface_hub import DatasetCard, ModelCard

from bmw_assets.definitions import build_definitions
from bmw_assets.defs import sharing
from bmw_assets.evaluation.comparison import compare_variants, load_training_stats
from bmw_assets.evaluation.report import EvalReport, write_report
from bmw_assets.settings import load_settings
from bmw_assets_tests.integration.sharing_fake_hub import TOKEN, FakeHub, hub_online  # noqa: F401
from bmw_assets_tests.integration.sharing_tiny_run import VARIANT, one_torch_thread, tiny_storage  # noqa: F401

pytestmark = pytest.mark.slow

SHARING = ("dataset_card", "exported_model", "model_card")


def sharing_graph(defs: dg.Definitions) -> list:
    """The code location's sharing assets; their upstream assets stand as specs of the same keys and
    partitions, whose values the IO manager loads from the manifests written below (the real upstream
    assets would pull in the whole graph back to ingestion, with resources this test does not use)."""
    by_name = {a.key.to_user_string(): a for a in defs.assets}  # as defined, before resources are bound
    variants = by_name["trained_model"].partitions_def
    upstream = [dg.AssetSpec("chatml_dataset"), dg.AssetSpec("trained_model", partitions_def=variants),
                dg.AssetSpec("eval_report", partitions_def=variants)]  # fmt: skip
    return [*upstream, *(by_name[name] for name in SHARING)]


def report(variant: str, run_id: str, heldout: float, general: float, layers: int) -> EvalReport:
    recall = {"rate": 0.5, "n": 2, "answers": []}
    return EvalReport(
        variant=variant, run_id=run_id, model_path="m", adapter_path=None, config={"judge": "embedding"},
        perplexity={"perplexity": heldout, "tokens": 150, "nll_sum": 1.0}, general_text={"perplexity": general, "tokens": 300, "nll_sum": 1.0},
        fact_recall={"train": recall, "test": recall},
        semantic_entropy={"mean_weighted_entropy": 0.25, "mean_discrete_entropy": 0.5, "auroc": None, "n": 4},
        samples=[], layers=layers, parameters=1, wall_seconds=1.0, created_at="2026-01-01T00:00:00+00:00",
    )  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, base_model_dir):
    storage = tiny_storage(tmp_path_factory.getbasetemp() / "sharing-storage", base_model_dir)
    layout, trained = storage.layout, storage.trained
    variant_report = report(VARIANT, trained["run_id"], heldout=31.4159, general=12.5, layers=trained["layers"])
    base_report = report("base", "b", heldout=40.0, general=10.0, layers=30)
    write_report(variant_report, layout.reports_dir / VARIANT / trained["run_id"])
    table = compare_variants(
        {VARIANT: variant_report}, base_report, {VARIANT: load_training_stats(Path(trained["output_dir"]))}
    )
    (layout.reports_dir / "comparison").mkdir(parents=True, exist_ok=True)
    table.write_csv(layout.reports_dir / "comparison" / "comparison.csv")
    manifests = {
        "chatml_dataset/__all__.json": {
            "version": storage.dataset.version,
            "path": storage.dataset.path,
            "max_length": 128,
        },
        f"trained_model/{VARIANT}.json": trained,
        f"eval_report/{VARIANT}.json": variant_report.to_dict(),
    }
    for name, value in manifests.items():
        (layout.manifests_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (layout.manifests_dir / name).write_text(json.dumps(value))
    settings = load_settings({"BMW_STORAGE": str(layout.root), "BMW_CONFIGS_DIR": str(storage.configs_dir)})
    defs = build_definitions(settings)
    return {"storage": storage, "resources": defs.resources, "assets": sharing_graph(defs), "report": variant_report}


def materialize(workspace, asset: str, instance, partition=None):
    result = dg.materialize(workspace["assets"], selection=[asset], resources=workspace["resources"],
                            instance=instance, partition_key=partition)  # fmt: skip
    assert result.success
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def publish(instance, workspace, run_config):
    defs = dg.Definitions(assets=workspace["assets"], jobs=[sharing.publish_to_hub], resources=workspace["resources"])
    job = defs.resolve_job_def("publish_to_hub")
    return job.execute_in_process(run_config={"ops": {"upload_to_hub": {"config": run_config}}}, instance=instance,
                                  raise_on_error=False)  # fmt: skip


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.usefixtures("hub_online")
def test_cards_carry_the_measured_numbers_and_the_exports_publish(workspace, monkeypatch):
    storage, trained = workspace["storage"], workspace["storage"].trained
    run_dir = Path(trained["output_dir"])
    con = duckdb.connect(str(storage.layout.catalog_path), read_only=True)
    regex_f1 = con.execute("SELECT avg(f1) FROM texts WHERE stage = 'regex'").fetchall()[0][0]
    first, last = con.execute("SELECT min(published_at)::DATE, max(published_at)::DATE FROM articles").fetchall()[0]
    con.close()
    with dg.instance_for_test() as instance:
        data = materialize(workspace, "dataset_card", instance)
        assert data["articles"] == 12 and data["published"] == f"{first} to {last}"
        assert f"published {first} to {last}" in data["card"] and "www.press.bmwgroup.com | 12 |" in data["card"]
        assert f"| regex | 12 | {regex_f1:.4g} |" in data["card"] and "| llm | 12 | 1 |" in data["card"]
        train_tokens = sum(storage.dataset.tokens["train"].values())
        assert (
            f"| train | {storage.dataset.articles['train']} |" in data["card"] and f"{train_tokens:,}" in data["card"]
        )
        on_disk = DatasetCard.load(Path(storage.dataset.path) / "README.md")
        assert on_disk.data.license == "other" and on_disk.data.language == ["en"] and on_disk.text == data["card"]

        exported = materialize(workspace, "exported_model", instance, VARIANT)
        assert exported["merged"] and exported["max_abs_logit_diff"] <= exported["logit_tolerance"]
        # The local profile also writes the GGUF file, loaded back and compared before it is kept.
        gguf_file = Path(exported["gguf_file"])
        assert gguf_file == run_dir / "merged" / f"{VARIANT}-f16.gguf" and gguf_file.is_file()
        assert exported["gguf_size_bytes"] == gguf_file.stat().st_size and exported["gguf_dtype"] == "f16"
        assert exported["gguf_max_abs_logit_diff"] <= exported["gguf_logit_tolerance"]
        card = materialize(workspace, "model_card", instance, VARIANT)
        removed = trained["removed_layers"][0]
        assert f"layer {removed} of 30 removed" in card["card"] and "lowest Block Influence" in card["card"]
        assert f"| throughput (tokens/s) | {trained['metrics']['tokens_per_second']:.4g} |" in card["card"]
        assert "| base | 40 | 10 | 0 |" in card["card"] and "| dropped_lora | 31.42 | 12.5 | 25 |" in card["card"]
        assert card["compared_with_base"] and sorted(card["readmes"]) == [
            str(run_dir / "README.md"),
            str(run_dir / "merged" / "README.md"),
        ]
        front = ModelCard.load(run_dir / "merged" / "README.md").data
        assert front.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and front.license == "apache-2.0"
        assert front.eval_results[0].metric_type == "perplexity" and front.eval_results[0].metric_value == 31.4159

        with FakeHub() as hub:
            monkeypatch.setenv("BMW_HUB_ENDPOINT", hub.endpoint)  # the operator allows this Hub
            monkeypatch.delenv("HF_TOKEN", raising=False)
            started = time.perf_counter()
            refused = publish(instance, workspace, {"dataset_repo_id": "tester/bmw-data", "endpoint": hub.endpoint})
            assert not refused.success and time.perf_counter() - started < 10 and hub.requests == []
            assert "HF_TOKEN holds no Hugging Face token" in str(
                refused.get_step_failure_events()[0].event_specific_data.error
            )

            monkeypatch.setenv("HF_TOKEN", TOKEN)
            published = publish(instance, workspace, {"dataset_repo_id": "tester/bmw-data", "endpoint": hub.endpoint,
                                                      "model_repo_ids": {VARIANT: "tester/bmw-dropped-lora"}})  # fmt: skip
            assert published.success
            dataset_files, model_files = (
                hub.repos[("dataset", "tester/bmw-data")],
                hub.repos[("model", "tester/bmw-dropped-lora")],
            )
    assert sorted(dataset_files) == ["README.md", "test.jsonl", "train.jsonl", "validation.jsonl"]
    assert sorted(model_files) == [
        "README.md",
        "chat_template.jinja",
        "config.json",
        f"{VARIANT}-f16.gguf",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]  # fmt: skip (the GGUF's record, with local paths, stays)
    assert sha256(model_files[f"{VARIANT}-f16.gguf"]) == sha256(gguf_file.read_bytes())
    assert sha256(model_files["model.safetensors"]) == sha256((run_dir / "merged" / "model.safetensors").read_bytes())
    assert dataset_files["README.md"].decode() == (Path(storage.dataset.path) / "README.md").read_text()
    assert hub.front_matter[-1]["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"  # the card's YAML parsed
