"""Assign duplicate groups to train / validation / test, deterministically.

With the "hash" strategy a group's split comes from sha256(seed, smallest id in
the group) mapped to [0, 1) and cut at the cumulative fractions, so an article
keeps its split when other articles are added. With "newest" the newest groups
fill the test share and the rest are hashed between train and validation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from bmw_assets.dataset.settings import DatasetSettings


def unit_hash(seed: int, key: str) -> float:
    """A deterministic number in [0, 1) from `seed` and `key`."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(
    groups: Sequence[Sequence[str]], published_at: dict[str, datetime], settings: DatasetSettings
) -> dict[str, str]:
    """Map every article id in `groups` to "train", "validation" or "test"; a group shares one split."""
    split_of_group: dict[int, str] = {}
    hashed = list(range(len(groups)))
    train, validation = settings.train_fraction, settings.validation_fraction
    if settings.test_strategy == "newest":
        total = sum(len(g) for g in groups)
        target = round(settings.test_fraction * total)
        newest_first = sorted(
            hashed, key=lambda i: (max(published_at[a] for a in groups[i]), min(groups[i])), reverse=True
        )
        held_out = 0
        for index in newest_first:
            if held_out >= target:
                break
            split_of_group[index] = "test"
            held_out += len(groups[index])
        hashed = [i for i in hashed if i not in split_of_group]
        # The remaining articles divide between train and validation in the configured ratio.
        share = train + validation
        train, validation = (train / share, validation / share) if share else (1.0, 0.0)
    for index in hashed:
        point = unit_hash(settings.seed, min(groups[index]))
        split_of_group[index] = "train" if point < train else "validation" if point < train + validation else "test"
    return {article_id: split_of_group[i] for i, group in enumerate(groups) for article_id in group}
