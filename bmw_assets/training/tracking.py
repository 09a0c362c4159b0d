"""Experiment tracking, chosen by `training.report_to`: where the trainer logs its losses and
learning rate besides the run's own metrics.json.

- tensorboard (default): event files in the run folder's `runs/` (bmw_assets.run_folders);
  `tensorboard --logdir <that folder>`.
- mlflow: a local file store (`<tracking_dir>/mlruns`) unless MLFLOW_TRACKING_URI names another.
- wandb: Weights & Biases as the environment sets it up (WANDB_API_KEY, WANDB_MODE=offline, ...).
- none: no tracker.

The package of the chosen tracker must be importable where training runs; a missing one fails
the run before the model is loaded, naming what to install.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import MutableMapping
from pathlib import Path

TRACKERS = ("tensorboard", "mlflow", "wandb", "none")
EXPERIMENT = "bmw_assets"


def check_tracker(report_to: str) -> None:
    """Raise ValueError for an unknown tracker and RuntimeError when its package is not installed."""
    if report_to not in TRACKERS:
        raise ValueError(f"training.report_to is {report_to!r}; use one of {', '.join(TRACKERS)}")
    if report_to != "none" and importlib.util.find_spec(report_to) is None:
        raise RuntimeError(
            f"training.report_to is {report_to!r} but the {report_to} package is not installed where training "
            f"runs: `pip install {report_to}` there, or set training.report_to to tensorboard or none"
        )


def tracker_environment(report_to: str, tracking_dir: Path, environ: MutableMapping[str, str] = os.environ) -> None:
    """Point the chosen tracker at its store: mlflow at a file store under `tracking_dir` and the
    experiment `bmw_assets`, wandb at the project `bmw_assets`; variables already set are kept."""
    if report_to == "mlflow":
        environ.setdefault("MLFLOW_TRACKING_URI", (Path(tracking_dir) / "mlruns").resolve().as_uri())
        environ.setdefault("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    elif report_to == "wandb":
        environ.setdefault("WANDB_PROJECT", EXPERIMENT)


def trainer_report_to(report_to: str) -> list[str]:
    """The Trainer's `report_to` for a tracker name."""
    return [] if report_to == "none" else [report_to]
