"""`trained_model[variant]`: the run spec handed to the training process, and its record.

The run id is derived from what the run consumes (dataset version, resolved config),
so re-materializing after an interruption finds the same output folder and resumes
from its last checkpoint, and re-materializing a finished run trains nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bmw_assets.catalog import connect, transaction
from bmw_assets.catalog.runs import replace_training_run
from bmw_assets.models.base_model import PACKAGED_MODEL, ensure_base_model
from bmw_assets.models.config import (
    ConfigError,
    VariantConfig,
    training_config_sha256,
    validate_against_model,
)
from bmw_assets.run_folders import TrainingRunFolder
from bmw_assets.run_specs import RunSpec, TrainingData
from bmw_assets.settings import StorageLayout
from bmw_assets.training.data import read_jsonl


@dataclass(frozen=True)
class TrainingPlan:
    variant: str
    run_id: str
    method: str
    folder: TrainingRunFolder

    @property
    def output_dir(self) -> Path:
        return self.folder.path

    @property
    def spec_path(self) -> Path:
        return self.folder.spec

    @property
    def completed(self) -> bool:
        return self.folder.completed


def base_model_config(name: str, cache_dir: Path, trust_remote_code: bool = False) -> tuple[str, Any]:
    """(path or Hub id, transformers config) of the base model `name` (a config's model.name);
    reads config.json only, never weights. Raises ConfigError naming model.name when it is
    neither a folder holding config.json nor a Hub id that can be fetched (or, with
    HF_HUB_OFFLINE=1, is already in the Hugging Face cache), or when it needs custom code
    and `trust_remote_code` is off."""
    from huggingface_hub import constants
    from transformers import AutoConfig

    base_model = ensure_base_model(name, cache_dir)
    local = Path(base_model).expanduser()
    if base_model.startswith((".", "/", "~")) and not (local / "config.json").is_file():
        raise ConfigError(f"model.name {name!r}: {local} is not a model folder (no config.json in it)")
    try:
        return base_model, AutoConfig.from_pretrained(base_model, trust_remote_code=trust_remote_code)
    except OSError as error:
        offline = (
            " (HF_HUB_OFFLINE=1: only the local Hugging Face cache is searched)" if constants.HF_HUB_OFFLINE else ""
        )
        raise ConfigError(
            f"model.name {name!r} cannot be found{offline}: use a model folder, a cached Hub id or "
            f"{PACKAGED_MODEL!r}; transformers said: {str(error).splitlines()[0]}"
        ) from None
    except ValueError as error:
        if trust_remote_code or "trust_remote_code" not in str(error):
            raise
        raise ConfigError(
            f"model.name {name!r} ships its own Python code, which runs only with model.trust_remote_code: true "
            "in the variant's config (off by default); read that code before turning it on"
        ) from None


def check_training_rows(cfg: VariantConfig, dataset: dict[str, Any]) -> dict[str, int]:
    """Rows of the train and validation splits of the `chatml_dataset` manifest that `cfg`
    trains on (training.styles), per split; raises ValueError naming the split file and the
    styles when either has none, so an empty dataset fails before any model is loaded."""
    styles = list(cfg.training.styles)
    counts = {}
    for split in ("train", "validation"):
        path = Path(dataset["path"]) / f"{split}.jsonl"
        try:
            counts[split] = len(read_jsonl(path, styles))
        except (FileNotFoundError, ValueError) as error:
            raise ValueError(f"{cfg.variant} cannot train on dataset {dataset['version']}: {error}") from None
    return counts


def plan_training_run(cfg: VariantConfig, dataset: dict[str, Any], layout: StorageLayout) -> TrainingPlan:
    """Check the dataset and the config against the base model and write the run spec; no
    weights are loaded, nothing is trained.

    `dataset` is the `chatml_dataset` manifest (version, path). Raises ValueError naming a
    split with no rows of the configured styles, and ConfigError naming a missing model or a
    surgery setting the base model cannot satisfy.
    """
    check_training_rows(cfg, dataset)
    base_model, model_config = base_model_config(
        cfg.model.name, layout.cache_dir / "base_models", cfg.model.trust_remote_code
    )
    validate_against_model(cfg, model_config.num_hidden_layers)
    config_hash = training_config_sha256(cfg)
    run_id = f"{dataset['version'][:10]}-{config_hash[:10]}"
    folder = TrainingRunFolder.of(layout.models_dir, cfg.variant, run_id)
    splits = Path(dataset["path"])
    spec = RunSpec(
        run_id=run_id,
        config=cfg,
        base_model=base_model,
        dataset=TrainingData(
            version=dataset["version"], train=splits / "train.jsonl", validation=splits / "validation.jsonl"
        ),
        output_dir=folder.path,
        # training.report_to: mlflow keeps one file store for every run, under the storage root.
        tracking_root=layout.root,
    )
    spec.write(folder.spec)
    return TrainingPlan(cfg.variant, run_id, cfg.training.method, folder)


def record_training_run(catalog_path: Path, plan: TrainingPlan) -> dict[str, Any]:
    """Read the finished run's manifest and metrics, upsert `training_runs`, return the manifest."""
    manifest = plan.folder.read_manifest()
    if manifest is None:
        raise RuntimeError(f"the training run in {plan.output_dir} ended without writing its manifest")
    metrics = plan.folder.read_metrics()
    row = (
        plan.variant, plan.run_id, manifest["dataset"]["version"], manifest["config_sha256"],
        str(plan.output_dir), "completed", metrics.get("tokens_per_second"), manifest.get("wall_seconds"),
        metrics.get("final_train_loss"), metrics.get("best_eval_loss"), manifest.get("layers"),
        manifest.get("total_params"), manifest.get("trainable_params"), manifest.get("device"),
        datetime.now(UTC),
    )  # fmt: skip
    with connect(catalog_path) as con, transaction(con):
        replace_training_run(con, row)
    return manifest | {"metrics": metrics}
