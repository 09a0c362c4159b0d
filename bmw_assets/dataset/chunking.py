"""Split an over-long text into chunks that each fit a token budget, losing nothing.

A chunk is a verbatim slice of the text. Paragraphs (separated by a blank line)
are packed greedily; a paragraph that does not fit alone is cut at sentence
boundaries (sentencex), and a sentence that does not fit alone at word
boundaries. Nothing is ever truncated: re-joining the chunks with the whitespace
between them gives back the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sentencex import get_sentence_boundaries

Span = tuple[int, int]

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_WORD = re.compile(r"\S+")


def _strip(text: str, span: Span) -> Span | None:
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def paragraph_spans(text: str, span: Span | None = None) -> list[Span]:
    """Character spans of the non-empty paragraphs of `text[span]`, whitespace trimmed."""
    start, end = span or (0, len(text))
    spans, cursor = [], start
    for match in _PARAGRAPH_BREAK.finditer(text, start, end):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, end))
    return [s for s in (_strip(text, s) for s in spans) if s]


def sentence_spans(text: str, span: Span) -> list[Span]:
    """Character spans of the sentences of `text[span]` (English rules), whitespace trimmed."""
    start, end = span
    found = []
    for boundary in get_sentence_boundaries("en", text[start:end]):
        trimmed = _strip(text, (start + boundary["start_index"], start + boundary["end_index"]))
        if trimmed:
            found.append(trimmed)
    return found or [span]


def _word_spans(text: str, span: Span) -> list[Span]:
    return [(m.start(), m.end()) for m in _WORD.finditer(text, span[0], span[1])]


def chunk_text(text: str, span: Span, fits: Callable[[str, bool], bool]) -> list[Span]:
    """Cover `text[span]` with consecutive chunks; each satisfies `fits(chunk_text, continued)`.

    `continued` is False for the first chunk and True for the others (their rows
    may carry a different prompt). Each chunk takes as many whole units as fit,
    found by exponential then binary search so that `fits` (which tokenizes) is
    called O(log n) times per chunk. Raises ValueError when a single word does
    not fit: the budget cannot hold even the prompt around it, and dropping text
    silently is never an option.
    """
    whole = _strip(text, span)
    if whole is None:
        raise ValueError(f"span {span} of the text is empty; there is nothing to chunk")
    if fits(text[whole[0] : whole[1]], False):
        return [whole]
    units = _units(text, whole, lambda piece: fits(piece, False) and fits(piece, True), level=0)

    chunks: list[Span] = []
    first = 0
    while first < len(units):
        continued = bool(chunks)

        def fits_through(last: int) -> bool:  # called within this iteration only
            return fits(text[units[first][0] : units[last][1]], continued)  # noqa: B023

        # Every unit fits alone; grow the step until a chunk fails, then bisect.
        good, step = first, 1
        while good + step < len(units) and fits_through(good + step):
            good, step = good + step, step * 2
        bad = min(good + step, len(units))
        while bad - good > 1:
            middle = (good + bad) // 2
            good, bad = (middle, bad) if fits_through(middle) else (good, middle)
        chunks.append((units[first][0], units[good][1]))
        first = good + 1
    return chunks


def _units(text: str, span: Span, fits_alone: Callable[[str], bool], level: int) -> list[Span]:
    """Paragraphs (level 0), sentences (1) or words (2) of `span`, each subdivided until it fits alone."""
    if level == 0:
        pieces = paragraph_spans(text, span)
    elif level == 1:
        pieces = sentence_spans(text, span)
    elif level == 2:
        pieces = _word_spans(text, span)
    else:
        raise ValueError(
            f"the word {text[span[0] : span[1]][:40]!r} does not fit max_length even alone; raise max_length"
        )
    units: list[Span] = []
    for piece in pieces:
        if fits_alone(text[piece[0] : piece[1]]):
            units.append(piece)
        else:
            units.extend(_units(text, piece, fits_alone, level + 1))
    return units
