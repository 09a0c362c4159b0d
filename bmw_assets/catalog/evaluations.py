"""Queries on `eval_results`: one row per metric of an evaluated run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb


def replace_eval_results(
    con: duckdb.DuckDBPyConnection, variant: str, run_id: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Replace the metrics of `variant`'s run `run_id` with `rows` (given in column order)."""
    con.execute("DELETE FROM eval_results WHERE variant = ? AND run_id = ?", [variant, run_id])
    con.executemany("INSERT INTO eval_results VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
