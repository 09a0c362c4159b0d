"""The run spec: the plain-JSON contract between the Dagster asset and the training process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_REQUIRED_KEYS = ("variant", "run_id", "config", "base_model", "dataset", "output_dir")


@dataclass(frozen=True)
class RunSpec:
    """One training run: which variant, its resolved config (a plain dict), where the base
    model and the JSONL splits are, and the folder that receives every output."""

    variant: str
    run_id: str
    config: dict[str, Any]
    base_model: str
    train_path: Path
    validation_path: Path
    output_dir: Path
    dataset_version: str | None = None
    # torch threads on a CPU: one, since training shares a 2-core machine with the next step's
    # evaluation and intra-op threads contend badly there.
    cpu_threads: int = 1
    # Where a file-based tracker (training.report_to: mlflow) keeps its store; None: the output_dir.
    tracking_root: Path | None = None

    @property
    def tracking_dir(self) -> Path:
        return self.tracking_root or self.output_dir

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        """Validate a spec dict (as in CONTRACTS.md) and build the RunSpec."""
        missing = [key for key in _REQUIRED_KEYS if key not in data]
        if missing:
            raise ValueError(f"run spec lacks {missing}; it needs all of {list(_REQUIRED_KEYS)}")
        dataset = data["dataset"]
        if not isinstance(dataset, dict) or not {"train", "validation"} <= dataset.keys():
            raise ValueError(
                f"run spec 'dataset' must be {{'train': path.jsonl, 'validation': path.jsonl}}, got {dataset!r}"
            )
        for section in ("model", "surgery", "training"):
            if not isinstance(data["config"].get(section), dict):
                raise ValueError(f"run spec 'config' lacks the '{section}' section (a dict)")
        return cls(
            variant=str(data["variant"]),
            run_id=str(data["run_id"]),
            config=data["config"],
            base_model=str(data["base_model"]),
            train_path=Path(dataset["train"]),
            validation_path=Path(dataset["validation"]),
            output_dir=Path(data["output_dir"]),
            dataset_version=dataset.get("version"),
            cpu_threads=int(data.get("cpu_threads", 1)),
            tracking_root=Path(data["tracking_dir"]) if data.get("tracking_dir") else None,
        )

    @classmethod
    def load(cls, path: Path) -> RunSpec:
        """Read and validate a run_spec.json file."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
