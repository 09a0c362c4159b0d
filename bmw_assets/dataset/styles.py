"""What each style asks and answers, as spans of the article text.

- instruct: "Tell me about: {title}" -> the whole article.
- qa: questions grounded in the article. With facts, each fact's question is
  answered by the article's own sentence(s) containing the fact's answer
  (matched case-insensitively, any whitespace; where it recurs, the sentence
  sharing most words with the question); a fact whose answer the article
  does not contain is skipped and counted. Without usable facts one template
  asks what the release with that title and date is about and is answered by
  the lead paragraph. Every answer is therefore a verbatim slice of the article.
- article: the whole article as plain text for continued pre-training.

A long answer is chunked; rows after the first ask the `continued_prompt`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bmw_assets.answer_match import answer_spans
from bmw_assets.dataset.article import DatasetArticle
from bmw_assets.dataset.chunking import Span, paragraph_spans, sentence_spans


@dataclass(frozen=True)
class ExampleSpec:
    """One example before chunking: its style, prompts (None for article) and answer span."""

    style: str
    prompt: str | None
    continued_prompt: str | None
    span: Span


def example_specs(article: DatasetArticle, styles: tuple[str, ...]) -> tuple[list[ExampleSpec], int]:
    """The examples of `article` for `styles`, and how many of its facts could not be grounded."""
    whole = (0, len(article.text))
    specs: list[ExampleSpec] = []
    skipped = 0
    for style in styles:
        if style == "instruct":
            specs.append(
                ExampleSpec(style, f"Tell me about: {article.title}", f"Tell me more about: {article.title}", whole)
            )
        elif style == "article":
            specs.append(ExampleSpec(style, None, None, whole))
        elif style == "qa":
            qa, skipped = _qa_specs(article)
            specs.extend(qa)
    return specs, skipped


def _qa_specs(article: DatasetArticle) -> tuple[list[ExampleSpec], int]:
    specs, skipped = [], 0
    for question, answer in article.facts:
        span = answer_sentences(article.text, answer, question)
        if span is None:
            skipped += 1
            continue
        specs.append(ExampleSpec("qa", question, f"{question} (continued)", span))
    if not specs:
        date = f"{article.published_at.day} {article.published_at:%B %Y}"
        question = f"What is the BMW Group press release “{article.title}” of {date} about?"
        lead = paragraph_spans(article.text)[0]
        specs.append(ExampleSpec("qa", question, f"{question} (continued)", lead))
    return specs, skipped


def answer_sentences(text: str, answer: str, question: str) -> Span | None:
    """Span of the sentence(s) of `text` that state `answer` to `question`, or None where `answer`
    is not in `text` (case and whitespace ignored). A name or figure often recurs: of the sentences
    that contain it, the one sharing most words with the question answers it (the first on a tie);
    "Who becomes head of X?" is answered by the appointment, not by where the person studied."""
    sentences = [s for p in paragraph_spans(text) for s in sentence_spans(text, p)]
    candidates = []
    for match in answer_spans(text, answer):
        start = max((s[0] for s in sentences if s[0] <= match[0]), default=match[0])
        end = min((s[1] for s in sentences if s[1] >= match[1]), default=match[1])
        candidates.append((start, end))
    if not candidates:
        return None
    asked = _content_words(question) - _content_words(answer)
    return max(candidates, key=lambda span: (len(asked & _content_words(text[span[0] : span[1]])), -span[0]))


def _content_words(text: str) -> set[str]:
    return {word for word in re.findall(r"\w+", text.lower()) if len(word) > 2}
