"""Where the client refuses to go: other hosts (links and redirects), private addresses, robots.txt."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bmw_assets.pressclub import ClientSettings, download_attachments, fetch_articles
from bmw_assets.pressclub.address_guard import RefusedUrl
from bmw_assets.pressclub.http_client import PoliteClient
from bmw_assets.pressclub.records import TransferStats
from bmw_assets.replica.server import ReplicaServer


@pytest.fixture(scope="module")
def replica():
    with ReplicaServer() as server:
        yield server


@pytest.fixture(scope="module")
def attachment_url(replica) -> str:
    article = fetch_articles(ClientSettings.local(replica.base_url), target=1, known={}).new[0]
    return article.attachment_urls[0]


@pytest.fixture
def redirector(replica) -> Iterator[str]:
    """A second real server on 127.0.0.1 that redirects `/to/<host>/<path>` to that host on the replica's port."""

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.startswith("/to/"):
                host, _, rest = self.path[len("/to/") :].partition("/")
                self.send_response(302)
                self.send_header("Location", f"http://{host}:{replica.port}/{rest}")
            else:
                self.send_response(404)  # robots.txt: none, so everything is allowed
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_redirect_to_another_host_is_refused_and_on_host_redirect_followed(
    replica, attachment_url, redirector, tmp_path
):
    # The redirector is the press room; the replica's port on the same host is allowed by name.
    settings = dataclasses.replace(
        ClientSettings.local(f"{redirector}/global"),
        allowed_hosts=frozenset({"127.0.0.1", f"127.0.0.1:{replica.port}"}),
    )
    path = attachment_url.split(f":{replica.port}/", 1)[1]
    before = replica.stats.get("attachment", 0)
    off_site, on_site = download_attachments(
        settings, [("T0000001EN", f"{redirector}/to/localhost/{path}"), ("T0000001EN", f"{redirector}/to/127.0.0.1/{path}")],
        tmp_path,
    ).records  # fmt: skip
    assert off_site.status == "failed" and "'localhost' is not one of the allowed hosts" in off_site.error
    assert on_site.status == "ok"
    assert replica.stats.get("attachment", 0) - before == 1  # only the on-host redirect reached the replica


def test_off_site_link_is_never_requested(replica, attachment_url, tmp_path):
    settings = ClientSettings.local(replica.base_url)
    before = replica.stats.get("attachment", 0)
    off_site = attachment_url.replace("127.0.0.1", "localhost")
    result = download_attachments(settings, [("T0000001EN", off_site)], tmp_path)
    assert result.records[0].status == "failed" and "not one of the allowed hosts" in result.records[0].error
    assert result.stats.requests == 0 and result.stats.refused == {"host": 1}
    assert replica.stats.get("attachment", 0) == before


@pytest.mark.parametrize(("host", "reason"), [("127.0.0.1", "private/loopback"), ("localhost", "resolves to private")])
def test_loopback_refused_unless_private_addresses_allowed(replica, host, reason):
    base_url = replica.base_url.replace("127.0.0.1", host)
    strict = dataclasses.replace(
        ClientSettings.local(replica.base_url), base_url=base_url, allowed_hosts=frozenset({host}),
        allow_private_addresses=False,
    )  # fmt: skip
    before = dict(replica.stats)
    result = fetch_articles(strict, target=5, known={})
    assert not result.new and reason in result.failures[0].reason
    assert result.stats.refused.get("private_address", 0) > 0
    assert replica.stats == before  # nothing reached the server, not even robots.txt


def test_robots_disallowed_path_is_not_fetched_and_crawl_delay_paces_requests(replica, attachment_url):
    settings = dataclasses.replace(ClientSettings.local(replica.base_url), obey_crawl_delay=True)

    async def crawl() -> float:
        async with PoliteClient(settings, TransferStats()) as client:
            with pytest.raises(RefusedUrl, match="robots.txt disallows"):
                await client.get_page(f"{replica.base_url}/article/search/category:1", "listing")
            started = time.monotonic()
            for _ in range(3):  # the replica's robots.txt says Crawl-delay: 1
                await client.get_page(f"{replica.base_url}/rss2", "rss")
            return time.monotonic() - started

    before = replica.stats.get("listing", 0)
    assert asyncio.run(crawl()) >= 1.9
    assert replica.stats.get("listing", 0) == before


def test_a_redirect_to_another_port_of_the_allowed_host_is_refused(replica, attachment_url, redirector, tmp_path):
    # The press room is the redirector's origin; the replica listens on the same host, another port.
    settings = ClientSettings.local(f"{redirector}/global")
    path = attachment_url.split(f":{replica.port}/", 1)[1]
    before = replica.stats.get("attachment", 0)
    [redirected, linked] = download_attachments(
        settings, [("T0000001EN", f"{redirector}/to/127.0.0.1/{path}"), ("T0000001EN", attachment_url)], tmp_path
    ).records
    refusal = f"http://127.0.0.1:{replica.port} is not one of the allowed origins"
    for record in (redirected, linked):
        assert record.status == "failed" and refusal in record.error
    assert replica.stats.get("attachment", 0) == before
