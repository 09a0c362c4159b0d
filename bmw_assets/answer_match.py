"""Where a fact's answer stands in a text: shared by the dataset (which sentence answers a
question) and the evaluation (which tokens of that sentence are the answer). Standard library
only, so the evaluation entry point imports nothing of the data side."""

from __future__ import annotations

import re


def answer_span(text: str, answer: str) -> tuple[int, int] | None:
    """Character span of `answer` in `text` (case and whitespace ignored), or None."""
    words = answer.split()
    match = re.search(r"\s+".join(map(re.escape, words)), text, flags=re.IGNORECASE) if words else None
    return match.span() if match else None
