"""Standard errors by bootstrap over documents, the independent units of a perplexity (tokens of
one text are not). Standard library only: reports are judged on the Dagster side without torch."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 2026


def paired_log_ratio_error(mine: Sequence[Sequence[float]], theirs: Sequence[Sequence[float]]) -> float | None:
    """Bootstrap standard error of log(perplexity of `mine` / perplexity of `theirs`), two models'
    (nll_sum, tokens) on the same documents (same order, same token counts): a resample takes a
    document for both, so what is hard for both cancels. None where the documents differ (another
    tokenizer, other texts) or fewer than two were scored."""
    if len(mine) != len(theirs) or any(a[1] != b[1] for a, b in zip(mine, theirs, strict=True)):
        return None
    differences = [(a[0] - b[0], int(a[1])) for a, b in zip(mine, theirs, strict=True) if a[1]]
    return bootstrap_error(differences, lambda log_ratio: log_ratio)


def bootstrap_error(documents: list[tuple[float, int]], transform: Callable[[float], float]) -> float | None:
    """Standard error of transform(sum nll / sum tokens) over `documents` resampled with
    replacement; None with fewer than two."""
    if len(documents) < 2:
        return None
    rng = random.Random(BOOTSTRAP_SEED)
    draws = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        sample = rng.choices(documents, k=len(documents))
        draws.append(transform(sum(nll for nll, _ in sample) / sum(n for _, n in sample)))
    mean = sum(draws) / len(draws)
    return math.sqrt(sum((d - mean) ** 2 for d in draws) / (len(draws) - 1))
