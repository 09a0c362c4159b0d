"""Cleaning quality on replica press PDFs: cleaned PDF text vs the article's ground-truth body."""

import statistics

from bmw_assets.replica.corpus import build_corpus
from bmw_assets.replica.pdf import render_press_pdf
from bmw_assets.text import clean_pdf_text, read_pdf_pages, token_prf


def test_cleaned_replica_pdfs_match_the_body(tmp_path):
    corpus = build_corpus()
    sample = [article for article in corpus[::10] if article.word_count < 2500][
        :40
    ]  # every 10th, short enough to be quick
    scores = {}
    for article in sample:
        path = tmp_path / f"{article.id}.pdf"
        path.write_bytes(render_press_pdf(article))
        extracted = read_pdf_pages(path)
        assert extracted.status == "ok", (article.id, extracted.reason)
        scores[article.id] = token_prf(clean_pdf_text(extracted.text).text, article.body_text).f1
    assert len(scores) >= 30
    assert statistics.mean(scores.values()) >= 0.97
    assert min(scores.values()) >= 0.90, min(scores.items(), key=lambda item: item[1])
