"""The filter against the real small model behind `transformers serve` (started once per
module by `LocalEndpoint`), with a counting aiohttp reverse proxy in front of it so
requests are counted where they arrive."""

from __future__ import annotations

import asyncio
import socket
import threading

import aiohttp
import pytest
from aiohttp import web

from bmw_assets.catalog import connect
from bmw_assets.llm_filter import (
    EndpointSettings,
    FilterInput,
    FilterSettings,
    LocalEndpoint,
    filter_texts,
)

pytestmark = pytest.mark.slow

BODY = [
    "Munich. The BMW Group presented the new iX3 at the IAA Mobility.",
    "Production starts in Debrecen, Hungary, at the end of the year.",
    "Page 2",
    "Contact: Anna Schmidt, Telephone: +49-89-382-12345",
    "The car charges at up to 400 kW.",
]
SECRET = "sk-never-store-me-7731"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CountingProxy:
    """Forwards every request to `upstream` and counts POSTs by path."""

    def __init__(self, upstream: str):
        self.upstream, self.posts = upstream, []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait(10)

    def _serve(self):
        asyncio.set_event_loop(self._loop)

        async def forward(request: web.Request) -> web.Response:
            if request.method == "POST":
                self.posts.append(request.path)
            body = await request.read()
            async with (
                aiohttp.ClientSession() as session,
                session.request(
                    request.method,
                    self.upstream + request.path_qs,
                    data=body,
                    headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
                ) as response,
            ):
                return web.Response(
                    body=await response.read(), status=response.status, content_type=response.content_type
                )

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()


@pytest.fixture(scope="module")
def served(tmp_path_factory, base_model_dir):
    endpoint = LocalEndpoint(str(base_model_dir), free_port(), tmp_path_factory.mktemp("serve") / "serve.log")
    endpoint.start()
    try:
        yield endpoint, CountingProxy(f"http://127.0.0.1:{endpoint.port}")
    finally:
        assert endpoint.stop()


def test_local_endpoint_is_reused_when_already_running(served):
    endpoint, _ = served
    again = LocalEndpoint(endpoint.model_dir, endpoint.port, endpoint.log_path.with_name("other.log"))
    assert again.start().base_url == endpoint.base_url
    assert not again.log_path.exists(), "no second server was started"
    assert not again.stop(), "a server this endpoint did not start is left alone"


def test_real_model_judges_every_paragraph_in_chunks_and_caches(served, tmp_path, monkeypatch):
    endpoint, proxy = served
    monkeypatch.setenv("BMW_TEST_LLM_KEY", SECRET)
    settings = EndpointSettings(
        base_url=f"http://127.0.0.1:{proxy.port}/v1",
        model=endpoint.model_dir,
        api="systemone",
        api_key_env="BMW_TEST_LLM_KEY",
        concurrency=2,
    )
    rules = FilterSettings(max_chunk_paragraphs=2)
    catalog, messages = tmp_path / "catalog.duckdb", []
    items = [FilterInput("T0000001EN", "\n\n".join(BODY)), FilterInput("T0000002EN", BODY[4])]

    first = filter_texts(items, settings, catalog, rules, progress=messages.append)
    assert proxy.posts == ["/v1/systemone"] * 4, "3 chunks of <= 2 paragraphs + 1 for the short article"
    assert first.requests == 4 and first.fallbacks == 0 and first.tokens > 0
    long, short = first.results
    assert long.status == "ok" and sorted(long.kept + long.dropped) == list(range(5))
    kept_paragraphs = long.text.split("\n\n") if long.text else []
    assert kept_paragraphs == [BODY[i] for i in long.kept], "output is the kept input paragraphs, in order"
    with connect(catalog) as con:
        rows = con.execute("SELECT decision::VARCHAR, model, prompt_version FROM llm_decisions").fetchall()
    assert len(rows) == 2 and {row[2] for row in rows} == {"filter_v1"}
    import json

    documents = [json.loads(row[0]) for row in rows]
    assert sorted(len(d["keep_probability"]) for d in documents) == [1, 5]
    assert all(0 < p < 1 for d in documents for p in d["keep_probability"]), "real model probabilities"

    log_lines = endpoint.log_path.read_text().count("POST /v1/systemone")
    second = filter_texts(items, settings, catalog, rules, progress=messages.append)
    assert len(proxy.posts) == 4 and second.requests == 0 and second.cache_hits == 2
    assert endpoint.log_path.read_text().count("POST /v1/systemone") == log_lines
    assert [r.text for r in second.results] == [r.text for r in first.results]

    for place in (catalog.read_bytes().decode("latin-1"), endpoint.log_path.read_text(), "\n".join(messages)):
        assert SECRET not in place
