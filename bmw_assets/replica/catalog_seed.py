"""Replica articles straight into a catalog, as `article_index` and `raw_pdfs` would store them,
without HTTP: for benchmarks and tests of the text stages over a large corpus of real PDFs."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pypdf import PdfReader

from bmw_assets.atomic import write_bytes_atomic
from bmw_assets.catalog import connect, transaction
from bmw_assets.catalog.articles import replace_articles, replace_attachments
from bmw_assets.hashing import sha256_text
from bmw_assets.pressclub.urls import language_of
from bmw_assets.replica.corpus import CATEGORIES, ReplicaArticle
from bmw_assets.replica.pdf_shapes import render_shaped_pdf

BASE_URL = "http://127.0.0.1:8765/global"


def seed_catalog(
    catalog_path: Path,
    pdf_dir: Path,
    articles: Sequence[ReplicaArticle],
    render: Callable[[ReplicaArticle], bytes] = render_shaped_pdf,
) -> None:
    """Store `articles` (their HTML body, and their first PDF attachment rendered by `render` under
    `pdf_dir` by sha256) in the catalog at `catalog_path`; articles without a PDF get none."""
    now = datetime.now(UTC)
    article_rows, attachment_rows = [], []
    for article in articles:
        pdfs = [a for a in article.attachments if a.kind == "pdf"]
        urls = [f"{BASE_URL}/article/attachment/{article.id}/{a.attachment_id}" for a in pdfs[:1]]
        article_rows.append((
            article.id, language_of(article.id), f"{BASE_URL}/article/detail/{article.id}/{article.slug}",
            article.title, article.published_at, CATEGORIES[article.category],
            [str(t) for t in article.topics], article.teaser, article.body_text, sha256_text(article.body_text),
            urls, now, now,
        ))  # fmt: skip
        for url in urls:
            data = render(article)
            sha = hashlib.sha256(data).hexdigest()
            path = pdf_dir / f"{sha}.pdf"
            if not path.exists():
                write_bytes_atomic(path, data)
            pages = len(PdfReader(io.BytesIO(data)).pages)
            attachment_rows.append((article.id, url, sha, str(path), len(data), pages, "ok", None, now))
    with connect(catalog_path) as con, transaction(con):
        replace_articles(con, article_rows)
        replace_attachments(con, attachment_rows)
