"""A TrainerCallback that streams losses to the reporter and measures throughput."""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback

from bmw_assets.training.reporting import Reporter


class LossStreamCallback(TrainerCallback):
    """Reports each logging step's train loss and each evaluation's loss as one line;
    measures tokens per second over this process's part of the run (resumes included)."""

    def __init__(self, reporter: Reporter) -> None:
        self._reporter = reporter
        self._start_time = 0.0
        self._start_tokens = 0
        self.tokens_per_second = 0.0
        self.trained_tokens = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start_time = time.perf_counter()
        self._start_tokens = state.num_input_tokens_seen
        if state.global_step:
            self._reporter.log(f"resumed at step {state.global_step}/{state.max_steps}")

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
        elapsed = time.perf_counter() - self._start_time
        self.trained_tokens = state.num_input_tokens_seen - self._start_tokens
        self.tokens_per_second = self.trained_tokens / elapsed if elapsed > 0 else 0.0
