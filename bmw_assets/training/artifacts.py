"""Files a run leaves in its output_dir: JSON written atomically, the loss-curve PNG,
and the manifest whose presence means the run completed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bmw_assets.atomic import write_png_atomic

MANIFEST_NAME = "manifest.json"


def read_manifest(output_dir: Path) -> dict[str, Any] | None:
    """The manifest of a completed run in `output_dir`, or None if the run never completed."""
    path = Path(output_dir) / MANIFEST_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def model_to_evaluate(trained: dict[str, Any], base_model: str) -> dict[str, Any]:
    """Spec keys naming the model of a trained-model manifest: a merged folder if written; a
    LoRA adapter on the base model with the run's removed layers taken out; a full fine-tune's folder."""
    output_dir = Path(trained["output_dir"])
    if trained["paths"].get("merged"):
        return {"model_path": str(output_dir / trained["paths"]["merged"]), "adapter_path": None}
    if trained["method"] == "lora":
        return {"model_path": base_model, "adapter_path": str(output_dir), "removed_layers": trained["removed_layers"]}
    return {"model_path": str(output_dir), "adapter_path": None}


def loss_history(log_history: list[dict[str, Any]]) -> dict[str, list[dict[str, float]]]:
    """Split a Trainer `state.log_history` into train and eval loss points ({step, loss})."""
    train = [{"step": e["step"], "loss": e["loss"]} for e in log_history if "loss" in e]
    evaluation = [{"step": e["step"], "loss": e["eval_loss"]} for e in log_history if "eval_loss" in e]
    return {"train": train, "eval": evaluation}


def plot_loss_curves(history: dict[str, list[dict[str, float]]], path: Path, title: str) -> None:
    """Train and validation loss against optimizer step, saved as a PNG (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4))
    for split, style in (("train", "-"), ("eval", "o-")):
        points = history[split]
        if points:
            axes.plot([p["step"] for p in points], [p["loss"] for p in points], style, label=split)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss (nats/token)")
    axes.set_title(title)
    axes.legend()
    axes.grid(alpha=0.3)
    try:
        write_png_atomic(figure, Path(path))
    finally:
        pyplot.close(figure)
