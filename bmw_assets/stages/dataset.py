"""`chatml_dataset`: the LLM-cleaned articles as a versioned ChatML dataset, recorded in the catalog."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bmw_assets.catalog import connect, datasets, transaction
from bmw_assets.catalog.articles import count_articles
from bmw_assets.catalog.texts import counts_by_stage_and_status
from bmw_assets.dataset.article import DatasetArticle
from bmw_assets.dataset.build import build_dataset
from bmw_assets.dataset.manifest import DatasetManifest
from bmw_assets.dataset.settings import DatasetSettings

Facts = Mapping[str, Sequence[tuple[str, str]]]


def clean_articles(catalog_path: Path, facts: Facts | None = None) -> list[DatasetArticle]:
    """Articles whose final (`llm`) text was kept, with any known facts; rejected and failed ones
    (at either stage: a text gate may have rejected the regex text since the LLM saw it) are left out."""
    with connect(catalog_path) as con:
        rows = datasets.clean_article_rows(con)
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
        articles = count_articles(con)
        by_stage = counts_by_stage_and_status(con)
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
        datasets.replace_dataset_version(
            con,
            [
                manifest.version, manifest.path,
                *(sum(manifest.rows[s].values()) for s in ("train", "validation", "test")),
                *(sum(manifest.tokens[s].values()) for s in ("train", "validation", "test")),
                len(manifest.article_splits), datetime.now(UTC),
            ],
        )  # fmt: skip
        datasets.replace_splits(con, manifest.version, manifest.article_splits)
    return manifest


def articles_by_source(catalog_path: Path, version: str) -> dict[str, int]:
    """Articles of dataset `version` per source of their text: pdf or html_fallback."""
    with connect(catalog_path) as con:
        return datasets.articles_by_source(con, version)
