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
from bmw_assets.evaluation.comparison import BASE_ROW, COLUMNS  # noqa: E402

BAR_METRICS = (
    "heldout_perplexity",
    "forgetting_change_pct",
    "fact_recall_train",
    "fact_recall_test",
    "fact_perplexity_train",
    "semantic_entropy",
    "parameters",
)


def _save(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    write_bytes_atomic(Path(path), buffer.getvalue())
    return Path(path)


# Spanning an order of magnitude across variants (a pruned model's perplexity next to the base's): log scale.
LOG_SCALE = {"heldout_perplexity", "fact_perplexity_train", "parameters"}
# Which way is better for the bars' colours; parameters have no better direction.
LOWER_IS_BETTER = {"heldout_perplexity": True, "forgetting_change_pct": True, "fact_recall_train": False,
                   "fact_recall_test": False, "fact_perplexity_train": True, "semantic_entropy": True}  # fmt: skip


def metric_panels(table: pl.DataFrame, metrics: Sequence[str] = BAR_METRICS) -> tuple[list[str], dict[str, str]]:
    """The metrics worth a panel, and for each other one why it has none (so no panel is empty)."""
    drawn, skipped = [], {}
    for metric in metrics:
        values = [v for v in table[metric].to_list() if v is not None]
        if not values:
            skipped[metric] = "no model has a value yet"
        elif all(v == 0 for v in values):
            skipped[metric] = "0 for every model, the base included"
        else:
            drawn.append(metric)
    return drawn, skipped


def plot_metric_bars(
    table: pl.DataFrame, path: Path, metrics: Sequence[str] = BAR_METRICS
) -> tuple[Path | None, dict[str, str]]:
    """One panel per metric over the variants: the base model's value is a dashed reference line
    (forgetting is already relative to it: its line is 0) and each variant's bar runs from that
    line to its value, green where better, red where worse; perplexity and parameters on a log
    scale. Metrics no model has, or that are 0 for all, get no panel: returns the PNG path (None
    when no panel is left) and {metric: why it has no panel}."""
    drawn, skipped = metric_panels(table, metrics)
    if not drawn:
        return None, skipped
    figure, axes = plt.subplots(len(drawn), 1, figsize=(8, 2.6 * len(drawn)), squeeze=False)
    rows = {row["variant"]: row for row in table.iter_rows(named=True)}
    variants = [v for v in rows if v != BASE_ROW]
    for axis, metric in zip(axes[:, 0], drawn, strict=True):
        values = [rows[v][metric] for v in variants]
        base = 0.0 if metric == "forgetting_change_pct" else rows.get(BASE_ROW, {}).get(metric)
        origin = 0.0 if base is None else base
        lower_is_better = LOWER_IS_BETTER.get(metric)
        colors = [_bar_color(v, origin, lower_is_better) for v in values]
        axis.bar(variants, [0 if v is None else v - origin for v in values], bottom=origin, color=colors)
        for x, value in enumerate(values):
            axis.annotate("missing" if value is None else f"{value:.4g}", (x, origin if value is None else value),
                          ha="center", va="bottom" if value is None or value >= origin else "top", fontsize=8,
                          xytext=(0, 2 if value is None or value >= origin else -2), textcoords="offset points")  # fmt: skip
        if base is not None:
            axis.axhline(base, color="#333", linestyle="--", linewidth=1.2, label=f"base {base:.4g}")
            axis.legend(fontsize=8, loc="best")
        if metric in LOG_SCALE and all(v is None or v > 0 for v in [*values, base]):
            axis.set_yscale("log")
        axis.margins(y=0.15)
        header, unit = COLUMNS[metric]
        notes = [n for n in (unit, "log scale" if axis.get_yscale() == "log" else "") if n]
        axis.set_title(f"{header} ({', '.join(notes)})" if notes else header, fontsize=10)
        axis.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    return _save(figure, path), skipped


def _bar_color(value: float | None, base: float, lower_is_better: bool | None) -> str:
    if value is None or lower_is_better is None or value == base:
        return "#1c69d4"
    return "#2e9e44" if (value < base) == lower_is_better else "#d62728"


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
