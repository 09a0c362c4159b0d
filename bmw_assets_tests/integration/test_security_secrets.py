"""The LLM endpoint's API key reaches the endpoint and nothing else: a real materialization of
`llm_text` (production profile: key from an environment variable) against a loopback endpoint
that refuses requests without the key, then every byte it left behind is searched for the key:
the storage root (catalog rows, manifests, text files, logs), the Dagster instance (event log,
run storage, run config, compute logs), captured output and the resources as Dagster shows them."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from aiohttp import web

from bmw_assets.definitions import build_resources
from bmw_assets.defs import ingestion, text
from bmw_assets.defs.failure_checks import FailurePolicyResource
from bmw_assets.defs.resources import RemoteLLMEndpointResource, ReplicaPressClubResource
from bmw_assets.replica.server import ReplicaServer
from bmw_assets.settings import StorageLayout, load_settings
from bmw_assets_tests.conftest import ScriptedServer, chat_reply

KEY_ENV = "BMW_TEST_SECRET_LLM_KEY"
KEY = "bmw-fake-llm-key-7c1e5a93d04f2b86"  # recognisable, and shaped like no real provider's key


def key_findings(root: Path, key: str) -> list[str]:
    """Where `key` occurs under `root`: files holding its bytes, and DuckDB catalog rows holding it
    (DuckDB compresses strings on disk, so its tables are read through SQL as well)."""
    found = [str(p) for p in sorted(root.rglob("*")) if p.is_file() and key.encode() in p.read_bytes()]
    for catalog in root.rglob("*.duckdb"):
        with duckdb.connect(str(catalog), read_only=True) as con:
            for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
                if key in repr(con.execute(f'SELECT * FROM "{table}"').fetchall()):
                    found.append(f"{catalog}:{table}")
    return found


def test_the_scan_finds_a_key_stored_in_a_catalog_or_a_file(tmp_path):
    with duckdb.connect(str(tmp_path / "catalog.duckdb")) as con:
        con.execute("CREATE TABLE t (reason VARCHAR)")
        con.execute("INSERT INTO t VALUES (?)", [f"Error code: 401 - wrong key {KEY}"])
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "run.log").write_text(f"Authorization: Bearer {KEY}\n")
    assert f"{tmp_path / 'catalog.duckdb'}:t" in key_findings(tmp_path, KEY)
    assert str(tmp_path / "logs" / "run.log") in key_findings(tmp_path, KEY)


@pytest.mark.slow
def test_the_api_key_reaches_the_endpoint_and_is_stored_nowhere(tmp_path, monkeypatch, capfd, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    storage, dagster_home = tmp_path / "storage", tmp_path / "dagster_home"
    dagster_home.mkdir()

    def answer(path, body):
        # ScriptedServer records each request just before answering it, on one event loop.
        authorization = server.requests[-1][2]
        if authorization != f"Bearer {KEY}":
            return web.json_response({"error": {"message": "missing or wrong API key"}}, status=401)
        return chat_reply(json.dumps({"drop": [], "reject": False, "reason": ""}))

    with ReplicaServer() as replica, ScriptedServer(answer) as server:
        llm = RemoteLLMEndpointResource(base_url=f"http://127.0.0.1:{server.port}/v1",
                                  model="scripted-filter", api_key_env=KEY_ENV)  # fmt: skip
        resources = build_resources(load_settings({"BMW_STORAGE": str(storage)})) | {
            "pressclub": ReplicaPressClubResource(base_url=replica.base_url, default_target=3),
            "llm": llm,
            "failure_policy": FailurePolicyResource(),
        }
        assets = [ingestion.article_index, ingestion.raw_pdfs, text.regex_text, text.llm_text]
        with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
            result = dg.materialize(assets, resources=resources, instance=instance)
            assert result.success
            run = instance.get_run_by_id(result.run_id)
            dagster_records = [dg.serialize_value(run)] + [
                dg.serialize_value(entry) for entry in instance.all_logs(result.run_id)
            ]  # fmt: skip

    # The key did travel: every request carried it, none was refused, and the filter ran on them.
    metadata = result.asset_materializations_for_node("llm_text")[0].metadata
    assert server.requests and {auth for _, _, auth in server.requests} == {f"Bearer {KEY}"}
    assert metadata["requests"].value == len(server.requests) and metadata["fallbacks"].value == 0

    captured = capfd.readouterr()
    shown = {
        "storage root": key_findings(storage, KEY),
        "Dagster instance files": key_findings(dagster_home, KEY),
        "run, run config and event log": [r[:200] for r in dagster_records if KEY in r],
        "captured stdout/stderr and log records": [s for s in (captured.out, captured.err, caplog.text) if KEY in s],
        "resource config and endpoint settings": [
            s for s in (repr(llm), repr(llm.endpoint(StorageLayout(storage)))) if KEY in s
        ],
    }
    assert sum(map(len, shown.values())) == 0, shown
    assert any(dagster_home.rglob("*.db")) and (storage / "catalog.duckdb").is_file()  # the scan had something to read
