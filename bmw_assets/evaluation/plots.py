"""PNG plots for the variant comparison (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from bmw_assets.atomic import write_bytes_atomic  # noqa: E402
from bmw_assets.evaluation.comparison import COLUMNS  # noqa: E402

BAR_METRICS = (
    "heldout_perplexity",
    "forgetting_change_pct",
    "fact_recall_train",
    "fact_recall_test",
    "semantic_entropy",
    "parameters",
)


def _save(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    write_bytes_atomic(Path(path), buffer.getvalue())
    return Path(path)


def plot_metric_bars(table: pl.DataFrame, path: Path, metrics: Sequence[str] = BAR_METRICS) -> Path:
    """One bar chart per metric (a panel each) over the table's variants, saved as PNG
    at `path`; a missing value is drawn as no bar with the label "missing"."""
    figure, axes = plt.subplots(len(metrics), 1, figsize=(8, 2.6 * len(metrics)), squeeze=False)
    variants = table["variant"].to_list()
    for axis, metric in zip(axes[:, 0], metrics):
        values = table[metric].to_list()
        axis.bar(variants, [0 if v is None else v for v in values], color=["#bbb" if v is None else "#1c69d4" for v in values])
        for x, value in enumerate(values):
            if value is None:
                axis.text(x, 0, "missing", ha="center", va="bottom", fontsize=8, color="#555")
        header, unit = COLUMNS[metric]
        axis.set_title(f"{header} ({unit})" if unit else header, fontsize=10)
        axis.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    return _save(figure, path)


def plot_loss_curves(training_stats: Mapping[str, Mapping[str, Any] | None], path: Path) -> Path:
    """Training (solid) and validation (dashed) loss against step for every variant whose
    stats carry `history` (see comparison.load_training_stats), overlaid; PNG at `path`."""
    figure, axis = plt.subplots(figsize=(8, 4.5))
    drawn = 0
    for number, (variant, stats) in enumerate(training_stats.items()):
        history = (stats or {}).get("history") or {}
        for kind, style in (("train", "-"), ("eval", "--")):
            points = history.get(kind) or []
            if points:
                steps, losses = [p["step"] for p in points], [p["loss"] for p in points]
                axis.plot(steps, losses, style, color=f"C{number}", label=f"{variant} {kind}")
                drawn += 1
    axis.set_xlabel("step")
    axis.set_ylabel("loss (nats/token)")
    axis.set_title("Loss curves by variant")
    if drawn:
        axis.legend(fontsize=8)
    else:
        axis.text(0.5, 0.5, "no loss history", ha="center", transform=axis.transAxes)
    return _save(figure, path)
