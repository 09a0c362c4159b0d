"""Layer surgery on a decoder-only causal LM (Llama, Qwen3): drop one layer or
prune a block of layers, chosen by index or by the layer scores.

The choice comes from a resolved config's validated `surgery` section (`SurgerySection`), whose
every value base.yaml sets: nothing here fills in a default of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bmw_assets.atomic import write_png_atomic
from bmw_assets.models.config import SurgerySection
from bmw_assets.models.layer_scores import score_layers

CalibrationBatch = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class SurgeryReport:
    """What the surgery did, in original layer indices (0-based).

    `scores[i]` is the Block Influence of layer i (score_name "block_influence",
    drop) or the angular distance of the block of `block_size` layers starting at
    layer i (score_name "angular_distance", prune; only blocks that keep the final
    layer); empty with score_name None when nothing was scored.
    """

    kind: str
    removed_layers: list[int]
    kept_layers: list[int]
    scores: list[float]
    score_name: str | None
    block_size: int
    num_layers_before: int
    calibration_tokens: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        return asdict(self)


def check_surgery_fits(surgery: SurgerySection, num_layers: int) -> None:
    """Raise ValueError naming the key when `surgery` cannot apply to a model with `num_layers`
    decoder layers (cheap: call it before scoring or training). The section's own consistency
    (a layer to drop, keep_layers 'auto' with the angular strategy) was checked when it was validated."""
    if surgery.kind == "drop":
        layer = surgery.layer
        if num_layers < 2:
            raise ValueError(f"surgery.kind drop: the model has only {num_layers} layer; nothing can be dropped")
        if layer != "auto" and not (isinstance(layer, int) and 0 <= layer < num_layers):
            raise ValueError(
                f"surgery.layer {layer!r} is out of range for {num_layers} layers; use 0..{num_layers - 1} or 'auto'"
            )
    elif surgery.kind == "prune":
        keep = surgery.keep_layers
        if keep == "auto":
            block = surgery.block_size
            if not (isinstance(block, int) and 1 <= block <= num_layers - 1):
                raise ValueError(f"surgery.keep_layers 'auto' needs block_size in 1..{num_layers - 1}; got {block!r}")
        elif not (isinstance(keep, int) and 1 <= keep < num_layers):
            raise ValueError(
                f"surgery.keep_layers {keep!r} is out of range for {num_layers} layers; "
                f"use 1..{num_layers - 1} or 'auto'"
            )


def apply_surgery(
    model: torch.nn.Module,
    surgery: SurgerySection,
    calibration_batches: Iterable[CalibrationBatch] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SurgeryReport:
    """Remove decoder layers from `model` in place as `surgery` says; return the report.

    `calibration_batches` yields dicts of `input_ids` and `attention_mask` ([batch,
    tokens]); at most `calibration_samples` rows are scored in one forward pass each.
    They are required for "auto" choices; when given for a fixed choice, the
    scores are still measured so they can be plotted. kind "none" changes nothing.
    """
    num_layers = model.config.num_hidden_layers
    check_surgery_fits(surgery, num_layers)
    kind = surgery.kind
    if kind == "none":
        everything = list(range(num_layers))
        return SurgeryReport("none", [], everything, [], None, 0, num_layers, 0)

    if kind == "drop":
        block_size, score_name = 1, "block_influence"
        auto = surgery.layer == "auto"
    else:
        keep = surgery.keep_layers
        block_size = surgery.block_size if keep == "auto" else num_layers - keep
        score_name = "angular_distance"
        auto = surgery.prune_strategy == "angular"

    batches = list(calibration_batches) if calibration_batches is not None else []
    if auto and not batches:
        raise ValueError(f"surgery {kind} chooses layers automatically and needs calibration_batches; none were given")
    scores: list[float] = []
    tokens = 0
    if batches:
        measured = score_layers(
            model, batches, block_size=block_size, max_rows=surgery.calibration_samples, progress=progress
        )
        tokens = measured.tokens
        # Blocks that would take the final layer are never candidates: it maps onto the vocabulary.
        scores = measured.block_influence if kind == "drop" else measured.angular_distance[: num_layers - block_size]

    if kind == "drop":
        layer = min(range(num_layers), key=scores.__getitem__) if auto else surgery.layer
        removed = [layer]
    else:
        start = min(range(len(scores)), key=scores.__getitem__) if auto else num_layers - block_size
        removed = list(range(start, start + block_size))

    kept = remove_layers(model, removed)
    if progress is not None:
        progress(f"surgery {kind}: removed layers {removed}, {len(kept)} of {num_layers} remain")
    return SurgeryReport(kind, removed, kept, scores, score_name if scores else None, block_size, num_layers, tokens)


def remove_layers(model: torch.nn.Module, removed: Sequence[int]) -> list[int]:
    """Delete the decoder layers at `removed` (original indices) and make the rest
    consistent: a new `model.model.layers`, attention `layer_idx` renumbered 0..n-1
    (the KV cache is indexed by it), `config.num_hidden_layers` and the per-layer
    config entries (`layer_types`, `max_window_layers`) updated. Returns the kept
    original indices in order."""
    decoder = model.model
    config = model.config
    old_count = len(decoder.layers)
    if any(not 0 <= i < old_count for i in removed):
        raise ValueError(f"layers {sorted(removed)} are out of range for {old_count} layers (0..{old_count - 1})")
    dropped = set(removed)
    kept = [i for i in range(old_count) if i not in dropped]
    if not kept:
        raise ValueError(f"removing {sorted(removed)} would leave no decoder layer")

    decoder.layers = torch.nn.ModuleList(decoder.layers[i] for i in kept)
    for new_index, layer in enumerate(decoder.layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_index

    config.num_hidden_layers = len(kept)
    if isinstance(getattr(config, "layer_types", None), list):
        config.layer_types = [config.layer_types[i] for i in kept]
    if isinstance(getattr(config, "max_window_layers", None), int):
        # Layers below the threshold use full attention; count the kept ones that were.
        config.max_window_layers = sum(1 for i in kept if i < config.max_window_layers)
    if hasattr(decoder, "has_sliding_layers") and isinstance(getattr(config, "layer_types", None), list):
        decoder.has_sliding_layers = "sliding_attention" in config.layer_types
    return kept


def build_calibration_batches(
    tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int = 4
) -> list[dict[str, torch.Tensor]]:
    """Tokenize `texts` into padded batches of `input_ids` and `attention_mask`,
    each text cut to `max_length` tokens, for `apply_surgery`."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    batches = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(
            list(texts[start : start + batch_size]),
            max_length=max_length,
            truncation=True,
            padding=True,
            return_tensors="pt",
        )
        batches.append({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]})
    return batches


def plot_layer_scores(report: SurgeryReport, path: Path | str) -> Path:
    """Draw the report's scores as a bar chart (removed layers in red) to a PNG at
    `path`, written atomically; returns the path. Raises ValueError without scores."""
    if not report.scores:
        raise ValueError(f"the {report.kind} surgery report has no scores to plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    removed = set(report.removed_layers)
    if report.score_name == "block_influence":
        chosen = [i in removed for i in range(len(report.scores))]
        xlabel, title = "layer", "Block Influence: 1 - cos(in, out)"
    else:
        chosen = [i == min(removed) for i in range(len(report.scores))]
        xlabel = f"first layer of a {report.block_size}-layer block"
        title = "Angular distance across the block: arccos(cos)/pi"
    fig, ax = plt.subplots(figsize=(max(6.0, 0.25 * len(report.scores)), 3.5))
    ax.bar(range(len(report.scores)), report.scores, color=["tab:red" if c else "tab:blue" for c in chosen])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(report.score_name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    removed_text = (
        ", ".join(map(str, report.removed_layers))
        if len(removed) <= 3
        else (f"{report.removed_layers[0]}-{report.removed_layers[-1]}")
    )
    ax.set_title(f"{title}\nremoved layer(s) {removed_text} of {report.num_layers_before}", fontsize=10)
    fig.tight_layout()
    try:
        return write_png_atomic(fig, Path(path))
    finally:
        plt.close(fig)
