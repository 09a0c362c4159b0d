"""Queries on `training_runs`: one row per finished training run of a variant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb


def replace_training_run(con: duckdb.DuckDBPyConnection, row: Sequence[Any]) -> None:
    """Upsert one `training_runs` row, given in column order."""
    con.execute(f"INSERT OR REPLACE INTO training_runs VALUES ({', '.join('?' * len(row))})", row)


def trained_on_and_missing(
    con: duckdb.DuckDBPyConnection, newest_version: str, variants: list[str]
) -> list[tuple[str, str | None, int]]:
    """Per variant: the dataset version its latest completed run trained on (None: never trained)
    and how many articles of dataset `newest_version` that version lacks."""
    return con.execute(
        """
        WITH latest AS (
            SELECT variant, arg_max(dataset_version, created_at) AS trained_on
            FROM training_runs WHERE status = 'completed' GROUP BY variant
        )
        SELECT v.variant, latest.trained_on,
               (SELECT count(*) FROM dataset_splits n
                WHERE n.version = ? AND n.article_id NOT IN (
                    SELECT t.article_id FROM dataset_splits t WHERE t.version = latest.trained_on))
        FROM unnest(?::VARCHAR[]) AS v(variant) LEFT JOIN latest USING (variant)
        """,
        [newest_version, variants],
    ).fetchall()
