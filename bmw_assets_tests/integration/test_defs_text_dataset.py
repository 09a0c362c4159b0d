"""Materialize the text and dataset assets over real parts: the replica on loopback, a real
DuckDB file, `transformers serve` with the packaged model behind the real openai client."""

import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from bmw_assets.dataset.build import load_split
from bmw_assets.defs import dataset, ingestion, text
from bmw_assets.defs.failure_checks import FailurePolicyResource
from bmw_assets.defs.io_manager import ManifestIOManager
from bmw_assets.defs.resources import (
    LocalLLMEndpointResource,
    ModelConfigsResource,
    ReplicaFactsResource,
    ReplicaPressClubResource,
    StorageResource,
)
from bmw_assets.replica.server import ReplicaServer

pytestmark = pytest.mark.slow
TARGET = 10


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def test_text_and_dataset_assets(tmp_path: Path, base_model_dir: Path, local_llm) -> None:
    resources = {
        "storage": StorageResource(root=str(tmp_path)),
        "llm": LocalLLMEndpointResource(base_url=local_llm.base_url, model=local_llm.model_dir, max_judged_chars=300),
        "model_configs": ModelConfigsResource(profile="local"),
        "facts": ReplicaFactsResource(),
        "failure_policy": FailurePolicyResource(),
        "io_manager": ManifestIOManager(root=str(tmp_path / "manifests")),
    }
    assets = [ingestion.article_index, ingestion.raw_pdfs, text.regex_text, text.llm_text, dataset.chatml_dataset]
    # The packaged model is cached where the tests' base_model_dir put it.
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "base_models").symlink_to(base_model_dir.parent)
    with ReplicaServer() as replica, dg.instance_for_test() as instance:
        resources["pressclub"] = ReplicaPressClubResource(base_url=replica.base_url, default_target=TARGET)
        first = dg.materialize(assets, resources=resources, instance=instance)
        assert first.success

        regex = metadata(first, "regex_text")
        assert regex["f1_mean"] >= 0.97 and regex["f1_below_0_90"] == 0
        assert regex["furniture_like_lines"] <= 2, regex["furniture_like_examples"]
        assert regex["processed"] == TARGET
        llm = metadata(first, "llm_text")
        assert llm["requests"] > 0 and llm["fallbacks"] == 0
        con = duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)
        stages = dict(con.execute("SELECT stage, count(*) FROM texts GROUP BY stage").fetchall())
        assert stages == {"regex": TARGET, "llm": TARGET}
        # Delete-only: every LLM text is made of paragraphs of its regex text.
        for regex_path, llm_path in con.execute(
            "SELECT r.path, l.path FROM texts r JOIN texts l USING (article_id) "
            "WHERE r.stage = 'regex' AND l.stage = 'llm' AND l.path IS NOT NULL"
        ).fetchall():
            kept = Path(llm_path).read_text().split("\n\n")
            assert set(kept) <= set(Path(regex_path).read_text().split("\n\n"))
        splits = dict(con.execute("SELECT split, count(*) FROM dataset_splits GROUP BY split").fetchall())
        con.close()
        assert sum(splits.values()) == TARGET and splits.get("train", 0) > 0

        checks = {c.check_name: c.passed for c in first.get_asset_check_evaluations()}
        assert checks and all(checks.values()), checks
        data = metadata(first, "chatml_dataset")
        train = load_split(Path(data["path"]) / "train.jsonl")
        assert train and all(row["messages"][-1]["role"] == "assistant" for row in train)
        assert max(row["tokens"] for row in train) <= data["max_length"]
        # One row per style as training sees it, under the loss rule the local variants use.
        view = data["training_view"]
        assert re.search(r"^Loss rule `(full_sequence|completion_only|assistant_mask)` \(dropped, ", view), view[:200]
        for style in ("qa", "article"):  # the local variants train on qa; article rows are always there
            assert f"**{style}**" in view
        assert "«<|im_start|>" in view or "«" in view.split("<|im_start|>assistant")[1]

        # Nothing new upstream: no LLM requests, the same dataset version.
        second = dg.materialize(assets, resources=resources, instance=instance)
        assert metadata(second, "llm_text")["requests"] == 0
        assert metadata(second, "llm_text")["processed"] == 0
        assert metadata(second, "chatml_dataset")["version"] == data["version"]


def test_llm_text_with_the_local_classifier(tmp_path: Path) -> None:
    # The local profile's filter: the MiniLM classifier, no endpoint and no requests.
    resources = {
        "storage": StorageResource(root=str(tmp_path)),
        "llm": LocalLLMEndpointResource(method="classifier", max_judged_chars=300, keep_threshold=0.1),
        "failure_policy": FailurePolicyResource(),
        "io_manager": ManifestIOManager(root=str(tmp_path / "manifests")),
    }
    assets = [ingestion.article_index, ingestion.raw_pdfs, text.regex_text, text.llm_text]
    with ReplicaServer() as replica, dg.instance_for_test() as instance:
        resources["pressclub"] = ReplicaPressClubResource(base_url=replica.base_url, default_target=TARGET)
        result = dg.materialize(assets, resources=resources, instance=instance)
        assert result.success
        llm = metadata(result, "llm_text")
        assert llm["judge"].startswith("furniture_minilm") and llm["requests"] == 0 and llm["fallbacks"] == 0
        assert llm["f1_mean"] >= metadata(result, "regex_text")["f1_mean"] - 1e-4
        assert "furniture_like_lines" in llm
        again = dg.materialize(assets, resources=resources, instance=instance)
        assert metadata(again, "llm_text")["processed"] == 0
