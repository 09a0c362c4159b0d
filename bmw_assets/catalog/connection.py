"""Connections to the DuckDB catalog, and its migration to the current schema (`schema.MIGRATIONS`).

`schema_version` records how far a file has come. DuckDB
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

from bmw_assets.catalog.schema import MIGRATIONS, SCHEMA_VERSION

LOCK_TIMEOUT_S = 30.0


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
