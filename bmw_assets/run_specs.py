"""The specs handed across the Pipes boundary: what a training run (`RunSpec`) or an evaluation
(`EvalSpec`) is asked to do, and everything its entry point reads.

The Dagster side writes them (`stages/training.py`, `stages/evaluation.py`, and
`benchmarks/quality.py` on a GPU host); `python -m bmw_assets.training.train --spec F` and
`python -m bmw_assets.evaluation.run --spec F` read them. The config sections inside are the
validated models of `bmw_assets.models.config`, every value resolved from `configs/base.yaml` and
its overlays, so the entry points restate no default. On disk a spec is JSON; an unknown key, a
missing one or a wrong type is refused naming the dotted key, so a stale or foreign spec fails
before any model is loaded instead of being half read.

Imports pydantic, never dagster: the GPU host that runs the entry points has no Dagster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bmw_assets.atomic import write_text_atomic
from bmw_assets.models.config import (
    EvaluationMeasurement,
    VariantConfig,
    error_location,
    error_message,
)
from bmw_assets.run_folders import EvaluationFolder, TrainingRunFolder


class SpecError(ValueError):
    """A spec file is unreadable, not JSON, or holds an unknown, missing or wrong value."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def load(cls, path: Path | str) -> Self:
        """Read and validate a spec file; SpecError names the file and every wrong dotted key."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise SpecError(f"cannot read the {cls.__name__} {path}: {error}") from None
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            raise SpecError(f"{path} is not a valid {cls.__name__}:\n{describe_spec_errors(error)}") from None

    def write(self, path: Path) -> Path:
        """Write the spec as JSON, atomically; returns `path`."""
        write_text_atomic(Path(path), self.model_dump_json(indent=2) + "\n")
        return Path(path)


def describe_spec_errors(error: ValidationError) -> str:
    """One line per wrong value: `  <dotted.key>: <what is wrong>`."""
    lines = []
    for detail in error.errors():
        if detail["type"] == "extra_forbidden":
            message = "unknown key (a spec written by another version, or a typo)"
        elif detail["type"] == "missing":
            message = "missing"
        elif detail["type"] == "json_invalid":
            message = f"not JSON: {detail['msg']}"
        else:
            message = error_message(detail)
        lines.append(f"  {error_location(detail['loc']) or '<top level>'}: {message}")
    return "\n".join(dict.fromkeys(lines))


class TrainingData(_Spec):
    """The dataset splits a run trains on: JSONL files in the dataset builder's row shape."""

    version: str = Field(min_length=1)  # the chatml_dataset version the splits belong to
    train: Path
    validation: Path


class RunSpec(_Spec):
    """One training run: the variant's resolved config, the base model, the data, and the folder
    that receives every output (`bmw_assets.run_folders.TrainingRunFolder`)."""

    run_id: str = Field(min_length=1)
    config: VariantConfig
    base_model: str = Field(min_length=1)  # a model folder or a Hub id; weights load from safetensors only
    dataset: TrainingData
    output_dir: Path
    # torch threads on a CPU: one, since training shares a 2-core machine with the next step's
    # evaluation and intra-op threads contend badly there.
    cpu_threads: int = Field(default=1, ge=1)
    # Where a file-based tracker (training.report_to: mlflow) keeps its store; None: the output_dir.
    tracking_root: Path | None = None

    @property
    def variant(self) -> str:
        return self.config.variant

    @property
    def folder(self) -> TrainingRunFolder:
        return TrainingRunFolder(self.output_dir)

    @property
    def tracking_dir(self) -> Path:
        return self.tracking_root or self.output_dir


class EvaluatedModel(_Spec):
    """The model an evaluation loads: a folder, optionally with layers taken out and a LoRA adapter on top."""

    path: str = Field(min_length=1)  # a model folder (the base model, a full fine-tune, a merged folder)
    adapter: Path | None = None  # a LoRA adapter folder put on `path`
    removed_layers: list[Annotated[int, Field(ge=0)]] = []  # taken out of `path` before the adapter goes on


class RetrievalSettings(_Spec):
    """The retrieval baseline: the fact questions are asked with the top passages in the prompt."""

    corpus_path: Path  # a split JSONL whose articles are retrieved from
    encoder_path: Path | None = None  # a sentence-transformers folder; None: the packaged MiniLM


class EvalSpec(_Spec):
    """One model's evaluation: what to load, the measurement settings, the texts and questions,
    and the folder that receives the report (`bmw_assets.run_folders.EvaluationFolder`)."""

    variant: str = Field(min_length=1)  # a variant, or the base model's rows (base, base+rag)
    run_id: str = Field(min_length=1)
    model: EvaluatedModel
    config: EvaluationMeasurement
    test_texts_path: Path  # JSONL, a "text" per row: the held-out texts scored for perplexity
    facts_path: Path  # JSONL: article_id, split (train|test), question, answer
    # General English for the forgetting measure, or why there is none (one of the two is set).
    general_text_path: Path | None = None
    general_text_unavailable: str | None = None
    retrieval: RetrievalSettings | None = None  # set: the retrieval baseline, which scores no perplexity
    system_prompt: str | None = None  # the dataset rows' system turn, under which every question is asked
    output_dir: Path
    # torch threads on a CPU: on a shared 2-core machine two threads contend so badly that greedy
    # decoding ran 7x slower than with one.
    cpu_threads: int = Field(default=1, ge=1)
    judge_base_url: str | None = None  # the OpenAI-compatible endpoint of judge "llm"; None: $OPENAI_BASE_URL

    @model_validator(mode="after")
    def _general_text_or_why_not(self) -> EvalSpec:
        if (self.general_text_path is None) == (self.general_text_unavailable is None):
            raise ValueError("set exactly one of general_text_path and general_text_unavailable (why there is none)")
        return self

    @property
    def folder(self) -> EvaluationFolder:
        return EvaluationFolder(self.output_dir)
