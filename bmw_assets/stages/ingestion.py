"""`article_index` and `raw_pdfs`: press releases and their PDF attachments into the catalog."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bmw_assets.catalog import connect, rows_as_dicts, transaction
from bmw_assets.pressclub import AttachmentRecord, ClientSettings, download_attachments, fetch_articles
from bmw_assets.pressclub.download import remove_partials
from bmw_assets.pressclub.urls import ARTICLE_ID

ARTICLE_COLUMNS = (
    "id", "language", "url", "title", "published_at", "category", "topics", "teaser",
    "body_text", "body_sha256", "attachment_urls",
)  # fmt: skip
ATTACHMENT_COLUMNS = ("article_id", "url", "sha256", "path", "bytes", "pages", "status", "error")
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
        known = dict(con.execute("SELECT id, body_sha256 FROM articles").fetchall())
    result = fetch_articles(client, target=target, since=since, known=known, progress=progress)
    now = datetime.now(UTC)
    rows = [(*(getattr(r, c) for c in ARTICLE_COLUMNS), now, now) for r in [*result.new, *result.updated]]
    fetched = [r.id for r in [*result.new, *result.updated]] + list(result.unchanged_ids)
    with connect(catalog_path) as con:
        with transaction(con):  # articles and failures together: a kill leaves both as they were
            _record_fetch_failures(con, result.failures, fetched, now)
            if rows:
                # first_seen_at survives an update: it says when the article first appeared.
                con.executemany(
                    f"""INSERT INTO articles ({", ".join(ARTICLE_COLUMNS)}, first_seen_at, fetched_at)
                        VALUES ({", ".join("?" * (len(ARTICLE_COLUMNS) + 2))})
                        ON CONFLICT (id) DO UPDATE SET
                        {", ".join(f"{c} = excluded.{c}" for c in ARTICLE_COLUMNS if c != "id")},
                        fetched_at = excluded.fetched_at""",
                    rows,
                )
        total = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
        preview = con.sql(
            "SELECT id, published_at::VARCHAR AS published_at, title, len(body_text) AS body_chars, "
            "len(attachment_urls) AS attachments FROM articles ORDER BY published_at DESC LIMIT 10"
        ).pl()
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
    con.execute("CREATE TEMP TABLE IF NOT EXISTS fetched_now (id VARCHAR)")
    con.execute("DELETE FROM fetched_now")
    if fetched_ids:
        con.executemany("INSERT INTO fetched_now VALUES (?)", [(i,) for i in fetched_ids])
    con.execute("DELETE FROM fetch_failures WHERE item IN (SELECT id FROM fetched_now)")
    # Feeds and listings are read on every run: one that did not fail now has recovered.
    stale_feeds = [
        (item, url)
        for item, url in con.execute("SELECT item, url FROM fetch_failures").fetchall()
        if not ARTICLE_ID.fullmatch(item) and (item, url) not in failing
    ]
    if stale_feeds:
        con.executemany("DELETE FROM fetch_failures WHERE item = ? AND url = ?", stale_feeds)
    if failures:
        con.executemany(
            """INSERT INTO fetch_failures VALUES (?, ?, ?, 1, ?, ?)
               ON CONFLICT (item, url) DO UPDATE SET reason = excluded.reason,
               attempts = fetch_failures.attempts + 1, last_failed_at = excluded.last_failed_at""",
            [(f.item, f.url, f.reason, now, now) for f in failures],
        )


def persistent_fetch_failures(catalog_path: Path, min_attempts: int = 3) -> list[dict[str, Any]]:
    """Items that failed in at least `min_attempts` runs since they last succeeded, most attempts first."""
    with connect(catalog_path) as con:
        return rows_as_dicts(
            con.execute(
                "SELECT item, url, reason, attempts, first_failed_at::VARCHAR AS first_failed_at FROM fetch_failures "
                "WHERE attempts >= ? ORDER BY attempts DESC, item",
                [min_attempts],
            )
        )


def pending_attachments(catalog_path: Path) -> list[tuple[str, str]]:
    """(article_id, url) pairs to download: new ones, earlier failures and deferrals, and those
    of articles edited since their attachment was fetched (an edited article may carry an edited PDF).

    A `not_pdf` row that recorded an HTML page is tried again too: older runs stored error
    pages so, which now count as failures."""
    with connect(catalog_path) as con:
        return con.execute(
            """SELECT a.id, u.url FROM articles a, unnest(a.attachment_urls) AS u(url)
               LEFT JOIN attachments t ON t.article_id = a.id AND t.url = u.url
               WHERE t.status IS NULL OR t.status IN ('failed', 'deferred') OR t.fetched_at < a.fetched_at
                  OR (t.status = 'not_pdf' AND t.error LIKE 'starts with b''<%')
               ORDER BY a.published_at, a.id"""
        ).fetchall()


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
        total_ok, total_bytes = con.execute(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM attachments WHERE status = 'ok'"
        ).fetchall()[0]
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
        con.executemany(
            f"""INSERT OR REPLACE INTO attachments ({", ".join(ATTACHMENT_COLUMNS)}, fetched_at)
                VALUES ({", ".join("?" * (len(ATTACHMENT_COLUMNS) + 1))})""",
            [(*(getattr(r, c) for c in ATTACHMENT_COLUMNS), now) for r in records],
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
