"""Queries on `texts` (one row per article and text stage) and `llm_decisions` (the LLM filter's cache)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from bmw_assets.catalog.connection import rows_as_dicts

TEXT_COLUMNS = (
    "article_id", "stage", "source", "text_sha256", "input_sha256", "path", "chars",
    "precision", "recall", "f1", "rules_hit", "status", "reason", "updated_at",
    "gate", "gate_score", "detected_language", "gate_scores",
)  # fmt: skip


def replace_texts(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Upsert `texts` rows, given in TEXT_COLUMNS order."""
    con.executemany(
        f"INSERT OR REPLACE INTO texts ({', '.join(TEXT_COLUMNS)}) VALUES ({', '.join('?' * len(TEXT_COLUMNS))})",
        rows,
    )


def stage_outcomes(con: duckdb.DuckDBPyConnection, stage: str) -> list[tuple[str, str, str, float | None, str | None]]:
    """(article_id, status, source, f1, reason) of every text of `stage`."""
    return con.execute("SELECT article_id, status, source, f1, reason FROM texts WHERE stage = ?", [stage]).fetchall()


def pdf_text_paths(con: duckdb.DuckDBPyConnection, stage: str) -> list[tuple[str, str]]:
    """(article_id, path) of the stored texts of `stage` taken from a PDF, by article id."""
    return con.execute(
        "SELECT article_id, path FROM texts WHERE stage = ? AND source = 'pdf' AND path IS NOT NULL ORDER BY article_id",
        [stage],
    ).fetchall()


def texts_per_gate(con: duckdb.DuckDBPyConnection, stage: str) -> dict[str, int]:
    """How many texts of `stage` each text gate turned down."""
    return dict(
        con.execute(
            "SELECT gate, count(*) FROM texts WHERE stage = ? AND gate IS NOT NULL GROUP BY gate ORDER BY gate",
            [stage],
        ).fetchall()
    )


def gated_examples(con: duckdb.DuckDBPyConnection, stage: str) -> list[dict[str, Any]]:
    """The 20 newest texts of `stage` a gate turned down: gate, score, source used, detected language."""
    return rows_as_dicts(
        con.execute(
            "SELECT article_id, gate, round(gate_score, 3) AS score, source, detected_language FROM texts "
            "WHERE stage = ? AND gate IS NOT NULL ORDER BY updated_at DESC, article_id LIMIT 20",
            [stage],
        )
    )


def counts_by_stage_and_status(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(stage, status, texts) over every stored text."""
    return con.execute("SELECT stage, status, count(*) FROM texts GROUP BY ALL ORDER BY ALL").fetchall()


def regex_inputs(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Per article (oldest first): id, language, body text and hash, the hash and path of its first
    stored PDF, the input hash of its stored regex text, and [title, teaser]."""
    return con.execute(
        """WITH first_pdf AS (
               SELECT a.id, arg_min(t.sha256, list_position(a.attachment_urls, t.url)) AS sha256,
                      arg_min(t.path, list_position(a.attachment_urls, t.url)) AS path
               FROM articles a JOIN attachments t ON t.article_id = a.id AND t.status = 'ok'
               GROUP BY a.id)
           SELECT a.id, a.language, a.body_text, a.body_sha256, p.sha256, p.path, x.input_sha256, [a.title, a.teaser]
           FROM articles a LEFT JOIN first_pdf p ON p.id = a.id
           LEFT JOIN texts x ON x.article_id = a.id AND x.stage = 'regex'
           ORDER BY a.published_at, a.id"""
    ).fetchall()


def delete_llm_texts_of_rejected(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the LLM text of every article whose regex text is now rejected (or failed)."""
    con.execute(
        """DELETE FROM texts WHERE stage = 'llm' AND article_id IN
           (SELECT article_id FROM texts WHERE stage = 'regex' AND status NOT IN ('ok', 'fallback'))"""
    )


def llm_inputs(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Per kept regex text (by article id): article id, its path, hash, source, the article's body,
    and the input hash, F1 of the regex text and status of the stored LLM text."""
    return con.execute(
        """SELECT r.article_id, r.path, r.text_sha256, r.source, a.body_text, l.input_sha256, r.f1, l.status
           FROM texts r JOIN articles a ON a.id = r.article_id
           LEFT JOIN texts l ON l.article_id = r.article_id AND l.stage = 'llm'
           WHERE r.stage = 'regex' AND r.status IN ('ok', 'fallback') AND r.path IS NOT NULL
           ORDER BY r.article_id"""
    ).fetchall()


def cached_decisions(
    con: duckdb.DuckDBPyConnection, hashes: list[str], model: str, prompt_version: str
) -> list[tuple[str, Any]]:
    """(text_sha256, decision) of the cached decisions among `hashes` for this model and prompt."""
    return con.execute(
        "SELECT text_sha256, decision FROM llm_decisions "
        "WHERE model = ? AND prompt_version = ? AND text_sha256 IN (SELECT unnest(?::VARCHAR[]))",
        [model, prompt_version, hashes],
    ).fetchall()


def replace_decisions(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Store decision rows (text_sha256, model, prompt_version, decision, created_at) in one transaction."""
    con.execute("BEGIN TRANSACTION")
    con.executemany("INSERT OR REPLACE INTO llm_decisions VALUES (?, ?, ?, ?, ?)", rows)
    con.execute("COMMIT")
