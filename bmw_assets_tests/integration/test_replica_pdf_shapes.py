"""The replica's PDFs that are not the article: rates near the real press room's, stable per article id."""

from __future__ import annotations

import collections
import io
import urllib.request

from pypdf import PdfReader

from bmw_assets.replica.corpus import build_corpus
from bmw_assets.replica.pdf_shapes import NO_PDF_SHAPES, PdfShapeRates, shape_kind, with_pdf_shapes
from bmw_assets.replica.server import ReplicaServer
from bmw_assets.text import clean_pdf_text
from bmw_assets.text.quality import token_prf


def test_shapes_come_at_the_real_rates_and_stay_with_their_article() -> None:
    corpus = build_corpus(size=2000)
    shaped = with_pdf_shapes(corpus, PdfShapeRates())
    with_pdf = [a for a in shaped if any(x.kind == "pdf" for x in a.attachments)]
    kinds = collections.Counter(shape_kind(a.pdf_shape) for a in with_pdf)
    assert 0.025 < kinds["wrong_language"] / len(with_pdf) < 0.055
    assert 0.025 < kinds["garbled"] / len(with_pdf) < 0.055
    assert 0.003 < kinds["table_only"] / len(with_pdf) < 0.02
    assert {a.pdf_shape for a in shaped} >= {
        "wrong_language:de",
        "wrong_language:ro",
        "garbled:no_unicode_map",
        "garbled:wrong_unicode_map",
        "table_only",
    }
    # Stable per id: a smaller corpus (other articles around it) gives each article the same shape.
    small = {a.id: a.pdf_shape for a in with_pdf_shapes(corpus[:300], PdfShapeRates())}
    assert all(small[a.id] == a.pdf_shape for a in shaped[:300])
    assert {a.pdf_shape for a in with_pdf_shapes(corpus, NO_PDF_SHAPES)} == {"good"}


def test_the_server_serves_each_article_its_shaped_pdf() -> None:
    with ReplicaServer(published=400) as replica:
        articles = [a for a in replica.visible_articles() if any(x.kind == "pdf" for x in a.attachments)]
        by_shape = {shape_kind(a.pdf_shape): a for a in articles}
        for kind in ("good", "garbled"):
            article = by_shape[kind]
            attachment = next(x for x in article.attachments if x.kind == "pdf")
            url = f"{replica.base_url}/article/attachment/{article.id}/{attachment.attachment_id}"
            with urllib.request.urlopen(url, timeout=30) as response:
                text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.read())).pages)
            # Cleaned as regex_text cleans it: the replica's PDFs carry realistic page furniture.
            f1 = token_prf(
                clean_pdf_text(text, front_matter=(article.title, article.teaser)).text, article.body_text
            ).f1
            assert (f1 > 0.8) if kind == "good" else (f1 < 0.05), (kind, f1)
            with urllib.request.urlopen(f"{replica.root_url}/_replica/truth/{article.id}", timeout=30) as response:
                assert response.read().decode().count(f'"pdf_shape": "{article.pdf_shape}"') == 1
