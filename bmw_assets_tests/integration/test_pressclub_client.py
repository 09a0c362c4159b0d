"""The PressClub client against the real replica server on loopback (no mocks)."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import Counter
from pathlib import Path

import pytest

from bmw_assets.pressclub import (
    ClientSettings,
    download_attachments,
    fetch_articles,
    newest_article_ids,
)
from bmw_assets.pressclub.download import pdf_page_count
from bmw_assets.replica.faults import Faults
from bmw_assets.replica.server import ReplicaServer


@pytest.fixture(scope="module")
def replica():
    with ReplicaServer() as server:
        yield server


def _delta(server: ReplicaServer, before: dict[str, int]) -> Counter:
    return Counter(server.stats) - Counter(before)


def test_newest_articles_arrive_once_with_clean_bodies_and_all_their_topics(replica):
    truth = replica.visible_articles()  # newest first
    result = fetch_articles(ClientSettings.local(replica.base_url), target=30, known={})
    ids = [a.id for a in result.new]
    assert sorted(ids) == sorted(a.id for a in truth[:30])  # target respected: exactly the 30 newest
    assert len(set(ids)) == len(ids) and not result.updated and not result.failures
    by_id = {a.id: a for a in truth}
    for record in result.new:
        expected = by_id[record.id]
        assert record.body_text == expected.body_text
        assert record.body_sha256 == hashlib.sha256(expected.body_text.encode()).hexdigest()
        assert sorted(record.topics) == sorted(str(t) for t in expected.topics)
        assert record.published_at == expected.published_at and record.title == expected.title
        assert len(record.attachment_urls) == len(expected.attachments)
    assert any(len(r.topics) > 1 for r in result.new), "the replica files some articles under several topics"
    assert newest_article_ids(ClientSettings.local(replica.base_url))[0] == (truth[0].id, truth[0].published_at)


def test_second_run_makes_no_detail_requests_and_detects_edits_and_new_articles(replica):
    settings = ClientSettings.local(replica.base_url)
    first = fetch_articles(settings, target=20, known={})
    known = {a.id: a.body_sha256 for a in first.new}

    before = replica.stats
    again = fetch_articles(settings, target=20, known=known)
    assert sorted(again.unchanged_ids) == sorted(known) and not again.new and not again.updated
    delta = _delta(replica, before)
    assert delta["detail"] == 0 and delta["attachment"] == 0 and delta["rss"] > 0

    edited = first.new[3].id
    replica.edit(edited)
    published = replica.publish(2)
    before = replica.stats
    third = fetch_articles(settings, target=22, known=known)
    assert [a.id for a in third.updated] == [edited]
    assert sorted(a.id for a in third.new) == sorted(published)
    assert third.updated[0].body_sha256 != known[edited]
    assert _delta(replica, before)["detail"] == 3  # only the edited and the two new articles


def test_attachments_are_stored_by_content_hash_and_not_rewritten(replica, tmp_path):
    settings = ClientSettings.local(replica.base_url)
    articles = fetch_articles(settings, target=8, known={}).new
    items = [(a.id, url) for a in articles for url in a.attachment_urls]
    # A URL with ../ in its file name part must not steer where the file lands.
    pdf_url = next(url for a in articles for url in a.attachment_urls if "." not in url.rsplit("/", 1)[-1])
    items.append((articles[0].id, pdf_url + "/..%2F..%2Fescaped.pdf"))
    result = download_attachments(settings, items, tmp_path / "pdfs")
    assert [(r.article_id, r.url) for r in result.records] == items
    ok = [r for r in result.records if r.status == "ok"]
    assert ok and all(r.status in ("ok", "not_pdf") for r in result.records)
    for record in ok:
        path = Path(record.path)
        assert path.parent == tmp_path / "pdfs" and path.name == f"{record.sha256}.pdf"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256
        assert pdf_page_count(path) == record.pages > 0
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted({"pdfs", *(Path(r.path).name for r in ok)})
    assert all(r.error and r.path is None for r in result.records if r.status == "not_pdf")

    inodes = {p.name: p.stat().st_ino for p in (tmp_path / "pdfs").iterdir()}
    again = download_attachments(settings, items, tmp_path / "pdfs")
    assert [r.sha256 for r in again.records] == [r.sha256 for r in result.records]
    assert {p.name: p.stat().st_ino for p in (tmp_path / "pdfs").iterdir()} == inodes  # identical files left alone


def test_size_cap_aborts_a_large_download(replica, tmp_path):
    settings = dataclasses.replace(ClientSettings.local(replica.base_url), max_download_bytes=1000)
    article = fetch_articles(settings, target=1, known={}).new[0]
    [record] = download_attachments(settings, [(article.id, article.attachment_urls[0])], tmp_path).records
    assert record.status == "failed" and "max_download_bytes=1000" in record.error
    assert list(tmp_path.iterdir()) == []


def test_faults_every_article_once_bad_files_recorded_retries_counted(tmp_path):
    faults = Faults(
        error_rate=0.2, throttle_rate=0.1, retry_after_s=0.2, reset_rate=0.03, malformed_page_rate=0.1,
        truncated_attachment_rate=0.15, corrupt_attachment_rate=0.15, seed=7,
    )  # fmt: skip
    with ReplicaServer(faults=faults) as server:
        settings = ClientSettings.local(server.base_url)
        truth = server.visible_articles()
        started = time.monotonic()
        result = fetch_articles(settings, target=40, known={})
        assert time.monotonic() - started >= 0.2  # a 429 with Retry-After 0.2 s was waited out
        assert not result.failures
        assert sorted(a.id for a in result.new) == sorted(a.id for a in truth[:40])
        by_id = {a.id: a for a in truth}
        assert all(r.body_text == by_id[r.id].body_text for r in result.new)
        assert all(len(r.attachment_urls) == len(by_id[r.id].attachments) for r in result.new)
        reasons = result.stats.retries_by_reason
        assert reasons.get("http_503", 0) > 0 and reasons.get("http_429", 0) > 0

        items = [(a.id, u) for a in result.new for u in a.attachment_urls]
        downloads = download_attachments(settings, items, tmp_path)
    assert sorted((r.article_id, r.url) for r in downloads.records) == sorted(items)
    statuses = Counter(r.status for r in downloads.records)
    assert statuses["failed"] > 0 and statuses["ok"] > 0, statuses
    for record in downloads.records:
        if record.status == "ok":
            assert hashlib.sha256(Path(record.path).read_bytes()).hexdigest() == record.sha256
            pdf_page_count(Path(record.path))  # every stored file is a whole, readable PDF
        else:
            assert record.error and record.path is None
    assert sum(downloads.stats.retries_by_reason.values()) == downloads.stats.retries > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {Path(r.path).name for r in downloads.records if r.path}
    )
