"""`llm_text` against an endpoint with a wrong key, then a failing one, then a good one: the real
`openai` client talks to a real aiohttp server on loopback (a capable chat model cannot run here,
so its answers are scripted), over a catalog built from the replica by the real ingestion assets.

A wrong key (401), a forbidden one (403) or an unknown model (404) fails the asset with a message
naming the variable and the status, never the key. A transient failure (5xx after retries) falls
back to the regex text but is not kept as the answer: the next run asks again.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from aiohttp import web

from bmw_assets.catalog import connect
from bmw_assets.definitions import build_resources
from bmw_assets.defs import ingestion, text
from bmw_assets.defs.failure_checks import FailurePolicyResource
from bmw_assets.defs.resources import RemoteLLMEndpointResource, ReplicaPressClubResource
from bmw_assets.replica.server import ReplicaServer
from bmw_assets.settings import load_settings
from bmw_assets_tests.conftest import ScriptedServer, chat_reply

KEY_ENV = "BMW_TEST_WRONG_LLM_KEY"
KEY = "bmw-fake-llm-key-0d9e8f7a6b5c4d3e"
ARTICLES = 3
ANSWERS = {
    401: {"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}},
    403: {"error": {"message": f"key {KEY} may not use this model"}},
    404: {"error": {"message": "The model `scripted-filter` does not exist", "code": "model_not_found"}},
    503: {"error": {"message": "overloaded"}},
}


def run(assets, resources, instance) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources=resources, instance=instance, raise_on_error=False)


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = result.get_step_failure_events()
    return failure.event_specific_data.error.to_string()


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_configuration_error_fails_llm_text_and_a_transient_one_is_asked_again(tmp_path, monkeypatch, status):
    monkeypatch.setenv(KEY_ENV, KEY)
    answer_status = {"now": status}

    def answer(path, body):
        if answer_status["now"] == 200:
            return chat_reply(json.dumps({"drop": [], "reject": False, "reason": ""}))
        return web.json_response(ANSWERS[answer_status["now"]], status=answer_status["now"])

    with ReplicaServer() as replica, ScriptedServer(answer) as server, dg.instance_for_test() as instance:
        resources = build_resources(load_settings({"BMW_STORAGE": str(tmp_path / "storage")})) | {
            "pressclub": ReplicaPressClubResource(base_url=replica.base_url, default_target=ARTICLES),
            "llm": RemoteLLMEndpointResource(
                base_url=f"http://127.0.0.1:{server.port}/v1", model="scripted-filter", api_key_env=KEY_ENV
            ),  # fmt: skip
            "failure_policy": FailurePolicyResource(),
        }
        assert run([ingestion.article_index, ingestion.raw_pdfs, text.regex_text], resources, instance).success
        upstream = [ingestion.article_index, ingestion.raw_pdfs, text.regex_text]
        llm_only = [*upstream, text.llm_text]

        wrong = dg.materialize(llm_only, selection=["llm_text"], resources=resources, instance=instance,
                               raise_on_error=False)  # fmt: skip
        assert not wrong.success, f"llm_text went green against an endpoint answering {status}"
        message = failure_message(wrong)
        assert f"refused the LLM filter's request with {status}" in message and KEY not in message
        assert ("'scripted-filter'" if status == 404 else f"${KEY_ENV}") in message  # what to check
        with connect(tmp_path / "storage" / "catalog.duckdb") as con:
            assert con.execute("SELECT count(*) FROM texts WHERE stage = 'llm'").fetchone() == (0,)

        answer_status["now"] = 503
        flaky = dg.materialize(llm_only, selection=["llm_text"], resources=resources, instance=instance)
        assert flaky.asset_materializations_for_node("llm_text")[0].metadata["fallbacks"].value == ARTICLES

        answer_status["now"] = 200
        fixed = dg.materialize(llm_only, selection=["llm_text"], resources=resources, instance=instance)
        metadata = fixed.asset_materializations_for_node("llm_text")[0].metadata
        assert metadata["processed"].value == ARTICLES, "fallbacks were kept as answers"
        assert metadata["fallbacks"].value == 0 and metadata["requests"].value >= ARTICLES
    storage = Path(tmp_path / "storage")
    assert not [p for p in storage.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
