"""The DuckDB catalog: metadata for articles, attachments, texts, LLM decisions,
datasets, training runs and evaluation results, and what could not be fetched.

The schema is created and migrated here: `MIGRATIONS[i]` takes the catalog from
version i to i+1, and `schema_version` records how far a file has come. DuckDB
allows one writer per file (a process holding a connection locks out every other
process), so callers open short-lived connections with `connect()` and close them
promptly, and `connect()` waits while another process holds the file.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

LOCK_TIMEOUT_S = 30.0

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema.
    """
    CREATE TABLE articles (
        id VARCHAR PRIMARY KEY,          -- e.g. T0454296EN
        language VARCHAR,
        url VARCHAR NOT NULL,
        title VARCHAR NOT NULL,
        published_at TIMESTAMPTZ,
        category VARCHAR,
        topics VARCHAR[],
        teaser VARCHAR,
        body_text VARCHAR,
        body_sha256 VARCHAR,
        attachment_urls VARCHAR[],
        first_seen_at TIMESTAMPTZ NOT NULL,
        fetched_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE attachments (
        article_id VARCHAR NOT NULL,
        url VARCHAR NOT NULL,
        sha256 VARCHAR,
        path VARCHAR,
        bytes BIGINT,
        pages INTEGER,
        status VARCHAR NOT NULL,         -- ok | not_pdf | failed | deferred
        error VARCHAR,
        fetched_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (article_id, url)
    );
    CREATE TABLE texts (
        article_id VARCHAR NOT NULL,
        stage VARCHAR NOT NULL,          -- regex | llm
        source VARCHAR,                  -- pdf | html_fallback
        text_sha256 VARCHAR,
        input_sha256 VARCHAR,            -- what this stage was computed from
        path VARCHAR,
        chars INTEGER,
        precision DOUBLE,
        recall DOUBLE,
        f1 DOUBLE,
        rules_hit VARCHAR[],
        status VARCHAR NOT NULL,         -- ok | fallback | rejected | failed
        reason VARCHAR,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (article_id, stage)
    );
    CREATE TABLE llm_decisions (
        text_sha256 VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        prompt_version VARCHAR NOT NULL,
        decision JSON NOT NULL,          -- kept paragraph indices, rejection and reason
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (text_sha256, model, prompt_version)
    );
    CREATE TABLE dataset_versions (
        version VARCHAR PRIMARY KEY,     -- content hash of the split files
        path VARCHAR NOT NULL,
        rows_train INTEGER, rows_validation INTEGER, rows_test INTEGER,
        tokens_train BIGINT, tokens_validation BIGINT, tokens_test BIGINT,
        articles INTEGER,
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE dataset_splits (
        version VARCHAR NOT NULL,
        article_id VARCHAR NOT NULL,
        split VARCHAR NOT NULL,          -- train | validation | test
        PRIMARY KEY (version, article_id)
    );
    CREATE TABLE training_runs (
        variant VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        dataset_version VARCHAR,
        config_sha256 VARCHAR,
        path VARCHAR,
        status VARCHAR NOT NULL,
        tokens_per_second DOUBLE,
        wall_seconds DOUBLE,
        train_loss DOUBLE,
        eval_loss DOUBLE,
        layers INTEGER,
        total_params BIGINT,
        trainable_params BIGINT,
        device VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (variant, run_id)
    );
    CREATE TABLE eval_results (
        variant VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        value DOUBLE,
        n INTEGER,
        config_sha256 VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (variant, run_id, metric)
    );
    """,
    # 1 -> 2: what article_index could not fetch, kept until a later run fetches it.
    """
    CREATE TABLE fetch_failures (
        item VARCHAR NOT NULL,           -- an article id, or the feed or listing that failed
        url VARCHAR NOT NULL,
        reason VARCHAR,
        attempts INTEGER NOT NULL,       -- runs that failed on it since it last succeeded
        first_failed_at TIMESTAMPTZ NOT NULL,
        last_failed_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (item, url)
    );
    """,
    # 2 -> 3: the text gates' verdict per text (bmw_assets.text.gates); source gains 'rejected'.
    """
    ALTER TABLE texts ADD COLUMN gate VARCHAR;              -- the gate that fired (PDF text first), NULL if none
    ALTER TABLE texts ADD COLUMN gate_score DOUBLE;         -- that gate's score
    ALTER TABLE texts ADD COLUMN detected_language VARCHAR; -- of the text whose gate fired, else of the text used
    ALTER TABLE texts ADD COLUMN gate_scores JSON;          -- {"pdf": {gate: score}, "html": {gate: score}}
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations in one transaction each; return the resulting version."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMPTZ DEFAULT now())"
    )
    current = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"catalog is at schema version {current}, newer than this code's {SCHEMA_VERSION}; upgrade bmw_assets"
        )
    for version in range(current, SCHEMA_VERSION):
        with transaction(con):
            con.execute(MIGRATIONS[version])
            con.execute("INSERT INTO schema_version (version) VALUES (?)", [version + 1])
    return SCHEMA_VERSION


def _open_waiting(path: Path, read_only: bool, lock_timeout_s: float) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, retried with backoff while another process holds the file's lock."""
    deadline = time.monotonic() + lock_timeout_s
    wait_s = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                raise
        time.sleep(min(wait_s * random.uniform(0.5, 1.5), max(0.0, deadline - time.monotonic())))
        wait_s = min(wait_s * 2, 0.5)


@contextlib.contextmanager
def connect(
    path: Path | str, read_only: bool = False, lock_timeout_s: float = LOCK_TIMEOUT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the catalog at `path` (created and migrated if needed) and close it on exit.

    While another process holds the file (DuckDB's one-writer lock), retry for up to
    `lock_timeout_s` seconds; then raise duckdb.IOException naming the holder.
    """
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = _open_waiting(path, read_only, lock_timeout_s)
    try:
        if not read_only:
            migrate(con)
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block of writes all-or-nothing: a crash mid-way leaves the catalog as before."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def rows_as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The rows of an executed query as dicts keyed by column name."""
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
