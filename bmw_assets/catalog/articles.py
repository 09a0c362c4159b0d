"""Queries on `articles`, `attachments` and `fetch_failures`: what `article_index` and `raw_pdfs` store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import polars as pl

from bmw_assets.catalog.connection import rows_as_dicts

ARTICLE_COLUMNS = (
    "id", "language", "url", "title", "published_at", "category", "topics", "teaser",
    "body_text", "body_sha256", "attachment_urls",
)  # fmt: skip
ATTACHMENT_COLUMNS = ("article_id", "url", "sha256", "path", "bytes", "pages", "status", "error")


def body_hashes(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """Every article's body hash, by article id."""
    return dict(con.execute("SELECT id, body_sha256 FROM articles").fetchall())


def article_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in con.execute("SELECT id FROM articles").fetchall()}


def count_articles(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM articles").fetchall()[0][0]


def upsert_articles(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert articles (ARTICLE_COLUMNS, first_seen_at, fetched_at) or update the stored ones;
    first_seen_at survives an update: it says when the article first appeared."""
    con.executemany(
        f"""INSERT INTO articles ({", ".join(ARTICLE_COLUMNS)}, first_seen_at, fetched_at)
            VALUES ({", ".join("?" * (len(ARTICLE_COLUMNS) + 2))})
            ON CONFLICT (id) DO UPDATE SET
            {", ".join(f"{c} = excluded.{c}" for c in ARTICLE_COLUMNS if c != "id")},
            fetched_at = excluded.fetched_at""",
        rows,
    )


def replace_articles(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert articles (ARTICLE_COLUMNS, first_seen_at, fetched_at), replacing stored ones whole."""
    con.executemany(
        f"INSERT OR REPLACE INTO articles ({', '.join(ARTICLE_COLUMNS)}, first_seen_at, fetched_at) "
        f"VALUES ({', '.join('?' * (len(ARTICLE_COLUMNS) + 2))})",
        rows,
    )


def newest_articles_preview(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The ten newest articles: id, published_at, title, body length (chars) and attachment count."""
    return con.sql(
        "SELECT id, published_at::VARCHAR AS published_at, title, len(body_text) AS body_chars, "
        "len(attachment_urls) AS attachments FROM articles ORDER BY published_at DESC LIMIT 10"
    ).pl()


def clear_fetch_failures_of(con: duckdb.DuckDBPyConnection, fetched_ids: Sequence[str]) -> None:
    """Forget the failures of items that were fetched now."""
    con.execute("CREATE TEMP TABLE IF NOT EXISTS fetched_now (id VARCHAR)")
    con.execute("DELETE FROM fetched_now")
    if fetched_ids:
        con.executemany("INSERT INTO fetched_now VALUES (?)", [(i,) for i in fetched_ids])
    con.execute("DELETE FROM fetch_failures WHERE item IN (SELECT id FROM fetched_now)")


def fetch_failure_keys(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(item, url) of every stored fetch failure."""
    return con.execute("SELECT item, url FROM fetch_failures").fetchall()


def delete_fetch_failures(con: duckdb.DuckDBPyConnection, keys: Sequence[tuple[str, str]]) -> None:
    con.executemany("DELETE FROM fetch_failures WHERE item = ? AND url = ?", keys)


def add_fetch_failures(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Record failures (item, url, reason, first_failed_at, last_failed_at); one already stored
    counts one more attempt and takes the new reason and time."""
    con.executemany(
        """INSERT INTO fetch_failures VALUES (?, ?, ?, 1, ?, ?)
           ON CONFLICT (item, url) DO UPDATE SET reason = excluded.reason,
           attempts = fetch_failures.attempts + 1, last_failed_at = excluded.last_failed_at""",
        rows,
    )


def persistent_fetch_failures(con: duckdb.DuckDBPyConnection, min_attempts: int) -> list[dict[str, Any]]:
    """Items that failed in at least `min_attempts` runs since they last succeeded, most attempts first."""
    return rows_as_dicts(
        con.execute(
            "SELECT item, url, reason, attempts, first_failed_at::VARCHAR AS first_failed_at FROM fetch_failures "
            "WHERE attempts >= ? ORDER BY attempts DESC, item",
            [min_attempts],
        )
    )


def pending_attachments(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(article_id, url) pairs to download: new ones, earlier failures and deferrals, and those
    of articles edited since their attachment was fetched (an edited article may carry an edited PDF).

    A `not_pdf` row that recorded an HTML page is tried again too: older runs stored error
    pages so, which now count as failures."""
    return con.execute(
        """SELECT a.id, u.url FROM articles a, unnest(a.attachment_urls) AS u(url)
           LEFT JOIN attachments t ON t.article_id = a.id AND t.url = u.url
           WHERE t.status IS NULL OR t.status IN ('failed', 'deferred') OR t.fetched_at < a.fetched_at
              OR (t.status = 'not_pdf' AND t.error LIKE 'starts with b''<%')
           ORDER BY a.published_at, a.id"""
    ).fetchall()


def stored_pdf_totals(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(attachments stored as PDF, their bytes)."""
    return con.execute("SELECT count(*), coalesce(sum(bytes), 0) FROM attachments WHERE status = 'ok'").fetchall()[0]


def replace_attachments(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert attachments (ATTACHMENT_COLUMNS, fetched_at), replacing stored ones."""
    con.executemany(
        f"""INSERT OR REPLACE INTO attachments ({", ".join(ATTACHMENT_COLUMNS)}, fetched_at)
            VALUES ({", ".join("?" * (len(ATTACHMENT_COLUMNS) + 1))})""",
        rows,
    )
