"""The record of one dataset version, and the token-length histogram shown in the UI."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bmw_assets.atomic import write_png_atomic
from bmw_assets.dataset.settings import SPLITS

HISTOGRAM_BINS = 20


@dataclass
class DatasetManifest:
    """What a build produced; saved as `manifest.json` beside the split files.

    rows / tokens: per split, per style (tokens of the rendered rows). articles:
    per split. chunked_articles: articles that needed more than one row in some
    style; chunked_by_style: the same per style. facts_skipped: facts whose answer
    the article does not contain. duplicate_groups: groups of more than one
    article (each kept in one split). article_splits: article id -> split.
    token_histogram: {"edges": [tokens], "counts": {split: [rows per bin]}}.
    """

    version: str
    path: str
    rows: dict[str, dict[str, int]]
    tokens: dict[str, dict[str, int]]
    articles: dict[str, int]
    chunked_articles: int
    chunked_by_style: dict[str, int]
    facts_skipped: int
    duplicate_groups: list[list[str]]
    article_splits: dict[str, str]
    token_histogram: dict[str, Any]
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetManifest:
        return cls(**data)

    def split_path(self, split: str) -> Path:
        """Path of the JSONL file of `split` (train, validation or test)."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {list(SPLITS)}")
        return Path(self.path) / f"{split}.jsonl"


def load_manifest(version_dir: Path) -> DatasetManifest:
    """Read `manifest.json` of a dataset version folder; `path` is set to where it lies now."""
    data = json.loads((Path(version_dir) / "manifest.json").read_text(encoding="utf-8"))
    data["path"] = str(Path(version_dir))
    return DatasetManifest.from_dict(data)


def token_histogram(lengths: Mapping[str, Sequence[int]], max_length: int) -> dict[str, Any]:
    """Row counts per split in HISTOGRAM_BINS equal bins of [0, max_length] tokens."""
    width = max_length / HISTOGRAM_BINS
    edges = [round(i * width, 2) for i in range(HISTOGRAM_BINS + 1)]
    counts = {}
    for split, values in lengths.items():
        bins = [0] * HISTOGRAM_BINS
        for value in values:
            bins[min(int(value / width), HISTOGRAM_BINS - 1)] += 1
        counts[split] = bins
    return {"edges": edges, "counts": counts}


def plot_token_histogram(manifest: DatasetManifest, path: Path) -> Path:
    """Write a PNG of the rows' token lengths per split (stacked bars, max_length marked); return `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = manifest.token_histogram["edges"]
    widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
    figure, axes = plt.subplots(figsize=(7, 3.5), dpi=100)
    bottom = [0] * len(widths)
    for split in SPLITS:
        counts = manifest.token_histogram["counts"].get(split, [0] * len(widths))
        axes.bar(edges[:-1], counts, width=widths, bottom=bottom, align="edge", label=split, edgecolor="white")
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.axvline(manifest.settings["max_length"], color="black", linestyle="--", label="max_length")
    axes.set_xlabel("tokens per row (rendered)")
    axes.set_ylabel("rows")
    axes.set_title(f"Dataset {manifest.version[:12]}: token lengths")
    axes.legend()
    figure.tight_layout()
    try:
        return write_png_atomic(figure, Path(path))
    finally:
        plt.close(figure)
