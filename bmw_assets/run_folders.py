"""Where a training run and an evaluation keep their files: the one module that names them.

A training run, `<models_dir>/<variant>/<run_id>/`::

    ../<run_id>.run_spec.json  the RunSpec, beside the folder (written before the run starts)
    checkpoint-<step>/         Trainer checkpoints; deleted once manifest.json is written
    *.safetensors, tokenizer   full weights, or adapter_model.safetensors for LoRA
    merged/                    a LoRA adapter folded into full weights (training.merge_lora or an export);
                               merged/export.json records the export's logit check
    surgery.json               which layers the surgery removed
    resolved_config.json       the VariantConfig the run trained with
    metrics.json               losses, throughput, optimizer
    loss_curve.png, layer_scores.png, runs/ (TensorBoard event files)
    manifest.json              written last: its presence means the run completed

An evaluation, `<reports_dir>/<variant>/<run_id>/`: eval_spec.json (the EvalSpec), eval_report.md,
then eval_report.json, written last.

Imports neither dagster nor the ML stack: both sides of the Pipes boundary use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.json"
SURGERY_FILE = "surgery.json"
RESOLVED_CONFIG_FILE = "resolved_config.json"
LOSS_CURVE_FILE = "loss_curve.png"
LAYER_SCORES_FILE = "layer_scores.png"
MERGED_DIR = "merged"
EXPORT_RECORD_FILE = "export.json"
TENSORBOARD_DIR = "runs"  # what the Trainer's TensorBoard callback writes under the run folder
CHECKPOINT_PREFIX = "checkpoint-"
RUN_SPEC_SUFFIX = ".run_spec.json"
EVAL_SPEC_FILE = "eval_spec.json"
REPORT_JSON = "eval_report.json"
REPORT_MARKDOWN = "eval_report.md"


def checkpoint_step(checkpoint: Path | str) -> int:
    """The optimizer step of a Trainer `checkpoint-<step>` folder."""
    return int(Path(checkpoint).name.rsplit("-", 1)[1])


@dataclass(frozen=True)
class TrainingRunFolder:
    """The folder of one training run and the files in it (see the module docstring)."""

    path: Path

    @classmethod
    def of(cls, models_dir: Path, variant: str, run_id: str) -> TrainingRunFolder:
        return cls(Path(models_dir) / variant / run_id)

    @property
    def spec(self) -> Path:
        return self.path.parent / f"{self.path.name}{RUN_SPEC_SUFFIX}"

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST_FILE

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def surgery(self) -> Path:
        return self.path / SURGERY_FILE

    @property
    def resolved_config(self) -> Path:
        return self.path / RESOLVED_CONFIG_FILE

    @property
    def loss_curve(self) -> Path:
        return self.path / LOSS_CURVE_FILE

    @property
    def layer_scores(self) -> Path:
        return self.path / LAYER_SCORES_FILE

    @property
    def merged(self) -> Path:
        return self.path / MERGED_DIR

    @property
    def export_record(self) -> Path:
        return self.merged / EXPORT_RECORD_FILE

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD_DIR

    @property
    def completed(self) -> bool:
        return self.manifest.is_file()

    def checkpoints(self) -> list[Path]:
        return sorted(self.path.glob(f"{CHECKPOINT_PREFIX}*"), key=checkpoint_step)

    def last_complete_checkpoint(self) -> Path | None:
        """The highest-step checkpoint holding trainer_state.json, which the Trainer writes last:
        a run killed mid-save leaves a folder without it, and that one is skipped."""
        complete = [path for path in self.checkpoints() if (path / "trainer_state.json").is_file()]
        return complete[-1] if complete else None

    def weight_files(self) -> list[Path]:
        """The run's *.safetensors, then those of merged/; RuntimeError when there are none."""
        files = sorted(self.path.glob("*.safetensors")) + sorted(self.merged.glob("*.safetensors"))
        if not files:
            raise RuntimeError(f"training finished but wrote no *.safetensors into {self.path}")
        return files

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest of the completed run, or None when the run never completed."""
        return _read_json(self.manifest) if self.completed else None

    def read_metrics(self) -> dict[str, Any]:
        return _read_json(self.metrics)


@dataclass(frozen=True)
class EvaluationFolder:
    """The folder of one model's evaluation (see the module docstring)."""

    path: Path

    @classmethod
    def of(cls, reports_dir: Path, variant: str, run_id: str) -> EvaluationFolder:
        return cls(Path(reports_dir) / variant / run_id)

    @classmethod
    def newest(cls, reports_dir: Path, variant: str) -> EvaluationFolder | None:
        """The variant's most recently written complete evaluation, or None."""
        reports = (Path(reports_dir) / variant).glob(f"*/{REPORT_JSON}")
        newest = max(reports, key=lambda path: path.stat().st_mtime, default=None)
        return cls(newest.parent) if newest is not None else None

    @property
    def spec(self) -> Path:
        return self.path / EVAL_SPEC_FILE

    @property
    def report_json(self) -> Path:
        return self.path / REPORT_JSON

    @property
    def report_markdown(self) -> Path:
        return self.path / REPORT_MARKDOWN


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
