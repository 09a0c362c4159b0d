"""Specs for tests: a shipped variant's resolved config with a few settings changed, as the stages
would write it (every other value from configs/base.yaml and the profile)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bmw_assets.models.config import (
    DEFAULT_CONFIGS_DIR,
    EvaluationMeasurement,
    SurgerySection,
    VariantConfig,
    load_variant_config,
)
from bmw_assets.run_specs import RunSpec, TrainingData


def shipped_config(variant: str = "original", profile: str = "local", **changes: dict[str, Any]) -> VariantConfig:
    """`variant` under `profile`, with each given section (model=, surgery=, training=) updated key by key."""
    config = load_variant_config(variant, profile).model_dump(mode="json")
    for section, values in changes.items():
        config[section] = {**config[section], **values}
    return VariantConfig.model_validate(config)


def run_spec(
    output_dir: Path, base_model: Path | str, *, config: VariantConfig | None = None, train: Path | None = None,
    validation: Path | None = None, version: str = "test-dataset", run_id: str = "r1",
) -> RunSpec:  # fmt: skip
    """A RunSpec of `config` (default: original, local) writing into `output_dir`; the splits
    default to train.jsonl and validation.jsonl beside it."""
    return RunSpec(
        run_id=run_id,
        config=config or shipped_config(),
        base_model=str(base_model),
        dataset=TrainingData(
            version=version,
            train=train or output_dir.parent / "train.jsonl",
            validation=validation or output_dir.parent / "validation.jsonl",
        ),
        output_dir=output_dir,
    )


def measurement(**changes: Any) -> EvaluationMeasurement:
    """The local profile's evaluation settings (as an EvalSpec carries them), with `changes`."""
    shipped = load_variant_config("original", "local").evaluation.measurement().model_dump(mode="json")
    return EvaluationMeasurement.model_validate(shipped | changes)


def surgery_section(**changes: Any) -> SurgerySection:
    """configs/base.yaml's surgery section with `changes` (kind=, layer=, keep_layers=, ...) laid on."""
    base = yaml.safe_load((DEFAULT_CONFIGS_DIR / "base.yaml").read_text(encoding="utf-8"))["surgery"]
    return SurgerySection.model_validate(base | changes)
