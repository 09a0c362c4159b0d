"""Is a variant better than the base model? Rounded numbers, each metric's change against the
base with its direction, and the verdict that the asset checks and the comparison show.

Everything here works on plain mappings (`EvalReport.metrics()`: name -> (value, n), and
`EvalReport.standard_errors()`: name -> standard error or None), so it is tested without models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

Metrics = Mapping[str, tuple[float | None, int | None]]
Errors = Mapping[str, float | None]

# What each directed metric is called in a sentence, and whether lower values are better.
DIRECTIONS: dict[str, tuple[str, bool]] = {
    "heldout_perplexity": ("held-out perplexity", True),
    "general_perplexity": ("general-text perplexity", True),
    "fact_recall_train": ("fact recall (training articles)", False),
    "fact_recall_test": ("fact recall (held-out articles)", False),
    "fact_perplexity_train": ("answer perplexity (training articles)", True),
    "fact_perplexity_test": ("answer perplexity (held-out articles)", True),
    "semantic_entropy": ("semantic entropy", True),
    "semantic_entropy_auroc": ("entropy AUROC", False),
}
# Rates in [0, 1] change in percentage points: a relative change from a base of 0 has no meaning.
RATES = {"fact_recall_train", "fact_recall_test", "semantic_entropy_auroc"}
# A difference smaller than this many standard errors of the difference reads as noise.
NOISE_STANDARD_ERRORS = 2.0
SIGNIFICANT_DIGITS = 4
MINUS = "\u2212"


def significant(value: float | int | None, digits: int = SIGNIFICANT_DIGITS) -> float | int | None:
    """A float rounded to `digits` significant digits; ints, None and non-finite values unchanged."""
    if not isinstance(value, float) or value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def finite(value: float | int | None) -> float | None:
    """The value as a float, or None when it is missing or NaN/inf (nothing was measured)."""
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def signed(number: float, decimals: int = 1) -> str:
    """`+1.3` or `−7.2` (a true minus sign), never `-0.0`."""
    shown = f"{abs(number):.{decimals}f}"
    if float(shown) == 0:
        return f"±{shown}"
    return ("+" if number > 0 else MINUS) + shown


@dataclass(frozen=True)
class Change:
    """One metric of a variant against the base. `delta` is in % of the base for most metrics and
    in percentage points for rates; `noise` is True when the difference is under
    NOISE_STANDARD_ERRORS standard errors (None when no standard errors are known)."""

    metric: str
    value: float
    base: float
    delta: float
    better: bool | None  # None: no change at all
    noise: bool | None

    @property
    def lower_is_better(self) -> bool:
        return DIRECTIONS[self.metric][1]

    def text(self) -> str:
        """For example "−7.2% held-out perplexity, lower is better"."""
        name, lower = DIRECTIONS[self.metric]
        if self.better is None:
            return f"no change in {name}"
        unit = " points" if self.metric in RATES else "%"
        noise = " (within noise)" if self.noise else ""
        return f"{signed(self.delta)}{unit} {name}, {'lower' if lower else 'higher'} is better{noise}"


def change(
    metric: str,
    value: float | None,
    base: float | None,
    errors: tuple[float | None, float | None] = (None, None),
    paired_log_se: float | None = None,
) -> Change | None:
    """`value` of a directed metric (see DIRECTIONS) against `base`; None when either is missing,
    or when a relative change is asked of a base of 0. `errors` are the standard errors of value
    and base; the difference counts as noise when both are known and it is under
    NOISE_STANDARD_ERRORS * sqrt(se_value² + se_base²). `paired_log_se`, when the two were measured
    on the same items, is the standard error of log(value / base) from the per-item differences:
    it decides instead (items that are hard for both no longer count as noise)."""
    value, base = finite(value), finite(base)
    if value is None or base is None:
        return None
    if metric in RATES:
        delta = 100.0 * (value - base)
    elif base == 0:
        return None
    else:
        delta = 100.0 * (value / base - 1.0)
    lower = DIRECTIONS[metric][1]
    better = None if value == base else (value < base) == lower
    se_value, se_base = (finite(e) for e in errors)
    noise = None
    if finite(paired_log_se) is not None and value > 0 and base > 0:
        noise = abs(math.log(value / base)) < NOISE_STANDARD_ERRORS * paired_log_se
    elif se_value is not None and se_base is not None:
        noise = abs(value - base) < NOISE_STANDARD_ERRORS * math.hypot(se_value, se_base)
    return Change(metric, value, base, delta, better, noise)


def changes(
    metrics: Metrics, errors: Errors, base: Metrics, base_errors: Errors, paired: Errors | None = None
) -> dict[str, Change]:
    """Every directed metric both reports have a value for, against the base; `paired` holds the
    paired standard errors of log(value / base) where there are some (see `change`)."""
    found = {}
    paired = paired or {}
    for metric in DIRECTIONS:
        if metric in metrics and metric in base:
            moved = change(metric, metrics[metric][0], base[metric][0], (errors.get(metric), base_errors.get(metric)),
                           paired.get(metric))  # fmt: skip
            if moved is not None:
                found[metric] = moved
    return found


FORGETTING_METRIC = "general_perplexity"  # perplexity on general English the base model did not write


@dataclass(frozen=True)
class Verdict:
    """A variant against the base: held-out perplexity, forgetting and fact recall."""

    variant: str
    heldout: Change | None
    forgetting: Change | None  # of `forgetting_metric`
    forgetting_metric: str
    max_forgetting_pct: float
    fact_recall: Change | None  # training articles: what fine-tuning should teach
    answer_perplexity: Change | None = None  # the same facts, by likelihood: moves before recall does

    @property
    def beats_base(self) -> bool:
        """Held-out perplexity below the base's, and not within noise where that is known."""
        return self.heldout is not None and bool(self.heldout.better) and not self.heldout.noise

    @property
    def forgetting_within_limit(self) -> bool:
        """Perplexity on general text at most `max_forgetting_pct` % above the base's."""
        return self.forgetting is not None and self.forgetting.delta <= self.max_forgetting_pct

    @property
    def summary(self) -> str:
        """better / worse / mixed, or undecided without a held-out perplexity to compare."""
        if self.heldout is None:
            return "undecided"
        if self.beats_base and self.forgetting_within_limit:
            return "better"
        if not self.beats_base and not self.forgetting_within_limit:
            return "worse"
        return "mixed"

    def line(self) -> str:
        """One Markdown line, e.g. "**original_lora**: better. −7.2% held-out perplexity, …"."""
        parts = [self.heldout.text() if self.heldout else "held-out perplexity is missing in this report or the base's"]
        if self.forgetting is None:
            parts.append(f"forgetting cannot be measured ({self.forgetting_metric} is missing)")
        else:
            parts.append(f"forgetting {signed(self.forgetting.delta)}% {DIRECTIONS[self.forgetting_metric][0]} "
                         f"(limit +{self.max_forgetting_pct:g}%)")  # fmt: skip
        if self.fact_recall is not None:
            parts.append(f"fact recall {self.fact_recall.value:.2f} vs {self.fact_recall.base:.2f} for the base")
        if self.answer_perplexity is not None:
            parts.append(self.answer_perplexity.text())
        return f"**{self.variant}**: {self.summary}. " + "; ".join(parts) + "."


def verdict(variant: str, metrics: Metrics, errors: Errors, base: Metrics, base_errors: Errors,
            max_forgetting_pct: float, paired: Errors | None = None) -> Verdict:  # fmt: skip
    """The verdict of one variant's metrics against the base model's."""
    moved = changes(metrics, errors, base, base_errors, paired)
    forgetting = FORGETTING_METRIC
    return Verdict(variant, moved.get("heldout_perplexity"), moved.get(forgetting), forgetting,
                   max_forgetting_pct, moved.get("fact_recall_train"), moved.get("fact_perplexity_train"))  # fmt: skip


def metric_rows(
    metrics: Metrics, errors: Errors, base: Metrics | None, base_errors: Errors, paired: Errors | None = None
) -> list[dict]:
    """One row per metric for a table: metric, value (rounded), ± standard error, n, the base's
    value and the change against it ("" where there is none)."""
    moved = changes(metrics, errors, base, base_errors, paired) if base is not None else {}
    rows = []
    for metric, (value, n) in metrics.items():
        se = finite(errors.get(metric))
        rows.append({
            "metric": metric,
            "value": significant(finite(value)) if not isinstance(value, int) else value,
            "standard_error": significant(se) if se is not None else None,
            "n": n,
            "base": significant(finite(base[metric][0])) if base is not None and metric in base else None,
            "change_vs_base": moved[metric].text() if metric in moved else "",
        })  # fmt: skip
    return rows


def shown(value: float | None, se: float | None = None) -> str:
    """A rounded value with "± se" when the standard error is known, "—" when missing."""
    value = finite(value)
    if value is None:
        return "—"
    text = f"{significant(value):g}" if not value.is_integer() or abs(value) < 1e6 else f"{int(value):,}"
    return text + (f" ± {significant(se):g}" if finite(se) is not None else "")
