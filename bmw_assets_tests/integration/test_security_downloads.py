"""A hostile press room on loopback: attachment names that climb out of the download folder,
a PDF that takes too long to parse, a robots.txt that forbids everything, and the production
request rate held against a real server.

Already covered in test_pressclub_security.py / test_pressclub_client.py: off-site links and
redirects, private addresses, robots.txt Disallow and Crawl-delay, the download size cap and a
`..%2F` URL tail."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fpdf import FPDF

from bmw_assets.pressclub import ClientSettings, download, download_attachments
from bmw_assets.pressclub.address_guard import RefusedUrl
from bmw_assets.pressclub.http_client import PoliteClient
from bmw_assets.pressclub.records import TransferStats

# File names a server may suggest; none may steer where a download lands.
HOSTILE_NAMES = ["../../outside/evil.pdf", "/etc/evil.pdf", "a/b/../../../evil.pdf", "..\\..\\evil.pdf"]


@functools.cache
def pdf_bytes(pages: int) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for page in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, f"Munich. Page {page + 1}. The BMW Group reports deliveries. " * 40)
    return bytes(pdf.output())


class HostilePressRoom:
    """A real HTTP server on 127.0.0.1: `/global/attachment/<n>` answers a PDF whose
    Content-Disposition names HOSTILE_NAMES[n]; `/global/big` a 150-page PDF; `/global/page` a page;
    `/robots.txt` answers `robots_status` (404: no rules). Counts requests per path in `hits`."""

    def __init__(self, robots_status: int = 404):
        self.hits: dict[str, int] = {}
        room = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?")[0]
                room.hits[path] = room.hits.get(path, 0) + 1
                headers, body, status = {"Content-Type": "application/pdf"}, pdf_bytes(1), 200
                if path == "/robots.txt":
                    status, body, headers = robots_status, b"", {}
                elif path.startswith("/global/attachment/"):
                    name = HOSTILE_NAMES[int(path.rsplit("/", 1)[1])]
                    headers["Content-Disposition"] = f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
                elif path == "/global/big":
                    body = pdf_bytes(150)
                elif path == "/global/page":
                    headers, body = {"Content-Type": "text/html"}, b"<html><body>ok</body></html>"
                self.send_response(status)
                for header, value in headers.items():
                    self.send_header(header, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/global"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostilePressRoom:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def room() -> Iterator[HostilePressRoom]:
    with HostilePressRoom() as server:
        yield server


def test_file_names_from_the_server_never_become_paths(room, tmp_path):
    dest = tmp_path / "box" / "pdfs"
    items = [("T0000001EN", f"{room.base_url}/attachment/{n}") for n in range(len(HOSTILE_NAMES))]
    items.append(("T0000002EN", f"{room.base_url}/attachment/..%2F..%2F..%2Fescaped.pdf/../0"))
    result = download_attachments(ClientSettings.local(room.base_url), items, dest)
    assert [r.status for r in result.records] == ["ok"] * len(items)
    # Identical bodies, one content-addressed file; nothing else anywhere under tmp_path.
    assert {r.path for r in result.records} == {str(dest / f"{result.records[0].sha256}.pdf")}
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "box", "box/pdfs", f"box/pdfs/{result.records[0].sha256}.pdf"
    ]  # fmt: skip


def production_pacing_on(base_url: str) -> ClientSettings:
    """The production settings with only the address changed to a loopback server."""
    return dataclasses.replace(ClientSettings.production(), base_url=base_url, allowed_hosts=frozenset({"127.0.0.1"}),
                               allow_private_addresses=True)  # fmt: skip


def test_the_production_request_rate_holds_against_a_real_server(room):
    settings = production_pacing_on(room.base_url)
    assert settings.requests_per_second == 4.0 and settings.obey_robots

    async def fetch(n: int) -> float:
        async with PoliteClient(settings, TransferStats()) as client:
            started = time.monotonic()
            await asyncio.gather(*(client.get_page(f"{room.base_url}/page", "page") for _ in range(n)))
            return time.monotonic() - started

    before = room.hits.get("/global/page", 0)
    # A burst of 4 (robots.txt takes the first token), then one every 0.25 s: 8 pages need >= 1.25 s.
    assert asyncio.run(fetch(8)) >= 1.2
    assert room.hits["/global/page"] - before == 8


@pytest.mark.parametrize("status", [401, 403, 500])
def test_a_robots_txt_that_refuses_access_blocks_the_whole_site(status):
    with HostilePressRoom(robots_status=status) as strict:
        settings = dataclasses.replace(production_pacing_on(strict.base_url), max_retries=0)

        async def fetch() -> None:
            async with PoliteClient(settings, TransferStats()) as client:
                await client.get_page(f"{strict.base_url}/page", "page")

        with pytest.raises(RefusedUrl, match="robots.txt disallows"):
            asyncio.run(fetch())
    assert strict.hits == {"/robots.txt": 1}  # RFC 9309: unreachable or forbidden robots.txt means disallow all


def test_a_parse_past_its_time_cap_fails_the_download_and_keeps_nothing(room, tmp_path, monkeypatch):
    # A stand-in for a PDF on which pypdf loops: the page count blocks far past the cap.
    release = threading.Event()
    monkeypatch.setattr(download, "pdf_page_count", lambda path, max_inflated_bytes: release.wait(60))
    settings = dataclasses.replace(ClientSettings.local(room.base_url), pdf_parse_timeout_s=0.5)
    started = time.monotonic()
    try:
        [record] = download_attachments(settings, [("T0000001EN", f"{room.base_url}/big")], tmp_path).records
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert record.status == "failed" and "did not finish parsing within 0.5 s" in record.error
    assert elapsed < 10, f"the download waited {elapsed:.0f} s for an abandoned parse"
    assert list(tmp_path.iterdir()) == []  # the unparsed file is not kept
    monkeypatch.undo()
    [record] = download_attachments(settings, [("T0000001EN", f"{room.base_url}/big")], tmp_path).records
    assert record.status == "ok" and record.pages == 150  # the same file, really parsed, within the cap
