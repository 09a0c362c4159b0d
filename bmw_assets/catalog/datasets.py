"""Queries on `dataset_versions` and `dataset_splits`: the ChatML datasets and their articles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb


def clean_article_rows(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """(id, title, published_at, path of the LLM text) of articles whose LLM and regex texts were
    both kept, oldest first."""
    return con.execute(
        """SELECT a.id, a.title, a.published_at, t.path FROM articles a
           JOIN texts t ON t.article_id = a.id AND t.stage = 'llm'
           JOIN texts r ON r.article_id = a.id AND r.stage = 'regex' AND r.status IN ('ok', 'fallback')
           WHERE t.status IN ('ok', 'fallback') AND t.path IS NOT NULL
           ORDER BY a.published_at, a.id"""
    ).fetchall()


def replace_dataset_version(con: duckdb.DuckDBPyConnection, row: Sequence[Any]) -> None:
    """Upsert one `dataset_versions` row, given in column order."""
    con.execute("""INSERT OR REPLACE INTO dataset_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", row)


def replace_splits(con: duckdb.DuckDBPyConnection, version: str, splits: dict[str, str]) -> None:
    """Store the split of every article of dataset `version` (article id -> split), replacing older ones."""
    con.execute("DELETE FROM dataset_splits WHERE version = ?", [version])
    con.executemany(
        "INSERT INTO dataset_splits VALUES (?, ?, ?)",
        [(version, article_id, split) for article_id, split in splits.items()],
    )


def newest_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The most recently built dataset version; None before any."""
    newest = con.execute("SELECT version FROM dataset_versions ORDER BY created_at DESC LIMIT 1").fetchall()
    return newest[0][0] if newest else None


def train_and_test_splits(con: duckdb.DuckDBPyConnection, version: str) -> dict[str, str]:
    """The split of each train and test article of dataset `version`, by article id."""
    return dict(
        con.execute(
            "SELECT article_id, split FROM dataset_splits WHERE version = ? AND split IN ('train', 'test')",
            [version],
        ).fetchall()
    )


def articles_by_source(con: duckdb.DuckDBPyConnection, version: str) -> dict[str, int]:
    """Articles of dataset `version` per source of their regex text."""
    return dict(
        con.execute(
            """SELECT t.source, count(*) FROM dataset_splits s
           JOIN texts t ON t.article_id = s.article_id AND t.stage = 'regex'
           WHERE s.version = ? GROUP BY t.source ORDER BY t.source""",
            [version],
        ).fetchall()
    )


def dataset_articles(con: duckdb.DuckDBPyConnection, version: str) -> list[tuple[Any, ...]]:
    """(url, language, category, published_at) of every article of dataset `version`."""
    return con.execute(
        """SELECT a.url, a.language, a.category, a.published_at FROM dataset_splits s
           JOIN articles a ON a.id = s.article_id WHERE s.version = ?""",
        [version],
    ).fetchall()


def dataset_text_scores(con: duckdb.DuckDBPyConnection, version: str) -> list[tuple[Any, ...]]:
    """(stage, f1, precision, recall) of every scored text of the articles of dataset `version`."""
    return con.execute(
        """SELECT t.stage, t.f1, t.precision, t.recall FROM dataset_splits s
           JOIN texts t ON t.article_id = s.article_id WHERE s.version = ? AND t.f1 IS NOT NULL""",
        [version],
    ).fetchall()
