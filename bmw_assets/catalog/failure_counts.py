"""How many attachments and texts failed, with a few examples: the queries behind the failure-rate checks."""

from __future__ import annotations

from typing import Any

import duckdb

from bmw_assets.catalog.connection import rows_as_dicts

ProblemCount = tuple[int, int, list[dict[str, Any]]]  # (failed, total, examples)


def _count_problems(
    con: duckdb.DuckDBPyConnection,
    rows: str,
    problem: str,
    columns: str,
    order: str,
    examples: int,
    params: tuple[Any, ...] = (),
) -> ProblemCount:
    """The rows `rows` ("<table> WHERE <condition>") meeting the SQL condition `problem` among all
    of them, with `examples` of them (`columns`, newest first by `order`)."""
    failed, total = con.execute(
        f"SELECT count(*) FILTER (WHERE {problem}), count(*) FROM {rows}", list(params)
    ).fetchall()[0]
    named = rows_as_dicts(
        con.execute(f"SELECT {columns} FROM {rows} AND ({problem}) ORDER BY {order} LIMIT ?", [*params, examples])
    )
    return failed, total, named


def failed_attachments(con: duckdb.DuckDBPyConnection, examples: int) -> ProblemCount:
    """Attachments with status `failed` among all of them."""
    return _count_problems(
        con,
        "attachments WHERE true",
        "status = 'failed'",
        "article_id, url, status, error AS reason",
        "fetched_at DESC, article_id",
        examples,
    )


def failed_texts(con: duckdb.DuckDBPyConnection, stage: str, no_pdf_reason: str, examples: int) -> ProblemCount:
    """Texts of `stage` that failed, or fell back to the HTML body for a reason other than
    `no_pdf_reason` and not because a gate fired, among all texts of `stage`."""
    problem = (
        f"status = 'failed' OR (status = 'fallback' AND reason IS DISTINCT FROM '{no_pdf_reason}' AND gate IS NULL)"
    )
    return _count_problems(
        con,
        "texts WHERE stage = ?",
        problem,
        "article_id, status, reason",
        "updated_at DESC, article_id",
        examples,
        (stage,),
    )


def gated_regex_texts(con: duckdb.DuckDBPyConnection, examples: int) -> ProblemCount:
    """Regex texts a text gate turned down among all regex texts."""
    return _count_problems(
        con,
        "texts WHERE stage = 'regex'",
        "gate IS NOT NULL",
        "article_id, gate, round(gate_score, 3) AS score, source, reason",
        "updated_at DESC, article_id",
        examples,
    )
