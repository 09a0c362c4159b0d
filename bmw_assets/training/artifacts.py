"""What a finished training run hands on: its loss history and curve, and the model an evaluation
of it loads (the folder's layout is `bmw_assets.run_folders`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bmw_assets.atomic import write_png_atomic
from bmw_assets.run_folders import TrainingRunFolder
from bmw_assets.run_specs import EvaluatedModel


def model_to_evaluate(trained: dict[str, Any], base_model: str) -> EvaluatedModel:
    """The model of a trained-model manifest as an evaluation loads it: the merged folder if the run
    wrote one; a LoRA adapter on the base model with the run's removed layers taken out; a full
    fine-tune's folder."""
    folder = TrainingRunFolder(Path(trained["output_dir"]))
    if trained["paths"].get("merged"):
        return EvaluatedModel(path=str(folder.merged))
    if trained["method"] == "lora":
        return EvaluatedModel(path=base_model, adapter=folder.path, removed_layers=trained["removed_layers"])
    return EvaluatedModel(path=str(folder.path))


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
