"""Turn extracted PDF text into body text: normalise, strip furniture by rule, rebuild paragraphs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bmw_assets.text.normalise import normalise_characters, rebuild_paragraphs
from bmw_assets.text.rules import CLEANING_RULES, CleaningRule


@dataclass(frozen=True)
class CleanedText:
    """Cleaned body text (paragraphs separated by "\\n\\n") and the names of the rules that removed something."""

    text: str
    rules_hit: tuple[str, ...]


def _apply(rules: Sequence[CleaningRule], text: str, hit: list[str]) -> str:
    for rule in rules:
        text, count = rule.compiled.subn("", text)
        if count:
            hit.append(rule.name)
    return text


_MAX_FRONT_MATTER_WORDS = 80


def front_matter_rule(front_matter: str) -> CleaningRule | None:
    """A rule removing the first printing of ``front_matter`` (the release's title or teaser, known
    from its page) as whole lines: its words in order, with any punctuation, spaces or line
    breaks between them ("+++ a +++ b +++" matches "a - b"). None for fewer than two words."""
    words = re.findall(r"\w+", front_matter)
    if len(words) < 2 or len(words) > _MAX_FRONT_MATTER_WORDS:
        return None
    pattern = r"^[^\w\n]*" + r"\W+".join(map(re.escape, words)) + r"[^\w\n]*(?:\n|\Z)"
    return CleaningRule("release_front_matter", pattern, "the release's own title or teaser above the body")


def clean_pdf_text(
    raw: str, rules: Sequence[CleaningRule] = CLEANING_RULES, front_matter: Sequence[str] = ()
) -> CleanedText:
    """Clean the text of a press-release PDF (as ``extract_pdf_text`` returns it).

    Steps: fold ligatures/spaces/soft hyphens; apply the ``stage="lines"`` rules to the laid-out
    lines, then remove the first printing of each ``front_matter`` text (title, teaser); rejoin
    hyphenated words and wrapped lines into paragraphs; apply the ``stage="paragraphs"`` rules.
    ``rules_hit`` lists, in rule order, each rule that matched.
    """
    hit: list[str] = []
    text = normalise_characters(raw)
    text = _apply([rule for rule in rules if rule.stage == "lines"], text, hit)
    for rule in filter(None, map(front_matter_rule, front_matter)):
        text, count = rule.compiled.subn("", text, count=1)
        if count and rule.name not in hit:
            hit.append(rule.name)
    text = rebuild_paragraphs(text)
    text = _apply([rule for rule in rules if rule.stage == "paragraphs"], text, hit)
    paragraphs = [" ".join(paragraph.split()) for paragraph in re.split(r"\n+", text)]
    return CleanedText("\n\n".join(p for p in paragraphs if p), tuple(hit))
