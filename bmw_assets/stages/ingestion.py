"""`article_index` and `raw_pdfs`: press releases and their PDF attachments into the catalog."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bmw_assets.catalog import articles as catalog_articles
from bmw_assets.catalog import connect, transaction
from bmw_assets.catalog.articles import ARTICLE_COLUMNS, ATTACHMENT_COLUMNS
from bmw_assets.pressclub import AttachmentRecord, ClientSettings, download_attachments, fetch_articles
from bmw_assets.pressclub.download import remove_partials
from bmw_assets.pressclub.urls import ARTICLE_ID

# Attachments downloaded between two catalog commits: a crash loses at most one batch of downloads.
DOWNLOAD_BATCH = 200


@dataclass
class ArticleIndexSummary:
    new: int
    updated: int
    unchanged: int
    failed: int
    total: int
    failures: list[dict[str, str]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    preview: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    deferred: list[dict[str, str]] = field(default_factory=list)  # not failures: fetched on the next run


@dataclass
class RawPdfSummary:
    requested: int
    ok: int
    not_pdf: int
    failed: int
    deferred: int  # the server asked to come back later than max_retry_after_s: tried next run
    total_ok: int
    total_bytes: int
    stats: dict[str, Any] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    stale_partials_removed: int = 0  # partial downloads a killed run left behind


def update_article_index(
    client: ClientSettings,
    catalog_path: Path,
    target: int,
    since: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> ArticleIndexSummary:
    """Fetch the newest `target` articles; insert new ones, update changed ones (new body hash).

    `fetch_failures` then holds what failed in this run (attempts counted across runs) and
    what failed before and was not tried again; an article fetched now leaves it, and so
    does a feed or listing that did not fail this time (they are read on every run)."""
    with connect(catalog_path) as con:
        known = catalog_articles.body_hashes(con)
    result = fetch_articles(client, target=target, since=since, known=known, progress=progress)
    now = datetime.now(UTC)
    rows = [(*(getattr(r, c) for c in ARTICLE_COLUMNS), now, now) for r in [*result.new, *result.updated]]
    fetched = [r.id for r in [*result.new, *result.updated]] + list(result.unchanged_ids)
    with connect(catalog_path) as con:
        with transaction(con):  # articles and failures together: a kill leaves both as they were
            _record_fetch_failures(con, result.failures, fetched, now)
            if rows:
                catalog_articles.upsert_articles(con, rows)
        total = catalog_articles.count_articles(con)
        preview = catalog_articles.newest_articles_preview(con)
    return ArticleIndexSummary(
        new=len(result.new),
        updated=len(result.updated),
        unchanged=len(result.unchanged_ids),
        failed=len(result.failures),
        total=total,
        failures=[asdict(f) for f in result.failures],
        stats=asdict(result.stats),
        preview=preview.to_dicts(),
        notes=result.notes,
        deferred=[asdict(d) for d in result.deferred],
    )


def _record_fetch_failures(con: Any, failures: list[Any], fetched_ids: list[str], now: datetime) -> None:
    failing = {(f.item, f.url) for f in failures}
    catalog_articles.clear_fetch_failures_of(con, fetched_ids)
    # Feeds and listings are read on every run: one that did not fail now has recovered.
    stale_feeds = [
        (item, url)
        for item, url in catalog_articles.fetch_failure_keys(con)
        if not ARTICLE_ID.fullmatch(item) and (item, url) not in failing
    ]
    if stale_feeds:
        catalog_articles.delete_fetch_failures(con, stale_feeds)
    if failures:
        catalog_articles.add_fetch_failures(con, [(f.item, f.url, f.reason, now, now) for f in failures])


def persistent_fetch_failures(catalog_path: Path, min_attempts: int = 3) -> list[dict[str, Any]]:
    """Items that failed in at least `min_attempts` runs since they last succeeded, most attempts first."""
    with connect(catalog_path) as con:
        return catalog_articles.persistent_fetch_failures(con, min_attempts)


def pending_attachments(catalog_path: Path) -> list[tuple[str, str]]:
    """(article_id, url) pairs to download (see `catalog.articles.pending_attachments`)."""
    with connect(catalog_path) as con:
        return catalog_articles.pending_attachments(con)


def update_raw_pdfs(
    client: ClientSettings,
    catalog_path: Path,
    pdf_dir: Path,
    progress: Callable[[str], None] | None = None,
    batch_size: int = DOWNLOAD_BATCH,
) -> RawPdfSummary:
    """Download attachments not yet stored; record every outcome in `attachments`.

    Outcomes are committed every `batch_size` attachments, so a run killed mid-way
    keeps what it downloaded before the last commit and the next run resumes from there;
    the partial files it left are removed first (see `remove_partials`).
    """
    stale = remove_partials(pdf_dir) if Path(pdf_dir).is_dir() else 0
    if stale and progress:
        progress(f"raw_pdfs: removed {stale} partial download(s) a killed run left behind")
    items = pending_attachments(catalog_path)
    records: list[AttachmentRecord] = []
    stats: dict[str, Any] = {}
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        if progress and len(items) > batch_size:
            progress(f"raw_pdfs: batch of {len(batch)} from attachment {start + 1} of {len(items)}")
        result = download_attachments(client, batch, pdf_dir, progress=progress)
        _store_attachments(catalog_path, result.records)
        records += result.records
        stats = _add_counts(stats, asdict(result.stats))
    with connect(catalog_path) as con:
        total_ok, total_bytes = catalog_articles.stored_pdf_totals(con)
    by_status = {s: sum(r.status == s for r in records) for s in ("ok", "not_pdf", "failed", "deferred")}
    return RawPdfSummary(
        requested=len(items),
        ok=by_status["ok"],
        not_pdf=by_status["not_pdf"],
        failed=by_status["failed"],
        deferred=by_status["deferred"],
        total_ok=total_ok,
        total_bytes=int(total_bytes),
        stats=stats,
        failures=[
            {"article_id": r.article_id, "url": r.url, "status": r.status, "error": r.error or ""}
            for r in records
            if r.status != "ok"
        ],
        stale_partials_removed=stale,
    )


def _store_attachments(catalog_path: Path, records: list[AttachmentRecord]) -> None:
    if not records:
        return
    now = datetime.now(UTC)
    with connect(catalog_path) as con, transaction(con):
        catalog_articles.replace_attachments(
            con, [(*(getattr(r, c) for c in ATTACHMENT_COLUMNS), now) for r in records]
        )


def _add_counts(total: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Sum two TransferStats as dicts, key by key (nested count dicts too)."""
    merged = dict(total)
    for key, value in part.items():
        if isinstance(value, dict):
            merged[key] = _add_counts(merged.get(key, {}), value)
        else:
            merged[key] = merged.get(key, 0) + value
    return merged
