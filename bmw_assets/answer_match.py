"""Where a fact's answer stands in a text: shared by the dataset (which sentence answers a
question) and the evaluation (which tokens of that sentence are the answer). Standard library
only, so the evaluation entry point imports nothing of the data side."""

from __future__ import annotations

import re


def answer_spans(text: str, answer: str) -> list[tuple[int, int]]:
    """Character spans of every occurrence of `answer` in `text` (case and whitespace ignored)."""
    words = answer.split()
    if not words:
        return []
    return [m.span() for m in re.finditer(r"\s+".join(map(re.escape, words)), text, flags=re.IGNORECASE)]


def answer_span(text: str, answer: str) -> tuple[int, int] | None:
    """Character span of the first occurrence of `answer` in `text`, or None."""
    spans = answer_spans(text, answer)
    return spans[0] if spans else None
