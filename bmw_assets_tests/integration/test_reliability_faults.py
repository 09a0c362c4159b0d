"""The fault matrix (data half): `article_index`, `raw_pdfs` and `regex_text` materialized against
the replica with its fault knobs on, into a real DuckDB catalog and a temp Dagster instance.

Already covered elsewhere, so not repeated here: the client alone under 5xx/429/resets/malformed
pages (test_pressclub_client.py::test_faults_every_article_once...), the size cap on one download
and edit detection by the client (same file). Here: 2 s latency spikes against a shorter client
timeout, retries reported by the assets, every bad file (an HTML error page, truncated, garbled,
too large, a deflate bomb, a damaged page object, slow to parse) recorded per item in the catalog
with its reason while good items stay intact, feeds that end early, an edit reaching the PDF and its
text, and the failure-rate checks (WARN by default, ERROR blocks downstream). Each hostile answer of
issue #18 (slow drip, long Retry-After, a control character in a feed item, another port...) also
has a test of its own in test_reliability_ingestion_faults.py.

The replica draws faults per URL (the n-th request of a path always gets the same fault), so each
test is deterministic; its `fault_log` says what every request got.
"""

from __future__ import annotations

import dataclasses
import hashlib
import urllib.request
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb

from bmw_assets.defs import ingestion, text
from bmw_assets.defs.failure_checks import FAILURE_RATE_CHECK, FailurePolicyResource
from bmw_assets.defs.io_manager import ManifestIOManager
from bmw_assets.defs.resources import PressClubResource, ReplicaPressClubResource, StorageResource
from bmw_assets.pressclub import ClientSettings, fetch_articles
from bmw_assets.replica import Faults, ReplicaServer
from bmw_assets.replica.faults import document_fault
from bmw_assets.replica.pdf_shapes import NO_PDF_SHAPES

TARGET = 40


class TunedPressClub(ReplicaPressClubResource):
    """The replica's client with a shorter read timeout and size cap, so a 2 s latency
    spike times out (and is retried) and a 2 MB PDF is too large, within a test's time."""

    timeout_s: float = 10.0
    max_download_bytes: int = 64 * 1024 * 1024

    def client_settings(self) -> ClientSettings:
        return dataclasses.replace(
            super().client_settings(), timeout_s=self.timeout_s, max_download_bytes=self.max_download_bytes
        )


def materialize(
    replica: ReplicaServer,
    root: Path,
    assets: list,
    instance: dg.DagsterInstance,
    *,
    pressclub: PressClubResource | None = None,
    policy: FailurePolicyResource | None = None,
    pdf_timeout_s: float = 30.0,
    raise_on_error: bool = True,
    target: int = TARGET,
) -> dg.ExecuteInProcessResult:
    run_config = None
    if text.regex_text in assets:
        run_config = {"ops": {"regex_text": {"config": {"pdf_timeout_s": pdf_timeout_s}}}}
    pressclub = pressclub or ReplicaPressClubResource(base_url=replica.base_url, default_target=target)
    return dg.materialize(
        assets,
        resources={
            "storage": StorageResource(root=str(root)),
            "pressclub": pressclub,
            "io_manager": ManifestIOManager(root=str(root / "manifests")),
            "failure_policy": policy or FailurePolicyResource(),
        },
        instance=instance,
        run_config=run_config,
        raise_on_error=raise_on_error,
    )


def rows(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def check_of(result: dg.ExecuteInProcessResult, asset: str) -> dg.AssetCheckEvaluation:
    [evaluation] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey(asset) and e.check_name == FAILURE_RATE_CHECK
    ]
    return evaluation


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def served_without_transfer_faults(replica: ReplicaServer, url: str) -> bytes:
    """What the replica serves for `url` when no transfer fault hits (document faults stay)."""
    saved = replica.faults
    replica.faults = Faults(
        huge_pdf_rate=saved.huge_pdf_rate,
        huge_pdf_bytes=saved.huge_pdf_bytes,
        slow_pdf_rate=saved.slow_pdf_rate,
        seed=saved.seed,
    )
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()
    finally:
        replica.faults = saved


def render_attachments(replica: ReplicaServer, articles: list) -> None:
    """Have the replica render (and cache) these articles' files first: it renders a PDF in its
    event loop on first request, which under 32 parallel downloads outlasts a 1 s read timeout."""
    for article in articles:
        for attachment in article.attachments:
            url = f"{replica.base_url}/article/attachment/{article.id}/{attachment.attachment_id}"
            served_without_transfer_faults(replica, url)


def assert_articles_exactly_once(root: Path, truth: list) -> None:
    """The catalog holds the newest articles, each once, with the replica's body and all its topics."""
    stored = {r[0]: r[1:] for r in rows(root, "SELECT id, body_sha256, topics FROM articles")}
    assert len(rows(root, "SELECT id FROM articles")) == len(stored)
    assert sorted(stored) == sorted(a.id for a in truth)
    for article in truth:
        body_sha, topics = stored[article.id]
        assert body_sha == hashlib.sha256(article.body_text.encode()).hexdigest(), article.id
        assert sorted(topics) == sorted(str(t) for t in article.topics), article.id


def test_5xx_429_resets_and_2s_spikes_every_article_once_retries_reported(tmp_path: Path) -> None:
    faults = Faults(error_rate=0.2, throttle_rate=0.05, retry_after_s=1, reset_rate=0.03,
                    spike_rate=0.05, spike_s=2.0, seed=11)  # fmt: skip
    with ReplicaServer(faults=faults) as replica, dg.instance_for_test() as instance:
        truth = replica.visible_articles()[:TARGET]
        render_attachments(replica, truth)
        # A 1 s read timeout turns each 2 s spike into a timeout the client must retry.
        pressclub = TunedPressClub(base_url=replica.base_url, default_target=TARGET, timeout_s=1.0)
        result = materialize(
            replica, tmp_path, [ingestion.article_index, ingestion.raw_pdfs], instance, pressclub=pressclub
        )
        log = replica.fault_log
    spiked = [e for e in log if e.delay_s >= 2.0]
    assert len(spiked) >= 2, "the run met at least two 2 s latency spikes"
    assert_articles_exactly_once(tmp_path, truth)
    assert any(len(a.topics) > 1 for a in truth), "some articles are filed under several topics"

    index, pdfs = metadata(result, "article_index"), metadata(result, "raw_pdfs")
    assert index["new"] == TARGET and index["failed"] == 0
    reasons = Counter(index["retries_by_reason"]) + Counter(pdfs["retries_by_reason"])
    assert index["retries"] + pdfs["retries"] == sum(reasons.values())
    # Every fault the client met is one reported retry: a spiked request times out (whatever else
    # it carried), 503s and 429s are retried. A reset on a reused keep-alive connection is retried
    # once inside aiohttp itself, so only resets that hit twice in a row show as connection_error.
    unspiked = Counter(e.fault for e in log if e.delay_s < 2.0)
    assert reasons["timeout"] >= len(spiked)
    assert (reasons["http_503"], reasons["http_429"]) == (unspiked["error"], unspiked["throttle"]) > (0, 0)
    assert unspiked["reset"] > 0 and reasons["connection_error"] <= unspiked["reset"]

    # Transfer faults only: every PDF attachment arrives whole; photos and zips are not_pdf.
    expected = {(a.id, att.attachment_id): att.kind for a in truth for att in a.attachments}
    stored = rows(tmp_path, "SELECT article_id, url, status, path, sha256 FROM attachments")
    assert len(stored) == len(expected)
    for article_id, url, status, path, sha in stored:
        kind = expected[(article_id, int(url.split("/")[7]))]
        assert status == ("ok" if kind == "pdf" else "not_pdf"), (url, status)
        if status == "ok":
            assert Path(path).name == f"{sha}.pdf" and sha256_file(path) == sha
    for name in ("article_index", "raw_pdfs"):
        check = check_of(result, name)
        assert check.passed and check.metadata["failed"].value == 0


def test_bad_files_recorded_per_item_good_items_unaffected_and_failure_rate_check_warns_then_blocks(
    tmp_path: Path,
) -> None:
    faults = Faults(truncated_attachment_rate=0.05, corrupt_attachment_rate=0.05, non_pdf_attachment_rate=0.05,
                    malformed_page_rate=0.05, huge_pdf_rate=0.05, huge_pdf_bytes=2_000_000, slow_pdf_rate=0.05,
                    bomb_pdf_rate=0.05, damaged_pdf_rate=0.1, seed=3)  # fmt: skip
    assets = [ingestion.article_index, ingestion.raw_pdfs, text.regex_text]
    # Every PDF is the article's (no wrong-language, garbled or table-only ones: test_text_gates has
    # those), so each text's source follows from its transfer fault alone.
    with ReplicaServer(faults=faults, pdf_shapes=NO_PDF_SHAPES) as replica, dg.instance_for_test() as instance:
        truth = replica.visible_articles()[:TARGET]
        pressclub = TunedPressClub(base_url=replica.base_url, default_target=TARGET, max_download_bytes=1_000_000)
        strict = FailurePolicyResource(max_failure_rate=0.02)  # severity: the default, WARN
        first = materialize(replica, tmp_path, assets, instance, pressclub=pressclub, policy=strict, pdf_timeout_s=1.5)
        log = replica.fault_log
        pdf_ids = {att.attachment_id for a in truth for att in a.attachments if att.kind == "pdf"}
        documents = Counter(document_fault(faults, i) for i in pdf_ids)
        assert min(documents[k] for k in ("huge", "slow", "bomb", "damaged")) >= 1, documents

        # Malformed pages were retried: every article still arrives once with the right body.
        assert_articles_exactly_once(tmp_path, truth)
        # The fault the last request for each attachment met (by attachment id).
        last_fault = {int(e.path.split("/")[5]): e.fault
                      for e in log if e.path.startswith("/global/article/attachment/")}  # fmt: skip
        seen = Counter(last_fault.values())
        assert seen["corrupt"] >= 1 and seen["non_pdf"] >= 1, seen
        assert any(e.fault == "truncated" for e in log) and any(e.fault == "malformed" for e in log)

        by_article = {a.id: a for a in truth}
        texts = {r[0]: r[1:] for r in rows(tmp_path, "SELECT article_id, status, source, reason FROM texts")}
        timed_out = 0
        for article_id, url, status, path, sha, error in rows(
            tmp_path, "SELECT article_id, url, status, path, sha256, error FROM attachments"
        ):
            attachment_id = int(url.split("/")[7])
            kind = next(a.kind for a in by_article[article_id].attachments if a.attachment_id == attachment_id)
            fault = last_fault[attachment_id]
            document = document_fault(faults, attachment_id) if kind == "pdf" else None
            if fault == "non_pdf":  # an HTML error page: a failure, tried again on the next run
                assert status == "failed" and "HTML page instead of the file" in error and path is None, (url, error)
            elif kind != "pdf":
                assert status == "not_pdf" and "%PDF" in error and path is None, (url, status, error)
            elif document == "huge":
                assert status == "failed" and "max_download_bytes=1000000" in error, (url, status, error)
            elif document == "bomb":
                assert status == "failed" and "inflate past" in error, (url, status, error)
            elif document == "damaged":
                assert status == "failed" and "damaged" in error, (url, status, error)
            elif fault == "corrupt":
                assert status == "failed" and "pypdf cannot read it" in error, (url, status, error)
            else:  # whole, and byte for byte what the replica serves
                assert status == "ok" and error is None, (url, status, error)
                served = served_without_transfer_faults(replica, url)
                assert sha == sha256_file(path) == hashlib.sha256(served).hexdigest()
            text_status, source, reason = texts[article_id]
            if status == "ok" and document == "slow":
                assert (text_status, source) == ("fallback", "html_fallback") and "timeout" in reason, reason
                timed_out += 1
            elif status == "ok":
                assert (text_status, source) == ("ok", "pdf"), (article_id, reason)
            else:
                assert (text_status, source, reason) == ("fallback", "html_fallback", "no PDF attachment")

        # Above the limit: the checks fail as warnings, and regex_text still ran.
        raw_check, text_check = check_of(first, "raw_pdfs"), check_of(first, "regex_text")
        failed_files = rows(tmp_path, "SELECT count(*) FROM attachments WHERE status = 'failed'")[0][0]
        assert not raw_check.passed and raw_check.severity == dg.AssetCheckSeverity.WARN
        assert raw_check.metadata["failed"].value == failed_files >= documents["huge"] + documents["bomb"] + 1
        assert not text_check.passed and text_check.severity == dg.AssetCheckSeverity.WARN
        assert text_check.metadata["failed"].value == timed_out >= 1
        assert check_of(first, "article_index").passed

        # Severity ERROR: the failed files are retried, the huge, bomb and damaged ones fail again,
        # and the blocking check keeps regex_text from running on an incomplete set of PDFs.
        blocking = FailurePolicyResource(max_failure_rate=0.02, severity="ERROR")
        second = materialize(
            replica,
            tmp_path,
            assets,
            instance,
            pressclub=pressclub,
            policy=blocking,
            pdf_timeout_s=1.5,
            raise_on_error=False,
        )
        last_fault = {int(e.path.split("/")[5]): e.fault
                      for e in replica.fault_log if e.path.startswith("/global/article/attachment/")}  # fmt: skip
    raw_check = check_of(second, "raw_pdfs")
    assert not raw_check.passed and raw_check.severity == dg.AssetCheckSeverity.ERROR
    # What fails for good fails again; an error page or a garbled transfer may strike a retry anew.
    failed_ids = {
        int(url.split("/")[7]) for (url,) in rows(tmp_path, "SELECT url FROM attachments WHERE status = 'failed'")
    }
    assert failed_ids == {i for i in pdf_ids if document_fault(faults, i) in ("huge", "bomb", "damaged")} | {
        i for i, fault in last_fault.items() if fault == "non_pdf" or (fault == "corrupt" and i in pdf_ids)
    }
    assert raw_check.metadata["failed"].value == len(failed_ids) >= documents["huge"] + documents["bomb"] + 1
    assert not second.success
    assert not second.asset_materializations_for_node("regex_text")


def test_feed_ending_early_loses_no_article() -> None:
    # Seed 1 ends the global feed after its second page (two answers in a row say "no more pages")
    # while the 60 newest need three; the topic feeds still bring every article.
    with ReplicaServer(faults=Faults(feed_end_rate=0.5, seed=1)) as replica:
        truth = replica.visible_articles()[:60]
        result = fetch_articles(ClientSettings.local(replica.base_url), target=60, known={})
        ends = Counter(e.path for e in replica.fault_log if e.fault == "feed_end")
    assert ends["/global/rss2?page=3"] == 2, "the global feed was cut short"
    assert sorted(a.id for a in result.new) == sorted(a.id for a in truth) and not result.failures
    # Nothing was lost, but the short feed is said (the same crawl without the fault says nothing).
    assert len(result.notes) == 1 and "rss2 feed ended after 40 articles, before the 60" in result.notes[0]
    with ReplicaServer() as whole:
        assert fetch_articles(ClientSettings.local(whole.base_url), target=60, known={}).notes == []
    by_id = {a.id: a for a in truth}
    for record in result.new:
        assert record.body_text == by_id[record.id].body_text
        assert sorted(record.topics) == sorted(str(t) for t in by_id[record.id].topics)


ARTICLE_STATE = "SELECT id, body_sha256, first_seen_at, fetched_at FROM articles"


def test_edit_after_first_fetch_updates_the_row_its_pdf_and_its_text_without_duplicates(tmp_path: Path) -> None:
    assets = [ingestion.article_index, ingestion.raw_pdfs, text.regex_text]
    target = 15
    with ReplicaServer() as replica, dg.instance_for_test() as instance:
        materialize(replica, tmp_path, assets, instance, target=target)
        before = {r[0]: r[1:] for r in rows(tmp_path, ARTICLE_STATE)}
        pdf_before = dict(rows(tmp_path, "SELECT article_id, sha256 FROM attachments WHERE status = 'ok'"))
        edited = [a for a in replica.visible_articles()[:target] if a.attachments and a.attachments[0].kind == "pdf"][2]
        replica.edit(edited.id)
        second = materialize(replica, tmp_path, assets, instance, target=target)
        revised = next(a for a in replica.visible_articles() if a.id == edited.id)
    index = metadata(second, "article_index")
    assert (index["new"], index["updated"], index["total_articles"]) == (0, 1, target)
    after = {r[0]: r[1:] for r in rows(tmp_path, ARTICLE_STATE)}
    assert sorted(after) == sorted(before)
    assert after[edited.id][0] == hashlib.sha256(revised.body_text.encode()).hexdigest() != before[edited.id][0]
    assert after[edited.id][1] == before[edited.id][1] and after[edited.id][2] > before[edited.id][2]
    assert all(after[i] == before[i] for i in after if i != edited.id)

    # The edited article's PDF is fetched again (same URL, new content); no other download.
    assert metadata(second, "raw_pdfs")["requested"] == len(edited.attachments)
    pdf_after = dict(rows(tmp_path, "SELECT article_id, sha256 FROM attachments WHERE status = 'ok'"))
    assert pdf_after[edited.id] != pdf_before[edited.id]
    assert {k: v for k, v in pdf_after.items() if k != edited.id} == {
        k: v for k, v in pdf_before.items() if k != edited.id
    }
    for table, key in (("articles", "id"), ("attachments", "article_id, url"), ("texts", "article_id, stage")):
        assert rows(tmp_path, f"SELECT count(*) - count(DISTINCT ({key})) FROM {table}")[0][0] == 0, table
    [(path, status)] = rows(tmp_path, f"SELECT path, status FROM texts WHERE article_id = '{edited.id}'")
    assert status == "ok" and "updated after publication (revision 2)" in Path(path).read_text()
    assert metadata(second, "regex_text")["processed"] == 1
