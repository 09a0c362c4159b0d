"""A TrainerCallback that streams losses to the reporter and measures throughput."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from bmw_assets.run_folders import CHECKPOINT_PREFIX
from bmw_assets.training.reporting import Reporter

# Written into each checkpoint: the run's seconds up to that save, so a resumed run counts the
# segments before it (a run killed and resumed twice is not reported as its last segment's time).
RUN_SECONDS_FILE = "run_seconds.json"


class LossStreamCallback(TrainerCallback):
    """Reports each logging step's train loss and each evaluation's loss as one line; measures the
    whole run's trained tokens, training seconds and wall seconds (process start to end, model
    loading included), resumed segments summed up to the checkpoint each was resumed from."""

    def __init__(self, reporter: Reporter, process_started: float) -> None:
        self._reporter = reporter
        self._process_started = process_started
        self._train_started = 0.0
        self._before = {"train_seconds": 0.0, "wall_seconds": 0.0}  # segments before this process
        self.tokens_per_second = 0.0
        self.trained_tokens = 0
        self.train_seconds = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._train_started = time.perf_counter()
        if state.global_step:
            self._reporter.log(f"resumed at step {state.global_step}/{state.max_steps}")
            saved = Path(args.output_dir) / f"{CHECKPOINT_PREFIX}{state.global_step}" / RUN_SECONDS_FILE
            if saved.is_file():
                self._before = json.loads(saved.read_text())

    def _so_far(self) -> dict[str, float]:
        now = time.perf_counter()
        return {
            "train_seconds": self._before["train_seconds"] + now - self._train_started,
            "wall_seconds": self._before["wall_seconds"] + now - self._process_started,
        }

    def wall_seconds(self) -> float:
        """The run's wall seconds so far, earlier segments included."""
        return round(self._so_far()["wall_seconds"], 2)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        checkpoint = Path(args.output_dir) / f"{CHECKPOINT_PREFIX}{state.global_step}"
        if state.is_world_process_zero and checkpoint.is_dir():
            (checkpoint / RUN_SECONDS_FILE).write_text(json.dumps(self._so_far()))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        if "loss" in logs:
            self._reporter.log(
                f"step {state.global_step}/{state.max_steps} train_loss={logs['loss']:.4f} "
                f"lr={logs.get('learning_rate', 0.0):.2e}"
            )
        if "eval_loss" in logs:
            self._reporter.log(f"step {state.global_step}/{state.max_steps} eval_loss={logs['eval_loss']:.4f}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.train_seconds = round(self._so_far()["train_seconds"], 2)
        self.trained_tokens = state.num_input_tokens_seen  # restored from the checkpoint on resume
        self.tokens_per_second = self.trained_tokens / self.train_seconds if self.train_seconds > 0 else 0.0
