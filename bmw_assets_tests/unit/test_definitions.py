"""The code location loads, and its asset graph is pinned by a snapshot.

A refactor that changes keys, dependencies, partitions, groups, kinds, pools or
automation shows up here as a diff against `graph_snapshot.json`. To accept an
intended change: `BMW_UPDATE_SNAPSHOT=1 make test`.
"""

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from bmw_assets.definitions import build_definitions, build_resources
from bmw_assets.defs.resources import (
    LivePressClubResource,
    LocalLLMEndpointResource,
    NoFactsResource,
    RemoteLLMEndpointResource,
    ReplicaFactsResource,
    ReplicaPressClubResource,
)
from bmw_assets.defs.training import TRAINING_RETRY
from bmw_assets.models.config import DEFAULT_CONFIGS_DIR
from bmw_assets.settings import load_settings

SNAPSHOT = Path(__file__).with_name("graph_snapshot.json")


def graph_snapshot(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "partitions": sorted(partitions.get_partition_keys()) if partitions else None,
            "pools": sorted(node.pools or []),
            "automation": node.automation_condition.get_label() if node.automation_condition else None,
            "has_description": bool(node.description),
            "checks": sorted(c.name for c in node.check_keys),
        }
    jobs = {}
    for job in defs.jobs or []:
        resolved = defs.resolve_job_def(job.name)
        keys = resolved.asset_layer.executable_asset_keys if resolved.asset_layer else set()
        jobs[job.name] = sorted(k.to_user_string() for k in keys)
    return {
        "assets": assets,
        "jobs": jobs,
        "sensors": sorted(s.name for s in defs.sensors or []),
        "resources": sorted(defs.resources or {}),
    }


@pytest.mark.parametrize("profile", ["local", "production"])
def test_definitions_load_with_the_same_graph_in_every_profile(profile: str, tmp_path: Path) -> None:
    env = {"BMW_PROFILE": profile, "BMW_STORAGE": str(tmp_path), "BMW_LLM_BASE_URL": "http://127.0.0.1:9/v1"}
    defs = build_definitions(load_settings(env))
    defs.validate_loadable(defs)
    snapshot = graph_snapshot(defs)
    if profile == "production":  # the one difference by design: on the GPU, evaluations queue behind training
        for name in ("base_model_report", "eval_report", "rag_baseline"):
            assert snapshot["assets"][name]["pools"] == ["gpu"], name
            snapshot["assets"][name]["pools"] = ["evaluation"]
    if os.environ.get("BMW_UPDATE_SNAPSHOT") and profile == "local":
        SNAPSHOT.write_text(json.dumps(snapshot, indent=2, sort_keys=True) + "\n")
    assert snapshot == json.loads(SNAPSHOT.read_text())


def test_every_asset_has_group_kind_and_description() -> None:
    for name, node in graph_snapshot(build_definitions(load_settings({})))["assets"].items():
        assert node["group"] not in (None, "default"), name
        assert node["kinds"], name
        assert node["has_description"], name


def test_every_check_says_what_it_checks() -> None:
    graph = build_definitions(load_settings({})).resolve_asset_graph()
    for check_key in graph.asset_check_keys:
        assert graph.get_check_spec(check_key).description, check_key.to_user_string()


def pools(env: dict[str, str]) -> dict[str, list[str]]:
    graph = build_definitions(load_settings(env)).resolve_asset_graph()
    return {k: sorted(graph.get(dg.AssetKey(k)).pools or []) for k in ("trained_model", "eval_report", "rag_baseline")}


def test_the_evaluation_pool_follows_the_compute_unless_set(tmp_path: Path) -> None:
    production = {
        "BMW_PROFILE": "production",
        "BMW_STORAGE": str(tmp_path),
        "BMW_LLM_BASE_URL": "http://127.0.0.1:9/v1",
    }
    assert pools({"BMW_STORAGE": str(tmp_path)})["eval_report"] == ["evaluation"]  # CPU: beside the training
    # A full fine-tuning leaves no room on its GPU: the evaluations queue behind training.
    assert pools(production) == {"trained_model": ["gpu"], "eval_report": ["gpu"], "rag_baseline": ["gpu"]}
    assert pools(production | {"BMW_EVALUATION_POOL": "evaluation"})["eval_report"] == ["evaluation"]
    # Kubernetes gives evaluation pods GPUs of their own.
    k8s = {"BMW_LAUNCHER": "kubernetes", "BMW_K8S_IMAGE": "img:1", "BMW_K8S_STORAGE_CLAIM": "claim"}
    assert pools(production | k8s)["eval_report"] == ["evaluation"]
    # The instance check and the recovery sensor look at the pools the assets really use.
    from bmw_assets.defs.run_recovery import location_pools

    assert location_pools(load_settings(production)) == ("duckdb", "gpu")
    assert location_pools(load_settings({})) == ("duckdb", "evaluation", "gpu")


def test_the_partitions_follow_the_configs_folder_of_the_settings(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    shutil.copytree(DEFAULT_CONFIGS_DIR, configs)
    (configs / "variants" / "pruned.yaml").unlink()
    (configs / "variants" / "dropped_r8.yaml").write_text("extends: dropped_lora\ntraining:\n  lora:\n    r: 8\n")
    default = build_definitions(load_settings({"BMW_STORAGE": str(tmp_path)}))
    custom = build_definitions(load_settings({"BMW_STORAGE": str(tmp_path), "BMW_CONFIGS_DIR": str(configs)}))
    for defs, present, absent in ((default, "pruned", "dropped_r8"), (custom, "dropped_r8", "pruned")):
        graph = defs.resolve_asset_graph()
        for key in ("trained_model", "eval_report", "exported_model", "model_card"):
            keys = graph.get(dg.AssetKey(key)).partitions_def.get_partition_keys()
            assert present in keys and absent not in keys, key
        for check in graph.get(dg.AssetKey("eval_report")).check_keys:  # a verdict per variant
            assert present in graph.get_check_spec(check).partitions_def.get_partition_keys()
        assert present in defs.resolve_job_def("train_variant").partitions_def.get_partition_keys()
        # The resource loads the configs of the very variants the partitions name.
        assert present in defs.resources["model_configs"].variants()
        assert absent not in defs.resources["model_configs"].variants()


def test_trained_model_is_retried_since_training_resumes_from_checkpoints(tmp_path: Path) -> None:
    defs = build_definitions(load_settings({"BMW_STORAGE": str(tmp_path)}))
    trained = defs.resolve_assets_def("trained_model")
    assert trained.op.retry_policy == TRAINING_RETRY and TRAINING_RETRY.max_retries >= 1
    assert defs.resolve_assets_def("eval_report").op.retry_policy is None  # a failed evaluation is a finding


@pytest.mark.parametrize(
    ("env", "method", "threshold"),
    [({}, "classifier", 0.1), ({"BMW_PROFILE": "production"}, "llm", 0.2), ({"BMW_FILTER_METHOD": "llm"}, "llm", 0.1)],
)
def test_the_paragraph_filter_is_chosen_by_the_settings(env, method, threshold, tmp_path):
    # Locally the MiniLM classifier judges paragraphs (the 135M chat model cannot); production asks its LLM.
    from bmw_assets.llm_filter.classifier import FurnitureClassifier

    settings = load_settings({"BMW_STORAGE": str(tmp_path), "BMW_LLM_BASE_URL": "http://127.0.0.1:9/v1", **env})
    llm = build_resources(settings)["llm"]
    assert (llm.method, llm.filter_settings().keep_threshold) == (method, threshold)
    if method == "classifier":
        assert isinstance(llm.judge(settings.storage), FurnitureClassifier)


def test_each_profile_gets_its_own_implementations(tmp_path: Path) -> None:
    local = build_resources(load_settings({"BMW_STORAGE": str(tmp_path), "BMW_PRESSCLUB_URL": "http://127.0.0.1:9"}))
    assert isinstance(local["pressclub"], ReplicaPressClubResource) and isinstance(local["facts"], ReplicaFactsResource)
    assert isinstance(local["llm"], LocalLLMEndpointResource)
    assert local["pressclub"].client_settings().base_url == "http://127.0.0.1:9"  # no replica started
    assert local["facts"].facts()  # the replica's ground truth
    assert (local["compute"].num_gpus, local["compute"].hub_offline) == (0, True)

    live = build_resources(load_settings({"BMW_PROFILE": "production", "BMW_STORAGE": str(tmp_path),
                                          "BMW_LLM_BASE_URL": "http://127.0.0.1:9/v1", "BMW_NUM_GPUS": "2"}))  # fmt: skip
    assert isinstance(live["pressclub"], LivePressClubResource) and isinstance(live["facts"], NoFactsResource)
    assert live["pressclub"].client_settings().base_url == "https://www.press.bmwgroup.com/global"
    assert live["facts"].facts() == {}
    endpoint = live["llm"].endpoint(load_settings({}).storage)
    assert isinstance(live["llm"], RemoteLLMEndpointResource)
    assert (endpoint.base_url, endpoint.model, endpoint.api_key_env) == ("http://127.0.0.1:9/v1", "openai/gpt-oss-120b",
                                                                         "OPENAI_API_KEY")  # fmt: skip
    assert (live["compute"].num_gpus, live["compute"].hub_offline) == (2, False)
