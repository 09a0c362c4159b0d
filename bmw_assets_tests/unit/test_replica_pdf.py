"""Replica press PDFs are real: pypdf reads them, the body is there, and so is the furniture."""

from __future__ import annotations

import io
import re

import pypdf
import pytest

from bmw_assets.replica.corpus import build_corpus
from bmw_assets.replica.labelled_text import extracted_texts
from bmw_assets.replica.pdf import render_press_pdf
from bmw_assets.replica.release_layout import furniture_text, release_layout


@pytest.fixture(scope="module")
def rendered():
    corpus = build_corpus()
    articles = [corpus[0], max(corpus, key=lambda a: a.word_count)]
    out = []
    for article in articles:
        data = render_press_pdf(article)
        reader = pypdf.PdfReader(io.BytesIO(data))
        out.append((article, data, [page.extract_text() for page in reader.pages]))
    return out


def _dehyphenated(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"([a-z])-\n([a-z])", r"\1\2", text))


def test_pdf_is_real_and_deterministic(rendered):
    article, data, pages = rendered[0]
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    assert render_press_pdf(article) == data
    assert len(pages) >= 2


def test_body_sentences_extractable_modulo_hyphenation(rendered):
    for article, _, pages in rendered:
        text = _dehyphenated("\n".join(pages))
        sentences = [s for p in article.paragraphs for s in re.split(r"(?<=\.) ", p)]
        missing = [s for s in sentences if s not in text]
        # Only a sentence running across a page break is interrupted (by header and footer).
        assert len(missing) < len(pages), missing[:3]
        for fact in article.facts:
            assert fact.answer in text


def test_words_are_hyphenated_across_line_ends(rendered):
    _, _, pages = rendered[1]
    assert len(re.findall(r"[a-z]-\n[a-z]", "\n".join(pages))) >= 20


def test_page_furniture_present(rendered):
    _, _, pages = rendered[1]
    text = "\n".join(pages)
    for marker in [
        "Petuelring 130",
        "80788 München",
        "Fax: +49 89 382-24418",
        "www.press.bmwgroup.com",
        "BMW Group Media Information",
    ]:
        assert marker in text, marker
    assert re.search(r"\bP90\d{6}\b", text)
    assert re.search(r"(Page|Seite) 2\b", pages[1])


def test_every_furniture_shape_of_real_releases_appears_across_the_corpus():
    articles = [a for a in build_corpus()[:70] if a.word_count < 1200]
    text = "\n".join(extracted for _, extracted in extracted_texts(articles))
    markers = [
        # headers
        "Corporate Communications",
        "Media Information",
        "Subject ",
        "Press Information",
        "CONFIDENTIAL",
        "Topic ",
        "Thema ",
        # contacts: openers (English and German), headings ending in a period, blank-line entries
        "In case of queries, please contact:",
        "If you have any questions, please contact:",
        "Bitte wenden Sie sich bei Rückfragen an:",
        "Press Contact.",
        "\nTel.:\n",
        "Instagram:",
        # company profile generations
        "The BMW Group, with its brands",
        "With its four brands",
        "The success of the BMW Group has always",
        "Die BMW Group",
        # consumption notes
        "WLTP",
        "NEDC",
        "l /100 km",
        "Regulation (EC) No 715/2007",
        "CO2 emission information.",
    ]
    missing = [marker for marker in markers if marker not in text]
    assert not missing
    assert re.search(r"Date \d{1,2} [A-Z][a-z]+ 20\d\d", text)
    assert re.search(
        r"\n[^\n,]+, [^\n]+\nTel\.: \+49 [\d -]+, [a-z]+\.[a-z]+@bmw", text
    )  # "Name, Title" / phone, e-mail
    assert re.search(r"\n[a-z]+\.[a-z]+@[a-z.]+,\n", text)  # an e-mail with a trailing comma
    assert re.search(r"\n[A-Z][a-z]+ [A-Z][a-z]+(, [^\n]+)? The BMW Group\n", text)  # heading glued to a name


def test_the_layout_follows_from_the_article_id_and_its_furniture_is_not_body():
    corpus = build_corpus()
    layouts = [release_layout(article) for article in corpus[:60]]
    assert layouts == [release_layout(article) for article in build_corpus()[:60]]
    assert len({(layout.header, layout.contact_opener) for layout in layouts}) >= 8  # generations are mixed
    assert sum(layout.footnote is not None for layout in layouts) >= 10
    for article in corpus[:60]:
        furniture = furniture_text(article)
        assert all(line not in article.body_text for line in furniture.splitlines() if len(line.split()) > 3)
