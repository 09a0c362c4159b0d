"""How a dataset is built: styles, split fractions, de-duplication and length limits."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

STYLES = ("instruct", "qa", "article")
SPLITS = ("train", "validation", "test")
TEST_STRATEGIES = ("hash", "newest")


@dataclass(frozen=True)
class DatasetSettings:
    """Settings of one dataset build; every field is part of the dataset version.

    Fractions are of articles (near-duplicate groups move together, so the
    realised fractions are approximate). `max_length` is in tokens of the
    rendered row. `test_strategy` "hash" draws test articles by hash like the
    other splits; "newest" holds out the newest articles as test.
    `thinking_styles` lists the styles rendered with `enable_thinking=True`
    where the chat template knows that switch (Qwen3); all others get False.
    """

    styles: tuple[str, ...] = STYLES
    seed: int = 2026
    train_fraction: float = 0.8
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    test_strategy: str = "hash"
    near_duplicate_threshold: float = 0.8
    shingle_words: int = 5
    minhash_permutations: int = 128
    max_length: int = 1024
    system_prompt: str = "You are a helpful assistant who knows the press releases of the BMW Group."
    thinking_styles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(self.styles))
        object.__setattr__(self, "thinking_styles", tuple(self.thinking_styles))
        for name in ("styles", "thinking_styles"):
            unknown = [s for s in getattr(self, name) if s not in STYLES]
            if unknown:
                raise ValueError(f"{name} has unknown styles {unknown}; use some of {list(STYLES)}")
        if not self.styles:
            raise ValueError(f"styles is empty; use some of {list(STYLES)}")
        fractions = (self.train_fraction, self.validation_fraction, self.test_fraction)
        if any(not 0 <= f <= 1 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-9):
            raise ValueError(f"split fractions {fractions} must each lie in [0, 1] and add up to 1 (e.g. 0.8/0.1/0.1)")
        if self.test_strategy not in TEST_STRATEGIES:
            raise ValueError(f"test_strategy={self.test_strategy!r}; use one of {list(TEST_STRATEGIES)}")
        if not 0 < self.near_duplicate_threshold <= 1:
            raise ValueError(f"near_duplicate_threshold={self.near_duplicate_threshold} must lie in (0, 1]")
        if self.shingle_words < 1 or self.minhash_permutations < 2:
            raise ValueError("shingle_words must be >= 1 and minhash_permutations >= 2")
        if self.max_length < 16:
            raise ValueError(f"max_length={self.max_length} tokens is too small; use at least 16")

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
