"""Ingestion under hostile answers (issue #18): what the replica's fault knobs do to `article_index`
and `raw_pdfs`, against a real loopback server, real PDF bytes and a real DuckDB file.

An HTML error page for an attachment, a deflate-bomb PDF, a slow-drip download, a control character
in one feed item, a PDF with a damaged page object, a long Retry-After, and the partial files a
killed run leaves. The fault matrix (test_reliability_faults.py) mixes these with the other faults;
here each has its own test so that its failure says which fault broke.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from bmw_assets.defs import ingestion
from bmw_assets.defs.resources import ReplicaPressClubResource
from bmw_assets.pressclub import ClientSettings, download_attachments, fetch_articles
from bmw_assets.pressclub.download import PARTIAL_PREFIX, PARTIAL_SUFFIX
from bmw_assets.replica import Faults, ReplicaServer
from bmw_assets.replica.faults import deflate_bomb_pdf
from bmw_assets.stages.ingestion import pending_attachments
from bmw_assets_tests.integration.test_reliability_faults import (
    assert_articles_exactly_once,
    check_of,
    materialize,
    metadata,
    rows,
)

TARGET = 12
BOMB_BYTES = 512 * 1024 * 1024  # what the bomb inflates to; about 0.5 MB on disk


def pdf_attachment_urls(replica: ReplicaServer, count: int) -> list[tuple[str, str]]:
    """(article_id, url) of the first `count` PDF attachments of the newest articles."""
    pairs = [
        (a.id, f"{replica.base_url}/article/attachment/{a.id}/{att.attachment_id}")
        for a in replica.visible_articles()
        for att in a.attachments
        if att.kind == "pdf"
    ]
    return pairs[:count]


def test_an_html_page_for_an_attachment_is_a_failure_the_check_sees_and_the_next_run_retries(tmp_path: Path) -> None:
    with ReplicaServer(faults=Faults(non_pdf_attachment_rate=1.0)) as replica, dg.instance_for_test() as instance:
        assets = [ingestion.article_index, ingestion.raw_pdfs]
        first = materialize(replica, tmp_path, assets, instance, target=TARGET)
        stored = rows(tmp_path, "SELECT status, error FROM attachments")
        # Every attachment got the replica's "Access denied" page: none is a photo or a zip now.
        assert stored and all(
            status == "failed" and "HTML page instead of the file" in error for status, error in stored
        ), stored
        check = check_of(first, "raw_pdfs")
        assert not check.passed and check.metadata["failed"].value == len(stored)
        assert metadata(first, "raw_pdfs")["failed"] == len(stored)

        # A catalog written before this fix holds such pages as `not_pdf`: those are retried too.
        catalog = tmp_path / "catalog.duckdb"
        with duckdb.connect(str(catalog)) as con:
            con.execute(
                "UPDATE attachments SET status = 'not_pdf', error = 'starts with b''<!DOCTYP'', not the %PDF magic'"
            )
        assert len(pending_attachments(catalog)) == len(stored)

        replica.faults = Faults()  # the error pages were transient
        second = materialize(replica, tmp_path, assets, instance, target=TARGET)
    assert metadata(second, "raw_pdfs")["requested"] == len(stored)
    statuses = [status for (status,) in rows(tmp_path, "SELECT status FROM attachments")]
    assert "failed" not in statuses and statuses.count("ok") >= 1 and check_of(second, "raw_pdfs").passed


@functools.cache
def bomb_pdf() -> bytes:
    return deflate_bomb_pdf(BOMB_BYTES)


PEAK_PROBE = """
import json, sys, tracemalloc
from pathlib import Path
from bmw_assets.pressclub.download import pdf_page_count
from bmw_assets.text.extraction import read_pdf_pages
tracemalloc.start()
try:
    outcome = f"pages={pdf_page_count(Path(sys.argv[1]))}"
except ValueError as error:
    outcome = f"refused: {error}"
check_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.reset_peak()
extracted = read_pdf_pages(Path(sys.argv[1]))
print(json.dumps({"check": outcome, "check_peak": check_peak, "extract_status": extracted.status,
                  "extract_reason": extracted.reason, "extract_peak": tracemalloc.get_traced_memory()[1]}))
"""


def test_a_deflate_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(bomb_pdf())
    assert bomb.stat().st_size < 1_000_000
    probe = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, str(bomb)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    # Unbounded, the check held the whole 512 MiB stream at once.
    assert found["check"].startswith("refused") and "inflate past" in found["check"], found
    assert found["check_peak"] < 16 * 1024 * 1024, found
    # pypdf's text extraction (held to the same 64 MiB per stream) gets no text out of it, within bounds too.
    assert found["extract_status"] != "ok" and found["extract_peak"] < 160 * 1024 * 1024, found


def test_a_bomb_and_a_damaged_page_are_failures_retried_on_the_next_run(tmp_path: Path) -> None:
    for knob, expected in (("bomb_pdf_rate", "inflate past"), ("damaged_pdf_rate", "damaged")):
        with ReplicaServer(faults=Faults(**{knob: 1.0})) as replica:
            items = pdf_attachment_urls(replica, 2)
            records = download_attachments(ClientSettings.local(replica.base_url), items, tmp_path / knob).records
        assert [r.status for r in records] == ["failed", "failed"], records
        assert all(expected in r.error for r in records), [r.error for r in records]
        assert not list((tmp_path / knob).glob("*.pdf"))  # nothing stored as ok


@pytest.mark.parametrize(
    ("limits", "said"),
    [
        ({"min_bytes_per_s": 1000.0, "rate_grace_s": 1.0}, "below min_bytes_per_s=1000"),
        ({"body_deadline_s": 2.0, "min_bytes_per_s": 0.0}, "did not arrive within body_deadline_s=2"),
    ],
)
def test_a_slow_drip_download_is_abandoned_within_its_limits(tmp_path: Path, limits: dict, said: str) -> None:
    # One byte every 0.2 s: never silent long enough for the 10 s read timeout.
    with ReplicaServer(faults=Faults(drip_attachment_rate=1.0, drip_interval_s=0.2)) as replica:
        # The limits as an operator sets them: on the pressclub resource.
        settings = ReplicaPressClubResource(base_url=replica.base_url, **limits).client_settings()
        started = time.monotonic()
        records = download_attachments(settings, pdf_attachment_urls(replica, 2), tmp_path).records
        seconds = time.monotonic() - started
    assert seconds < 6, f"a drip held the download for {seconds:.1f} s"
    assert [r.status for r in records] == ["failed", "failed"] and all(said in r.error for r in records), records


def test_a_stall_between_two_bytes_is_still_a_timeout_retried_within_the_run(tmp_path: Path) -> None:
    # 1.5 s between bytes, a 1 s read timeout: the body deadline is not what ends it.
    with ReplicaServer(faults=Faults(drip_attachment_rate=1.0, drip_interval_s=1.5)) as replica:
        settings = dataclasses.replace(ClientSettings.local(replica.base_url), timeout_s=1.0, max_retries=1)
        result = download_attachments(settings, pdf_attachment_urls(replica, 1), tmp_path)
    [record] = result.records
    assert record.status == "failed" and "failed 2 times, last: timeout" in record.error, record.error
    assert result.stats.retries_by_reason == {"timeout": 1}


def test_a_control_character_in_one_feed_item_loses_no_article_and_is_recorded(tmp_path: Path) -> None:
    target = 40  # two global feed pages
    with ReplicaServer(faults=Faults(feed_control_char_rate=1.0)) as replica, dg.instance_for_test() as instance:
        truth = replica.visible_articles()[:target]
        result = materialize(replica, tmp_path, [ingestion.article_index], instance, target=target)
        hits = [e.path for e in replica.fault_log if e.fault == "control_char"]
    assert "/global/rss2" in hits and "/global/rss2?page=2" in hits
    assert_articles_exactly_once(tmp_path, truth)
    failures = dict(rows(tmp_path, "SELECT url, reason FROM fetch_failures WHERE item = 'rss2'"))
    assert sorted(failures) == [f"{replica.base_url}/rss2", f"{replica.base_url}/rss2?page=2"], failures
    assert all("is not well-formed XML" in reason and "T0" in reason for reason in failures.values())
    assert metadata(result, "article_index")["new"] == target


def test_an_item_whose_id_is_unreadable_is_found_on_the_listing_page() -> None:
    faults = Faults(feed_control_char_rate=1.0, feed_control_char_hides_id=True)
    with ReplicaServer(faults=faults) as replica:
        newest = replica.visible_articles()[:20]
        result = fetch_articles(ClientSettings.local(replica.base_url), target=20, known={})
        listing_reads = replica.stats.get("listing", 0)
    by_id = {a.id: a for a in newest}
    assert sorted(r.id for r in result.new) == sorted(by_id)
    assert all(r.body_text == by_id[r.id].body_text for r in result.new)
    assert any(f.item == "rss2" and "no article id" in f.reason for f in result.failures)
    assert listing_reads >= 1


def test_a_port_other_than_the_base_urls_is_refused_for_links(tmp_path: Path) -> None:
    with ReplicaServer() as allowed, ReplicaServer() as other:
        [(article_id, url)] = pdf_attachment_urls(other, 1)
        before = other.stats.get("attachment", 0)
        [record] = download_attachments(ClientSettings.local(allowed.base_url), [(article_id, url)], tmp_path).records
        assert other.stats.get("attachment", 0) == before
    assert record.status == "failed" and "is not one of the allowed origins" in record.error


def test_a_long_retry_after_defers_the_item_to_the_next_run_without_failing_it(tmp_path: Path) -> None:
    with ReplicaServer() as replica, dg.instance_for_test() as instance:
        assets = [ingestion.article_index, ingestion.raw_pdfs]
        materialize(replica, tmp_path, [ingestion.article_index], instance, target=TARGET)
        # Every request now answers 429 "come back in an hour" (the feeds too: nothing new is found).
        replica.faults = Faults(throttle_rate=1.0, retry_after_s=3600)
        started = time.monotonic()
        first = materialize(replica, tmp_path, assets, instance, target=TARGET)
        assert time.monotonic() - started < 30
        deferred = rows(tmp_path, "SELECT status, error FROM attachments")
        assert deferred and all(status == "deferred" and "retry after 3600 s" in error for status, error in deferred)
        found = metadata(first, "raw_pdfs")
        assert (found["deferred"], found["failed"]) == (len(deferred), 0)
        assert len(found["deferred_items"]) == len(deferred)
        assert check_of(first, "raw_pdfs").passed  # a deferral is no failure
        assert len(pending_attachments(tmp_path / "catalog.duckdb")) == len(deferred)

        replica.faults = Faults()
        second = materialize(replica, tmp_path, assets, instance, target=TARGET)
    assert metadata(second, "raw_pdfs")["requested"] == len(deferred)
    assert "deferred" not in {status for (status,) in rows(tmp_path, "SELECT status FROM attachments")}


def test_a_detail_page_asking_for_a_long_wait_defers_its_article_to_the_next_run(tmp_path: Path) -> None:
    faults = Faults(throttle_rate=1.0, throttle_route="detail", retry_after_s=3600)
    with ReplicaServer(faults=faults) as replica, dg.instance_for_test() as instance:
        first = materialize(replica, tmp_path, [ingestion.article_index], instance, target=TARGET)
        found = metadata(first, "article_index")
        assert (found["new"], found["failed"], found["deferred"]) == (0, 0, TARGET)
        assert all("retry after 3600 s" in d["reason"] for d in found["deferred_items"])
        assert check_of(first, "article_index").passed
        assert rows(tmp_path, "SELECT count(*) FROM fetch_failures") == [(0,)]  # no attempt counted against it

        replica.faults = Faults()
        second = materialize(replica, tmp_path, [ingestion.article_index], instance, target=TARGET)
    assert (metadata(second, "article_index")["new"], metadata(second, "article_index")["deferred"]) == (TARGET, 0)


def test_a_retry_after_longer_than_the_backoff_but_within_the_ceiling_is_waited_for(tmp_path: Path) -> None:
    # About half the first requests are throttled for 2 s, longer than the 0.1 s maximum back-off.
    with ReplicaServer(faults=Faults(throttle_rate=0.5, retry_after_s=2, seed=5)) as replica:
        settings = dataclasses.replace(ClientSettings.local(replica.base_url), backoff_max_s=0.1, max_retry_after_s=5.0)
        items = pdf_attachment_urls(replica, 6)
        started = time.monotonic()
        records = download_attachments(settings, items, tmp_path).records
        seconds = time.monotonic() - started
        throttled = [e for e in replica.fault_log if e.fault == "throttle"]
    assert throttled and seconds >= 2.0
    assert [r.status for r in records] == ["ok"] * len(items), [r.error for r in records]


def test_partial_files_of_a_killed_run_go_at_the_next_run_unless_a_download_is_in_progress(tmp_path: Path) -> None:
    pdf_dir = tmp_path / "raw" / "pdfs"
    pdf_dir.mkdir(parents=True)
    left_over = pdf_dir / f"{PARTIAL_PREFIX}killed{PARTIAL_SUFFIX}"
    left_over.touch()  # zero bytes, a minute old at most: a run killed just now
    with ReplicaServer() as replica, dg.instance_for_test() as instance:
        result = materialize(replica, tmp_path, [ingestion.article_index, ingestion.raw_pdfs], instance, target=3)
        assert not left_over.exists() and metadata(result, "raw_pdfs")["stale_partials_removed"] == 1

        # Another process downloading into the same folder holds the lock shared: its fresh
        # partial file stays, one untouched for two hours goes.
        busy, old = pdf_dir / f"{PARTIAL_PREFIX}busy{PARTIAL_SUFFIX}", pdf_dir / f"{PARTIAL_PREFIX}old{PARTIAL_SUFFIX}"
        busy.touch()
        old.touch()
        os.utime(old, (time.time() - 7200, time.time() - 7200))
        holder = subprocess.Popen([sys.executable, "-c", (
            "import fcntl, os, sys, time; folder = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(folder, fcntl.LOCK_SH); "
            "print('locked', flush=True); time.sleep(60)"), str(pdf_dir)],
            stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert holder.stdout.readline().strip() == "locked"
            second = materialize(replica, tmp_path, [ingestion.article_index, ingestion.raw_pdfs], instance, target=3)
        finally:
            holder.kill()
            holder.wait()
    assert busy.exists() and not old.exists() and metadata(second, "raw_pdfs")["stale_partials_removed"] == 1
    folder = os.open(pdf_dir, os.O_RDONLY)  # nothing holds the lock after the runs
    try:
        fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(folder)
