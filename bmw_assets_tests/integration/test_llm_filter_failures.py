"""The filter against endpoints that fail or talk nonsense: real aiohttp servers on
loopback speaking the OpenAI / `transformers serve` wire formats, scripted to answer
badly (a capable chat model cannot run here, so its answers are scripted too)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from aiohttp import web

from bmw_assets.catalog import connect
from bmw_assets.llm_filter import EndpointConfigurationError, EndpointSettings, FilterInput, filter_texts
from bmw_assets_tests.conftest import ScriptedServer, chat_reply

ARTICLE = FilterInput(
    "T0000001EN",
    "Munich. BMW opened a plant.\n\nPage 2\n\nThe plant builds 150,000 cars a year.\n\nContact: Anna, +49 89 1",
)
INVENTED = "BUY NOW"


def scripted_settings(server: ScriptedServer, api: str, **overrides) -> EndpointSettings:
    base = dict(base_url=f"http://127.0.0.1:{server.port}/v1", model="scripted", api=api, max_retries=0, timeout_s=10)
    return EndpointSettings(**{**base, **overrides})


def cached_rows(catalog: Path) -> int:
    with connect(catalog) as con:
        return con.execute("SELECT count(*) FROM llm_decisions").fetchone()[0]


def assert_fell_back(run, catalog: Path) -> None:
    (result,) = run.results
    assert result.status == "fallback" and result.text == ARTICLE.text and INVENTED not in result.text
    assert run.fallbacks == 1 and result.reason
    assert cached_rows(catalog) == 0, "a failed answer must not be cached"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_endpoint_down_falls_back_and_caches_nothing(tmp_path):
    catalog = tmp_path / "catalog.duckdb"
    down = EndpointSettings.local(f"http://127.0.0.1:{free_port()}/v1", "nobody")
    run = filter_texts([ARTICLE], EndpointSettings(**{**down.__dict__, "max_retries": 0}), catalog)
    assert_fell_back(run, catalog)
    assert "Connection" in run.results[0].reason
    # A later run asks again instead of trusting a cached failure.
    assert filter_texts([ARTICLE], EndpointSettings(**{**down.__dict__, "max_retries": 0}), catalog).requests == 1


@pytest.mark.parametrize(
    "api,answer",
    [
        ("systemone", lambda path, body: web.Response(text="{not json", content_type="application/json")),
        ("systemone", lambda path, body: web.json_response({"answers": {"p0": {"type": "noul", "noul": 1.7}}})),
        ("systemone", lambda path, body: web.json_response({"answers": {"p0": {"noul": 0.9}}})),  # p1.. missing
        ("systemone", lambda path, body: web.Response(text=INVENTED, content_type="text/plain")),
        ("chat_json", lambda path, body: chat_reply(f"Sure! Here is the cleaned text: {INVENTED}")),
        ("chat_json", lambda path, body: chat_reply('{"drop": [7], "reject": false, "reason": ""}')),
        ("chat_json", lambda path, body: chat_reply('{"drop": "all", "reject": "maybe"}')),
        ("chat_json", lambda path, body: chat_reply(json.dumps({"keep": [0], "text": INVENTED}))),
    ],
)
def test_garbage_answers_fall_back_and_invent_nothing(tmp_path, api, answer):
    catalog = tmp_path / "catalog.duckdb"
    with ScriptedServer(answer) as server:
        run = filter_texts([ARTICLE], scripted_settings(server, api), catalog)
    assert len(server.requests) == 1
    assert_fell_back(run, catalog)


def test_server_errors_are_retried_then_fall_back(tmp_path):
    catalog = tmp_path / "catalog.duckdb"
    with ScriptedServer(lambda path, body: web.json_response({"error": "busy"}, status=503)) as server:
        run = filter_texts([ARTICLE], scripted_settings(server, "chat_json", max_retries=2), catalog)
    assert len(server.requests) == 3, "one request plus two retries"
    assert_fell_back(run, catalog)
    assert "503" in run.results[0].reason


def test_chat_route_drops_and_rejects_by_index_only(tmp_path, monkeypatch):
    monkeypatch.setenv("BMW_TEST_LLM_KEY", "sk-test-secret-42")

    def answer(path, body):
        user = body["messages"][-1]["content"]
        if "Bonjour" in user:
            return chat_reply('{"drop": [], "reject": true, "reason": "not English"}')
        return chat_reply('{"drop": [1, 3], "reject": false, "reason": "", "text": "BUY NOW"}')

    french = FilterInput("T0000002EN", "Bonjour. Ceci est un communiqué.")
    catalog = tmp_path / "catalog.duckdb"
    with ScriptedServer(answer) as server:
        settings = scripted_settings(server, "chat_json", api_key_env="BMW_TEST_LLM_KEY")
        run = filter_texts([ARTICLE, french], settings, catalog)
    ok, rejected = run.results
    assert ok.status == "ok" and ok.kept == (0, 2) and ok.dropped == (1, 3)
    assert ok.text == "Munich. BMW opened a plant.\n\nThe plant builds 150,000 cars a year."
    assert rejected.status == "rejected" and rejected.text == "" and "not English" in rejected.reason
    assert {auth for _, _, auth in server.requests} == {"Bearer sk-test-secret-42"}
    assert b"sk-test-secret-42" not in catalog.read_bytes()
    assert cached_rows(catalog) == 2


def test_an_endpoint_refusing_the_key_stops_the_run_and_its_error_holds_no_trace_of_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BMW_TEST_LLM_KEY", "sk-test-secret-42")
    echo = lambda path, body: web.json_response({"error": {"message": "invalid key sk-test-secret-42"}}, status=401)  # noqa: E731
    with ScriptedServer(echo) as server:
        settings = scripted_settings(server, "chat_json", api_key_env="BMW_TEST_LLM_KEY")
        with pytest.raises(EndpointConfigurationError) as refused:
            filter_texts([ARTICLE], settings, tmp_path / "catalog.duckdb")
    assert {auth for _, _, auth in server.requests} == {"Bearer sk-test-secret-42"}
    message = str(refused.value)
    assert "401" in message and "$BMW_TEST_LLM_KEY" in message
    assert "sk-test-secret-42" not in message and "[redacted]" in message and refused.value.__cause__ is None
    assert cached_rows(tmp_path / "catalog.duckdb") == 0
