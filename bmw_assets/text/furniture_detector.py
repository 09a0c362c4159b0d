"""Furniture-like lines left in a cleaned text: a detector over known patterns, for the real site,
where there is no ground truth to score against.

It searches every paragraph (not just whole lines, unlike the cleaning rules) for signs of
page furniture: phone numbers and e-mail addresses, web addresses, contact openers, consumption
figures and disclaimers, page headers and numbers, photo codes, the company profile. A body
sentence can trip it (a quoted web address), so it counts and shows, it never deletes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

FURNITURE_SIGNS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "phone": r"(?:\bTel(?:\.|ephone|efon)?|\bPhone|\bMobile?|\bFax)[ ]*[.:]*[ ]*\+?\d[\d ()/.\-]{5,}\d|\+49[ ]?\d",
        "email": r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+",
        "web": r"(?:https?://|www\.)\S+",
        "contact_opener": r"please contact\s*:|Rückfragen an\s*:|\b(?:Press|Media) contacts?\b",
        "consumption": r"\bconsumption combined\b|\bCO2 (?:emissions )?combined\b|\bCO2 class\b|(?:l|kWh)[ ]?/[ ]?100[ ]?km"
        r"|\b(?:WLTP|NEDC)\b[^.\n]{0,80}\b(?:procedure|Regulation|cycle)\b",
        "header": r"\b(?:Corporate Communications|Media Information|Press Information|Presse-?Information|CONFIDENTIAL)\b"
        r"|^(?:Page|Seite) \d+$|^(?-i:(?:Date|Datum) \d|(?:Subject|Betreff|Topic|Thema) [A-Z0-9])",
        "photo_code": r"\bP90\d{6}\b",
        "company_profile": r"\bBMW, MINI, Rolls-Royce and BMW Motorrad\b|\bsuccess of the BMW Group has always\b"
        r"|\bBayerische Motoren Werke Aktiengesellschaft\b|\bPetuelring 130\b",
    }.items()
}


@dataclass
class FurnitureLines:
    """Paragraphs of one or more texts that show a furniture sign: how many, by sign, and a few examples."""

    paragraphs: int = 0
    flagged: int = 0
    by_sign: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, str]] = field(default_factory=list)

    @property
    def flagged_share(self) -> float:
        return self.flagged / self.paragraphs if self.paragraphs else 0.0


def detect_furniture_lines(texts: Iterable[tuple[str, str]], max_examples: int = 10) -> FurnitureLines:
    """Scan `(article_id, text)` pairs (paragraphs separated by blank lines) for furniture signs."""
    found = FurnitureLines()
    for article_id, text in texts:
        for paragraph in (p.strip() for p in text.split("\n\n")):
            if not paragraph:
                continue
            found.paragraphs += 1
            signs = [name for name, sign in FURNITURE_SIGNS.items() if sign.search(paragraph)]
            if not signs:
                continue
            found.flagged += 1
            for name in signs:
                found.by_sign[name] = found.by_sign.get(name, 0) + 1
            if len(found.examples) < max_examples:
                found.examples.append({"article_id": article_id, "signs": ", ".join(signs), "text": paragraph[:160]})
    return found
