"""The decision rule: from what the model said about an article's paragraphs to which
paragraphs stay, and whether the whole article is rejected.

What the model said (`ModelAnswers`) is what the catalog caches; the rule is applied on
every run, so changing the threshold needs no new requests. The rule leans toward
keeping: deleting real body text is worse than keeping a stray header.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from bmw_assets.llm_filter.prompt import DEFAULT_PROMPT

# `/v1/systemone` answers at most 64 questions per request.
MAX_QUESTIONS_PER_REQUEST = 64


@dataclass(frozen=True)
class FilterSettings:
    """How answers become decisions and how articles are cut into requests.

    `keep_threshold`: a paragraph is dropped only when its keep probability is below it.
    `reject_dropped_fraction`: an article is rejected when at least this share of its
    paragraphs is dropped. `max_chunk_chars` / `max_chunk_paragraphs` bound one request
    (characters of paragraph text / paragraphs). `prompt_path`: the versioned prompt file.
    `max_judged_chars`: paragraphs longer than this many characters are kept without
    asking (furniture is short lines; long prose is the article), which saves most of
    the requests on a slow endpoint; None asks about every paragraph.
    """

    keep_threshold: float = 0.2
    reject_dropped_fraction: float = 0.9
    max_chunk_chars: int = 4000
    max_chunk_paragraphs: int = 32
    prompt_path: Path = field(default=DEFAULT_PROMPT)
    max_judged_chars: int | None = None

    def judged(self, paragraphs: list[str]) -> list[int]:
        """Indices of the paragraphs the model is asked about."""
        limit = self.max_judged_chars
        return [i for i, p in enumerate(paragraphs) if limit is None or len(p) <= limit]

    def cache_version(self, prompt_version: str) -> str:
        """The cache key's version part: the prompt, and which paragraphs were asked about."""
        return prompt_version if self.max_judged_chars is None else f"{prompt_version}+judged<={self.max_judged_chars}"

    def __post_init__(self) -> None:
        if not 0.0 <= self.keep_threshold <= 1.0:
            raise ValueError(f"keep_threshold must lie in [0, 1], got {self.keep_threshold}")
        if not 0.0 < self.reject_dropped_fraction <= 1.0:
            raise ValueError(f"reject_dropped_fraction must lie in (0, 1], got {self.reject_dropped_fraction}")
        if not 1 <= self.max_chunk_paragraphs <= MAX_QUESTIONS_PER_REQUEST:
            raise ValueError(
                f"max_chunk_paragraphs must lie in [1, {MAX_QUESTIONS_PER_REQUEST}], got {self.max_chunk_paragraphs}"
            )
        if self.max_judged_chars is not None and self.max_judged_chars < 1:
            raise ValueError(f"max_judged_chars must be None or at least 1, got {self.max_judged_chars}")


@dataclass(frozen=True)
class ModelAnswers:
    """What the endpoint said about one article: P(keep) per paragraph (0..1), and per
    chunk the model's reason for rejecting the whole text, or None (chat route only)."""

    keep_probability: tuple[float, ...]
    chunk_rejections: tuple[str | None, ...]


@dataclass(frozen=True)
class ArticleDecision:
    """Paragraph indices kept and dropped (together: every paragraph once), and whether
    the whole article is rejected, with the reason."""

    kept: tuple[int, ...]
    dropped: tuple[int, ...]
    rejected: bool
    reason: str | None


def decide(answers: ModelAnswers, settings: FilterSettings) -> ArticleDecision:
    """Apply the keep threshold and the rejection rules to `answers`.

    Rejection needs either every chunk rejected by the model (a capable chat model) or
    at least `reject_dropped_fraction` of the paragraphs dropped; a small model's noisy
    per-paragraph probabilities rarely reach that, which is the intent.
    """
    probabilities = answers.keep_probability
    kept = tuple(i for i, p in enumerate(probabilities) if p >= settings.keep_threshold)
    dropped = tuple(i for i, p in enumerate(probabilities) if p < settings.keep_threshold)
    rejections = answers.chunk_rejections
    if rejections and all(reason is not None for reason in rejections):
        return ArticleDecision(kept, dropped, True, f"model: {rejections[0]}")
    if probabilities and len(dropped) >= settings.reject_dropped_fraction * len(probabilities):
        return ArticleDecision(
            kept, dropped, True, f"{len(dropped)} of {len(probabilities)} paragraphs judged page furniture"
        )
    return ArticleDecision(kept, dropped, False, None)


def decision_json(answers: ModelAnswers, decision: ArticleDecision, threshold: float) -> str:
    """The catalog's `llm_decisions.decision` document: the answers plus the decision
    they gave under `threshold` (kept/dropped indices, rejected flag, reason)."""
    return json.dumps(
        {
            "kept": list(decision.kept),
            "dropped": list(decision.dropped),
            "rejected": decision.rejected,
            "reason": decision.reason,
            "keep_probability": [round(p, 6) for p in answers.keep_probability],
            "chunk_rejections": list(answers.chunk_rejections),
            "keep_threshold": threshold,
        }
    )


def answers_from_json(document: str) -> ModelAnswers:
    """Read the answers back from a cached decision document."""
    data = json.loads(document)
    return ModelAnswers(tuple(float(p) for p in data["keep_probability"]), tuple(data["chunk_rejections"]))


def is_probability(value: object) -> bool:
    """True for a real number (not a bool) in [0, 1]."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1
