"""The code location loads, and its asset graph is pinned by a snapshot.

A refactor that changes keys, dependencies, partitions, groups, kinds, pools or
automation shows up here as a diff against `graph_snapshot.json`. To accept an
intended change: `BMW_UPDATE_SNAPSHOT=1 make test`.
"""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from bmw_assets.definitions import build_definitions
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
    return {
        "assets": assets,
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
