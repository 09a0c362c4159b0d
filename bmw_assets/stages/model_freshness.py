"""Which trained variants lag behind the newest dataset, and by how many articles.

Read from the catalog: `dataset_versions` (when each dataset was built), `dataset_splits`
(its articles) and `training_runs` (the dataset each variant's latest run trained on).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bmw_assets.catalog import LOCK_TIMEOUT_S, connect
from bmw_assets.catalog.datasets import newest_version
from bmw_assets.catalog.runs import trained_on_and_missing


@dataclass(frozen=True)
class ModelFreshness:
    """One variant against the newest dataset: `trained_on` is the dataset version of its latest
    completed run (None: never trained), `new_articles` the articles of the newest dataset that
    the trained-on dataset lacks (every article when never trained)."""

    variant: str
    trained_on: str | None
    newest: str | None
    new_articles: int

    @property
    def stale(self) -> bool:
        return self.newest is not None and self.trained_on != self.newest


def model_freshness(
    catalog_path: Path, variants: list[str], lock_timeout_s: float = LOCK_TIMEOUT_S
) -> list[ModelFreshness]:
    """Freshness of each of `variants` (in that order); with no dataset built yet none is stale.
    Waits up to `lock_timeout_s` seconds for another process's catalog write."""
    with connect(catalog_path, lock_timeout_s=lock_timeout_s) as con:
        newest = newest_version(con)
        if newest is None:
            return [ModelFreshness(v, None, None, 0) for v in variants]
        rows = trained_on_and_missing(con, newest, variants)
    found = {variant: (trained_on, count) for variant, trained_on, count in rows}
    return [ModelFreshness(v, found[v][0], newest, int(found[v][1])) for v in variants]
