"""Paragraphs of a cleaned text and their grouping into request-sized chunks.

Regex-cleaned texts separate paragraphs by a blank line. Chunks bound what one
request carries; every paragraph lands in exactly one chunk and none is cut.
"""

from __future__ import annotations

import re

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def split_paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of `text` (split at blank lines, outer whitespace stripped)."""
    return [part.strip() for part in _BLANK_LINE.split(text) if part.strip()]


def join_paragraphs(paragraphs: list[str]) -> str:
    """The inverse of `split_paragraphs`: paragraphs separated by one blank line."""
    return "\n\n".join(paragraphs)


def chunk_paragraphs(paragraphs: list[str], max_chars: int, max_paragraphs: int) -> list[range]:
    """Consecutive index ranges covering all `paragraphs`, each at most `max_chars` characters
    and `max_paragraphs` paragraphs; a single paragraph longer than `max_chars` gets a chunk
    of its own rather than being truncated."""
    if max_chars < 1 or max_paragraphs < 1:
        raise ValueError(f"chunk bounds must be positive, got max_chars={max_chars}, max_paragraphs={max_paragraphs}")
    chunks: list[range] = []
    start, size = 0, 0
    for index, paragraph in enumerate(paragraphs):
        full = index - start >= max_paragraphs or (index > start and size + len(paragraph) > max_chars)
        if full:
            chunks.append(range(start, index))
            start, size = index, 0
        size += len(paragraph)
    if start < len(paragraphs):
        chunks.append(range(start, len(paragraphs)))
    return chunks
