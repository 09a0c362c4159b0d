"""The replica on a real loopback port: feeds, pages, attachments, publishing, faults, state."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime

import lxml.html
import pytest

from bmw_assets.replica import Faults, ReplicaServer, ensure_replica_running
from bmw_assets.replica.corpus import build_corpus
from bmw_assets.replica.faults import choose_fault


def get(url: str, timeout: float = 10) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def post(url: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else b""
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ReplicaServer(state_file=tmp_path_factory.mktemp("replica") / "state.json") as replica:
        yield replica


def test_rss2_topic_feed_paginates_through_next_links_and_ends_without_xml(server):
    expected = [a.id for a in server.visible_articles() if 803 in a.topics]
    url, ids, pages = f"{server.base_url}/rss2/topic/803", [], 0
    while True:
        status, headers, body = get(url)
        assert status == 200
        if not body.lstrip().startswith(b"<?xml"):
            assert b"<html" in body
            break
        pages += 1
        channel = ET.fromstring(body).find("channel")
        items = channel.findall("item")
        assert len(items) <= 20
        for item in items:
            guid = item.find("guid")
            assert guid.get("isPermaLink") == "false"
            assert guid.text.startswith(f"127.0.0.1:{server.port}/T")
            assert parsedate_to_datetime(item.findtext("pubDate")).tzinfo is not None
            assert item.findtext("description").startswith("<img")
            ids.append(guid.text.rsplit("/", 1)[1])
        next_link = [
            link for link in channel.findall("{http://www.w3.org/2005/Atom}link") if link.get("rel") == "next"
        ][0]
        url = next_link.get("href")
        assert url == f"{server.root_url}/rss2/topic/803?page={pages + 1}"  # no /global, as on the real site
    assert ids == expected and pages == -(-len(expected) // 20)


def test_rss2_body_matches_detail_text_and_rss_carries_teaser(server):
    article = server.visible_articles()[0]
    _, _, body = get(f"{server.base_url}/rss2")
    description = ET.fromstring(body).find("channel/item/description").text
    assert description.startswith(f'<img src="{server.base_url}/article/image/{article.id}"')
    detail = get(f"{server.base_url}/article/detail/{article.id}?language=en")[2].decode()
    assert description.split("/>", 1)[1] in detail  # identical markup after the image
    _, _, body = get(f"{server.root_url}/rss?page=1")  # alias without /global
    first = ET.fromstring(body).find("channel/item")
    assert first.findtext("description") == article.teaser and first.findtext("title") == article.title


def test_detail_page_selectors(server):
    article = next(a for a in server.visible_articles() if len(a.attachments) == 1 and a.attachments[0].filename)
    status, _, raw = get(f"{server.base_url}/article/detail/{article.id}/{article.slug}")
    assert status == 200
    page = lxml.html.fromstring(raw)
    assert page.xpath("//meta[@name='robots']/@content") == ["index,follow"]
    assert page.xpath("//div[contains(@class,'cookie-consent-layer')]")
    assert page.xpath("//div[@class='article-detail']/h1/text()") == [article.title]
    teaser = page.xpath("//h2[@class='teaser']/text()")[0]
    assert teaser.startswith("+++") and teaser.endswith("+++")
    assert page.xpath("//div[@class='article-info']/span[@class='date']/text()") == [
        article.published_at.strftime("%d.%m.%Y")
    ]
    assert page.xpath("//div[@class='article-info']/span[@class='category']/text()")
    paragraphs = page.xpath("//div[@id='article-text']/p")
    assert paragraphs[0].text_content().startswith(article.paragraphs[0].split(".")[0] + ". ")
    assert page.xpath("//div[@id='article-text']/div[@class='text co2_summary']")
    assert b"&nbsp;" in raw and b"<br><br>" in raw
    assert "In case of queries, please contact:" in raw.decode()
    att = article.attachments[0]
    hrefs = page.xpath("//div[@class='attachments']//a/@href")
    assert hrefs == [f"/global/article/attachment/{article.id}/{att.attachment_id}/{att.filename}"]
    assert get(f"{server.base_url}/article/detail/{article.id}?language=en")[2] == raw


def test_unpublished_and_unknown_articles_are_404(server):
    hidden = build_corpus()[-1]
    assert get(f"{server.base_url}/article/detail/{hidden.id}")[0] == 404
    assert get(f"{server.base_url}/article/detail/T0000001EN")[0] == 404


def test_listing_and_ajax_lists(server):
    visible = server.visible_articles()
    page = lxml.html.fromstring(get(f"{server.base_url}/article")[2])
    items = page.xpath("//article[contains(@class,'newsfeed')]")
    assert len(items) == 30 and page.xpath("//button[@id='lazy-load-button']")
    first = items[0]
    assert first.get("data-id").isdigit() and first.get("data-category") == str(visible[0].category)
    assert first.xpath(".//div[@class='text']//h3/a/text()") == [visible[0].title]
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4}", first.xpath(".//div[@class='info']/h4/span[@class='date']/text()")[0])
    assert first.xpath(".//p[@class='serif']/text()") == [visible[0].teaser]
    assert [int(t) for t in first.xpath(".//div[@class='tag']/@data-tag-id")] == list(visible[0].topics)
    more = lxml.html.fragment_fromstring(get(f"{server.base_url}/startpage/list?offset=30")[2], create_parent="div")
    assert more.xpath(".//h3/a/text()") == [a.title for a in visible[30:60]]
    topic = lxml.html.fragment_fromstring(get(f"{server.base_url}/article/list/6629?page=2")[2], create_parent="div")
    assert topic.xpath(".//h3/a/text()") == [a.title for a in visible if 6629 in a.topics][30:60]


def test_attachments_pdf_and_other(server):
    visible = server.visible_articles()
    pdf = next(a for a in visible if a.attachments and a.attachments[0].kind == "pdf")
    other = next(a for a in visible if a.attachments and a.attachments[0].kind == "other")
    status, headers, body = get(f"{server.base_url}/article/attachment/{pdf.id}/{pdf.attachments[0].attachment_id}")
    assert status == 200 and body.startswith(b"%PDF") and headers["Content-Type"] == "application/pdf"
    status, _, body = get(f"{server.base_url}/article/attachment/{other.id}/{other.attachments[0].attachment_id}/x")
    assert status == 200 and not body.startswith(b"%PDF") and body[:2] in (b"\xff\xd8", b"PK")
    assert get(f"{server.base_url}/article/attachment/{pdf.id}/1")[0] == 404


def test_robots_txt(server):
    text = get(f"{server.root_url}/robots.txt")[2].decode()
    assert "Allow: /global/" in text and "Disallow: /global/search/" in text and "Crawl-delay:" in text


def test_stats_count_requests_by_kind(server):
    server.reset_stats()
    article = server.visible_articles()[5]
    for _ in range(2):
        get(f"{server.base_url}/article/detail/{article.id}")
    get(f"{server.base_url}/rss")
    assert server.stats == {"detail": 2, "rss": 1}
    assert json.load(urllib.request.urlopen(f"{server.root_url}/_replica/stats"))["requests"]["detail"] == 2


def test_publish_reveals_newest_first_and_persists(tmp_path):
    state = tmp_path / "state.json"
    corpus = build_corpus()
    with ReplicaServer(published=100, state_file=state) as replica:
        hidden = corpus[100].id
        assert get(f"{replica.base_url}/article/detail/{hidden}")[0] == 404
        assert replica.publish(2) == [corpus[101].id, corpus[100].id]
        assert post(f"{replica.root_url}/_replica/publish?n=1")["published"] == [corpus[102].id]
        feed = ET.fromstring(get(f"{replica.base_url}/rss")[2])
        guids = [g.text.rsplit("/", 1)[1] for g in feed.iter("guid")]
        assert guids[:4] == [corpus[102].id, corpus[101].id, corpus[100].id, corpus[99].id]
        assert get(f"{replica.base_url}/article/detail/{hidden}")[0] == 200
        assert post(f"{replica.root_url}/_replica/edit/{corpus[5].id}")["revision"] == 2
    with ReplicaServer(state_file=state) as restarted:
        assert restarted.published_count == 103
        truth = json.load(urllib.request.urlopen(f"{restarted.root_url}/_replica/truth/{corpus[5].id}"))
        assert truth["revision"] == 2 and truth["body"] != corpus[5].body_text
        assert all(f["answer"] in truth["body"] for f in truth["facts"])


def test_faults_at_configured_rates_and_admin_exempt():
    with ReplicaServer(faults=Faults(error_rate=0.3, throttle_rate=0.1, retry_after_s=2, seed=5)) as replica:
        statuses = [get(f"{replica.base_url}/rss")[0] for _ in range(200)]
        assert 40 <= statuses.count(503) <= 80
        assert 8 <= statuses.count(429) <= 35
        assert get(f"{replica.base_url}/rss")[1].get("Retry-After") in (None, "2")
        replica.faults.error_rate = 1.0
        for _ in range(5):
            assert (
                json.load(urllib.request.urlopen(f"{replica.root_url}/_replica/stats"))["faults"]["error_rate"] == 1.0
            )
        post(
            f"{replica.root_url}/_replica/faults",
            {"error_rate": 0, "throttle_rate": 0, "latency_s": 0.2, "malformed_page_rate": 1.0},
        )
        start = time.monotonic()
        status, _, body = get(f"{replica.base_url}/rss")
        assert time.monotonic() - start >= 0.2 and status == 200
        with pytest.raises(ET.ParseError):
            ET.fromstring(body)
        replica.faults.update({"latency_s": 0, "malformed_page_rate": 0, "reset_rate": 1.0})
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(f"{replica.base_url}/rss", timeout=5).read()


def test_attachment_faults_break_the_pdf():
    with ReplicaServer(faults=Faults(corrupt_attachment_rate=1.0)) as replica:
        article = next(a for a in replica.visible_articles() if a.attachments and a.attachments[0].kind == "pdf")
        url = f"{replica.base_url}/article/attachment/{article.id}/{article.attachments[0].attachment_id}"
        corrupt = get(url)[2]
        replica.faults = Faults(non_pdf_attachment_rate=1.0)
        assert not get(url)[2].startswith(b"%PDF")
        replica.faults = Faults(truncated_attachment_rate=1.0)
        with pytest.raises(http.client.IncompleteRead):  # the transfer stops short of Content-Length
            urllib.request.urlopen(url, timeout=5).read()
        replica.faults = Faults()
        clean = get(url)[2]
        assert corrupt.startswith(b"%PDF") and corrupt != clean and len(corrupt) == len(clean)


def test_fault_choice_is_deterministic():
    faults = Faults(error_rate=0.5, seed=3)
    first = [choose_fault(faults, n, attachment=False, document=True) for n in range(50)]
    assert first == [choose_fault(faults, n, attachment=False, document=True) for n in range(50)]
    assert first != [
        choose_fault(Faults(error_rate=0.5, seed=4), n, attachment=False, document=True) for n in range(50)
    ]


def test_ensure_replica_running_spawns_cli_and_publish_command(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = ensure_replica_running(port, tmp_path)
    pid = json.loads((tmp_path / "replica.pid").read_text())["pid"]
    try:
        assert base_url == f"http://127.0.0.1:{port}/global"
        assert "serving at " + base_url in (tmp_path / "replica.log").read_text()
        assert ensure_replica_running(port, tmp_path) == base_url  # already up: nothing new started
        out = subprocess.run(
            [sys.executable, "-m", "bmw_assets.replica", "publish", "2", "--port", str(port)],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        assert json.loads(out)["count"] == 362
        assert json.loads((tmp_path / "replica_state.json").read_text())["published"] == 362
    finally:
        os.kill(pid, signal.SIGTERM)


def test_the_replica_cli_stops_on_sigterm_even_when_started_with_it_ignored(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def ignore_stop_signals():  # as a parent that ignores them would hand them down
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen([sys.executable, "-m", "bmw_assets.replica", "serve", "--port", str(port),
                                "--state-dir", str(tmp_path)], preexec_fn=ignore_stop_signals,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "replica.pid").is_file():
            assert process.poll() is None and time.monotonic() < deadline, "the replica did not start"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ensure_replica_running_names_the_problem(tmp_path):
    with socket.socket() as blocker:  # a port that accepts but never answers HTTP
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"did not answer on 127.0.0.1:{port}"):
            ensure_replica_running(port, tmp_path, timeout_s=3)


def test_new_fault_knobs_spikes_feed_end_huge_and_slow_pdfs_drawn_per_url():
    from pypdf import PdfReader

    from bmw_assets.replica.faults import document_fault

    faults = Faults(spike_rate=0.5, spike_s=0.3, feed_end_rate=1.0, huge_pdf_rate=0.3, huge_pdf_bytes=500_000,
                    slow_pdf_rate=0.3, seed=9)  # fmt: skip
    with ReplicaServer(faults=faults) as replica:
        assert ET.fromstring(get(f"{replica.base_url}/rss2")[2]).find("channel/item") is not None  # page 1 is spared
        status, _, body = get(f"{replica.base_url}/rss2?page=2")
        assert status == 200 and b"<html" in body  # ended early, as past the last page
        for _ in range(4):
            get(f"{replica.root_url}/robots.txt")
        delays = [e.delay_s for e in replica.fault_log if e.path == "/robots.txt"]
        assert set(delays) == {0.0, 0.3}
        pdfs = [(a, att) for a in replica.visible_articles() for att in a.attachments if att.kind == "pdf"]
        kinds = {att.attachment_id: document_fault(faults, att.attachment_id) for _, att in pdfs}
        for kind in ("huge", "slow", None):
            article, att = next((a, t) for a, t in pdfs if kinds[t.attachment_id] == kind)
            url = f"{replica.base_url}/article/attachment/{article.id}/{att.attachment_id}"
            first, again = get(url)[2], get(url)[2]
            assert first == again and first.startswith(b"%PDF")  # a property of the document, not the transfer
            pages = len(PdfReader(io.BytesIO(first)).pages)
            if kind == "huge":
                assert len(first) >= 500_000 and pages < 10
            elif kind == "slow":
                assert len(first) < 200_000 and pages > 40
        log = replica.fault_log
    # Per-URL draws: the same path's n-th request meets the same fault in a second replica.
    with ReplicaServer(faults=faults) as twin:
        get(f"{twin.base_url}/rss2?page=2")
        assert twin.fault_log[0] == next(e for e in log if e.path == "/global/rss2?page=2")
