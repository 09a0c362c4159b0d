"""The code location loads, and its asset graph is pinned by a snapshot.

A refactor that changes keys, dependencies, partitions, groups, kinds, pools or
automation shows up here as a diff against `graph_snapshot.json`. To accept an
intended change: `BMW_UPDATE_SNAPSHOT=1 make test`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from bmw_assets.definitions import build_definitions
from bmw_assets.settings import evaluation_pool, load_settings

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


def test_evaluation_pool_follows_the_profile_unless_set():
    assert evaluation_pool({}) == "evaluation"
    assert evaluation_pool({"BMW_PROFILE": "production"}) == "gpu"  # a full fine-tuning leaves no room on its GPU
    assert evaluation_pool({"BMW_PROFILE": "production", "BMW_EVALUATION_POOL": "evaluation"}) == "evaluation"
    # Kubernetes gives evaluation pods GPUs of their own.
    assert evaluation_pool({"BMW_PROFILE": "production", "BMW_LAUNCHER": "kubernetes"}) == "evaluation"


def test_production_code_location_queues_evaluation_behind_training(tmp_path):
    script = ("import json; from bmw_assets.definitions import defs; g = defs.resolve_asset_graph(); "
              "print(json.dumps({k: sorted(g.get(dg.AssetKey(k)).pools or []) for k in "
              "('trained_model', 'eval_report', 'base_model_report')}))")
    env = {**os.environ, "BMW_PROFILE": "production", "BMW_STORAGE": str(tmp_path)}
    for name in ("BMW_EVALUATION_POOL", "BMW_LAUNCHER"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", "import dagster as dg; " + script], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    pools = json.loads(done.stdout.strip().splitlines()[-1])
    assert pools == {"trained_model": ["gpu"], "eval_report": ["gpu"], "base_model_report": ["gpu"]}


@pytest.mark.parametrize(("profile", "method", "override"), [("local", "classifier", None), ("production", "llm", None),
                                                               ("local", "llm", "llm")])
def test_the_paragraph_filter_is_chosen_by_profile(profile, method, override, tmp_path, monkeypatch):
    # Locally the MiniLM classifier judges paragraphs (the 135M chat model cannot); production asks its LLM.
    from bmw_assets.definitions import build_resources
    from bmw_assets.llm_filter.classifier import FurnitureClassifier

    if override:
        monkeypatch.setenv("BMW_FILTER_METHOD", override)
    else:
        monkeypatch.delenv("BMW_FILTER_METHOD", raising=False)
    settings = load_settings({"BMW_PROFILE": profile, "BMW_STORAGE": str(tmp_path)})
    llm = build_resources(settings)["llm"]
    assert llm.method == method
    if method == "classifier":
        assert isinstance(llm.judge(settings.storage), FurnitureClassifier)
        assert llm.filter_settings().keep_threshold == 0.1
