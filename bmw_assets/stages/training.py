"""`trained_model[variant]`: the run spec handed to the training process, and its record.

The run id is derived from what the run consumes (dataset version, resolved config),
so re-materializing after an interruption finds the same output folder and resumes
from its last checkpoint, and re-materializing a finished run trains nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bmw_assets.atomic import write_json_atomic
from bmw_assets.catalog import connect, transaction
from bmw_assets.models.base_model import ensure_base_model
from bmw_assets.models.config import (
    VariantConfig,
    config_sha256,
    validate_against_model,
)
from bmw_assets.settings import StorageLayout

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class TrainingPlan:
    variant: str
    run_id: str
    method: str
    output_dir: Path
    spec_path: Path

    @property
    def completed(self) -> bool:
        return (self.output_dir / MANIFEST).is_file()


def plan_training_run(cfg: VariantConfig, dataset: dict[str, Any], layout: StorageLayout) -> TrainingPlan:
    """Check the config against the base model and write the run spec; no weights are loaded.

    `dataset` is the `chatml_dataset` manifest (version, path). Raises ConfigError
    naming a surgery setting the base model cannot satisfy.
    """
    from transformers import AutoConfig

    base_model = ensure_base_model(cfg.model.name, layout.cache_dir / "base_models")
    model_config = AutoConfig.from_pretrained(base_model, trust_remote_code=cfg.model.trust_remote_code)
    validate_against_model(cfg, model_config.num_hidden_layers)
    config_hash = config_sha256(cfg)
    run_id = f"{dataset['version'][:10]}-{config_hash[:10]}"
    output_dir = layout.models_dir / cfg.variant / run_id
    splits = Path(dataset["path"])
    spec = {
        "variant": cfg.variant,
        "run_id": run_id,
        "config": cfg.model_dump(mode="json"),
        "base_model": base_model,
        "dataset": {
            "train": str(splits / "train.jsonl"),
            "validation": str(splits / "validation.jsonl"),
            "version": dataset["version"],
        },
        "output_dir": str(output_dir),
    }
    spec_path = output_dir.parent / f"{run_id}.run_spec.json"
    write_json_atomic(spec_path, spec)
    return TrainingPlan(cfg.variant, run_id, cfg.training.method, output_dir, spec_path)


def record_training_run(catalog_path: Path, plan: TrainingPlan) -> dict[str, Any]:
    """Read the finished run's manifest and metrics, upsert `training_runs`, return the manifest."""
    manifest = json.loads((plan.output_dir / MANIFEST).read_text())
    metrics = json.loads((plan.output_dir / manifest["paths"]["metrics"]).read_text())
    row = (
        plan.variant, plan.run_id, manifest["dataset"]["version"], manifest["config_sha256"],
        str(plan.output_dir), "completed", metrics.get("tokens_per_second"), manifest.get("wall_seconds"),
        metrics.get("final_train_loss"), metrics.get("best_eval_loss"), manifest.get("layers"),
        manifest.get("total_params"), manifest.get("trainable_params"), manifest.get("device"),
        datetime.now(timezone.utc),
    )  # fmt: skip
    with connect(catalog_path) as con, transaction(con):
        con.execute(f"INSERT OR REPLACE INTO training_runs VALUES ({', '.join('?' * len(row))})", row)
    return manifest | {"metrics": metrics}
