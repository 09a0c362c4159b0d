"""`chatml_dataset`: the LLM-cleaned articles as a versioned ChatML dataset, recorded in the catalog."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bmw_assets.catalog import connect, transaction
from bmw_assets.dataset.article import DatasetArticle
from bmw_assets.dataset.build import build_dataset
from bmw_assets.dataset.manifest import DatasetManifest
from bmw_assets.dataset.settings import DatasetSettings

Facts = Mapping[str, Sequence[tuple[str, str]]]


def clean_articles(catalog_path: Path, facts: Facts | None = None) -> list[DatasetArticle]:
    """Articles whose final (`llm`) text was kept, with any known facts; rejected and failed ones
    (at either stage: a text gate may have rejected the regex text since the LLM saw it) are left out."""
    with connect(catalog_path) as con:
        rows = con.execute(
            """SELECT a.id, a.title, a.published_at, t.path FROM articles a
               JOIN texts t ON t.article_id = a.id AND t.stage = 'llm'
               JOIN texts r ON r.article_id = a.id AND r.stage = 'regex' AND r.status IN ('ok', 'fallback')
               WHERE t.status IN ('ok', 'fallback') AND t.path IS NOT NULL
               ORDER BY a.published_at, a.id"""
        ).fetchall()
    facts = facts or {}
    return [
        DatasetArticle(
            article_id, title, published_at, Path(path).read_text(encoding="utf-8"), tuple(facts.get(article_id, ()))
        )  # fmt: skip
        for article_id, title, published_at, path in rows
    ]


def why_no_clean_texts(catalog_path: Path) -> str:
    """What the catalog says about why no article has a kept text: no article at all, no LLM stage
    yet, or every text rejected or failed (counts by stage and status)."""
    with connect(catalog_path) as con:
        (articles,) = con.execute("SELECT count(*) FROM articles").fetchone()
        by_stage = con.execute("SELECT stage, status, count(*) FROM texts GROUP BY ALL ORDER BY ALL").fetchall()
    if articles == 0:
        return (
            "the catalog holds no article. article_index stored none: the press room's feed and listing were "
            "empty or unreachable (see article_index's metadata and the fetch_failures table), or it never ran"
        )
    counts = ", ".join(f"{stage} {status}: {n}" for stage, status, n in by_stage) or "none"
    if not any(stage == "llm" for stage, _, _ in by_stage):
        return f"the catalog holds {articles} articles but no LLM-cleaned text (texts {counts}): materialize llm_text"
    return (
        f"none of the {articles} articles has a kept text (texts {counts}): see llm_text's `rejected` "
        "metadata and regex_text's `by_status`"
    )


def update_chatml_dataset(
    catalog_path: Path,
    datasets_dir: Path,
    tokenizer_path: str,
    settings: DatasetSettings,
    facts: Facts | None = None,
    progress: Callable[[str], None] | None = None,
) -> DatasetManifest:
    """Build (or find) the dataset version of the current clean texts; record it and every article's split."""
    from transformers import AutoTokenizer

    articles = clean_articles(catalog_path, facts)
    if not articles:
        raise ValueError(f"no clean article text to build a dataset from: {why_no_clean_texts(catalog_path)}")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    manifest = build_dataset(articles, tokenizer, settings, datasets_dir, progress=progress)
    with connect(catalog_path) as con, transaction(con):
        con.execute(
            """INSERT OR REPLACE INTO dataset_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                manifest.version, manifest.path,
                *(sum(manifest.rows[s].values()) for s in ("train", "validation", "test")),
                *(sum(manifest.tokens[s].values()) for s in ("train", "validation", "test")),
                len(manifest.article_splits), datetime.now(UTC),
            ],
        )  # fmt: skip
        con.execute("DELETE FROM dataset_splits WHERE version = ?", [manifest.version])
        con.executemany(
            "INSERT INTO dataset_splits VALUES (?, ?, ?)",
            [(manifest.version, article_id, split) for article_id, split in manifest.article_splits.items()],
        )
    return manifest


def articles_by_source(catalog_path: Path, version: str) -> dict[str, int]:
    """Articles of dataset `version` per source of their text: pdf or html_fallback."""
    with connect(catalog_path) as con:
        return dict(
            con.execute(
                """SELECT t.source, count(*) FROM dataset_splits s
               JOIN texts t ON t.article_id = s.article_id AND t.stage = 'regex'
               WHERE s.version = ? GROUP BY t.source ORDER BY t.source""",
                [version],
            ).fetchall()
        )
