"""Replica press releases as text with ground truth, for scoring the cleaning and training the
furniture classifier: a release's PDF text as pypdf extracts it, and paragraphs labelled body,
furniture or mixed against the release's known body.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bmw_assets.replica.corpus import ReplicaArticle
from bmw_assets.replica.pdf import render_press_pdf
from bmw_assets.text.extraction import read_pdf_pages
from bmw_assets.text.normalise import normalise_characters, rejoin_hyphenated
from bmw_assets.text.quality import FurnitureScore, furniture_score

Label = Literal["body", "furniture", "mixed"]
_SENTENCE_END = re.compile(r"(?<=[.!?\"])\s+")
_MIN_SENTENCE_WORDS = 6  # a shared sentence (or paragraph) this long is body, not a coincidence ("BMW Group")


@dataclass(frozen=True)
class LabelledParagraph:
    text: str
    label: Label


def extracted_texts(articles: Iterable[ReplicaArticle]) -> Iterator[tuple[ReplicaArticle, str]]:
    """Each article with its press PDF's text as `read_pdf_pages` gives it (rendered in a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="replica-pdf-") as folder:
        path = Path(folder) / "release.pdf"
        for article in articles:
            if not any(a.kind == "pdf" for a in article.attachments):
                continue
            path.write_bytes(render_press_pdf(article))
            extracted = read_pdf_pages(path)
            if extracted.status == "ok":
                yield article, extracted.text


def _flat(text: str) -> str:
    return " ".join(text.split())


def label_paragraphs(paragraphs: Iterable[str], body: str) -> list[LabelledParagraph]:
    """`paragraphs` labelled against `body`: "body" when the paragraph is a stretch of the body of
    six words or more, "mixed" when it is a shorter stretch (a header such as "BMW Group" can be
    one by chance) or shares a whole sentence of six words or more with the body (body glued to
    furniture), else "furniture"."""
    flat_body = _flat(body)
    labelled = []
    for paragraph in paragraphs:
        flat = _flat(paragraph)
        if flat in flat_body:
            label: Label = "body" if len(flat.split()) >= _MIN_SENTENCE_WORDS else "mixed"
        elif any(len(s.split()) >= _MIN_SENTENCE_WORDS and s in flat_body for s in _SENTENCE_END.split(flat)):
            label = "mixed"
        else:
            label = "furniture"
        labelled.append(LabelledParagraph(paragraph, label))
    return labelled


def body_sentences(article: ReplicaArticle, count: int) -> list[str]:
    """`count` sentences of `article`'s body (fewer if it has fewer), drawn by its id: short body text,
    which real releases have and the replica's long paragraphs lack."""
    sentences = [s for paragraph in article.paragraphs for s in _SENTENCE_END.split(paragraph)]
    return random.Random(article.id + ":sentences").sample(sentences, min(count, len(sentences)))


def score_release(article: ReplicaArticle, extracted: str, cleaned: str) -> FurnitureScore:
    """Body tokens kept and furniture tokens left in `cleaned`, made from `article`'s PDF text `extracted`."""
    return furniture_score(rejoin_hyphenated(normalise_characters(extracted)), cleaned, article.body_text)


def body_paragraphs_lost(article: ReplicaArticle, cleaned: str) -> list[str]:
    """Body paragraphs of `article` deleted whole from `cleaned`: not one of their sentences (of six
    words or more) is left. A word mangled by hyphenation does not count; a rule deleting the paragraph does."""
    flat = _flat(cleaned)
    lost = []
    for paragraph in article.paragraphs:
        sentences = [s for s in _SENTENCE_END.split(_flat(paragraph)) if len(s.split()) >= _MIN_SENTENCE_WORDS]
        if sentences and not any(s in flat for s in sentences):
            lost.append(paragraph)
    return lost
