"""The input of the dataset builder: one clean article."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DatasetArticle:
    """A clean article: `text` is the body with paragraphs separated by a blank line ("\\n\\n").

    `facts` are (question, answer) pairs known to be stated in the article; objects
    with `.question` / `.answer` attributes (the replica's `Fact`) are accepted too.
    """

    article_id: str
    title: str
    published_at: datetime
    text: str
    facts: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError(f"article {self.article_id!r} has an empty text; give its clean body text")
        object.__setattr__(self, "facts", tuple(_as_pair(fact) for fact in self.facts))


def _as_pair(fact: Any) -> tuple[str, str]:
    if hasattr(fact, "question") and hasattr(fact, "answer"):
        return (str(fact.question), str(fact.answer))
    question, answer = fact
    return (str(question), str(answer))
