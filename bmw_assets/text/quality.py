"""Token-level precision, recall and F1 between a cleaned text and its reference.

Tokenisation: lowercase, then every run of unicode word characters (``\\w+``) is a token,
so punctuation and whitespace never count. Overlap is a bag (multiset) intersection:
a token that appears twice in both texts matches twice, a third copy in one text does not.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1, each a fraction in [0, 1]."""

    precision: float
    recall: float
    f1: float


def word_tokens(text: str) -> list[str]:
    """Lowercased unicode word tokens of ``text`` (punctuation and whitespace dropped)."""
    return _WORD.findall(text.lower())


def token_prf(candidate: str, reference: str) -> PRF:
    """Bag-of-tokens precision/recall/F1 of ``candidate`` against ``reference``.

    Precision = matched / candidate tokens, recall = matched / reference tokens, F1 their
    harmonic mean. Edge cases: both texts without tokens -> 1.0 everywhere (nothing to find,
    nothing extra); exactly one without tokens -> 0.0 everywhere.
    """
    cand = Counter(word_tokens(candidate))
    ref = Counter(word_tokens(reference))
    n_cand, n_ref = sum(cand.values()), sum(ref.values())
    if n_cand == 0 and n_ref == 0:
        return PRF(1.0, 1.0, 1.0)
    if n_cand == 0 or n_ref == 0:
        return PRF(0.0, 0.0, 0.0)
    matched = sum((cand & ref).values())
    if matched == 0:
        return PRF(0.0, 0.0, 0.0)
    precision = matched / n_cand
    recall = matched / n_ref
    return PRF(precision, recall, 2 * precision * recall / (precision + recall))


@dataclass(frozen=True)
class FurnitureScore:
    """How a cleaning treated one document whose body is known, in word tokens.

    ``body_tokens``: tokens of the body; ``body_kept``: of them, found in the cleaned text;
    ``furniture_tokens``: tokens of the extracted text that are not body (bag difference);
    ``furniture_left``: tokens of the cleaned text that are not body.
    """

    body_tokens: int
    body_kept: int
    furniture_tokens: int
    furniture_left: int

    def __add__(self, other: FurnitureScore) -> FurnitureScore:
        pairs = zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
        return FurnitureScore(*(a + b for a, b in pairs))

    @property
    def body_kept_share(self) -> float:
        return self.body_kept / self.body_tokens if self.body_tokens else 1.0

    @property
    def furniture_left_share(self) -> float:
        return self.furniture_left / self.furniture_tokens if self.furniture_tokens else 0.0


def furniture_score(extracted: str, cleaned: str, body: str) -> FurnitureScore:
    """Score ``cleaned`` (made from ``extracted``) against the known ``body``: body tokens kept,
    furniture tokens left. Bag counts, like ``token_prf``; ``extracted`` should have its
    line-end hyphenation joined already, so split words count as neither."""
    extracted_bag, cleaned_bag, body_bag = (Counter(word_tokens(t)) for t in (extracted, cleaned, body))
    kept = sum((cleaned_bag & body_bag).values())
    return FurnitureScore(
        body_tokens=sum(body_bag.values()),
        body_kept=kept,
        furniture_tokens=sum((extracted_bag - body_bag).values()),
        furniture_left=sum(cleaned_bag.values()) - kept,
    )
