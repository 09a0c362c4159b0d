"""Variant configs: YAML files with `extends:` inheritance and profile overlays,
validated into one `VariantConfig`.

Layout under the configs folder (default: `configs/` at the repository root)::

    base.yaml                 every setting, at production values; with the profile laid on, the
                              base model's own config (`load_base_model_config`)
    variants/<variant>.yaml   one file per variant; `extends:` a variant name or a relative path
    profiles/<profile>.yaml   laid on top of the resolved variant (local, production); its
                              `deployment:` section is read by bmw_assets.settings instead

Mappings merge key by key at any depth; lists and scalars replace. Every error
names the file and the dotted key that is wrong. Each file of an `extends:` chain is validated
as merged so far, before the next one (a child variant, the profile) is laid on it, so no file
hides a wrong value in another. A file
whose name is not a safe variant name (`VARIANT_NAME`) is no variant.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bmw_assets.hashing import sha256_json

DEFAULT_CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"
# Keys the loader fills in itself; a YAML file may not set them.
_RESERVED_KEYS = ("variant", "profile")
# A profile's section that configures the deployment (bmw_assets.settings), not the variants.
DEPLOYMENT_KEY = "deployment"
# A variant name is a partition key and a folder name under storage: nothing a path can hide in.
VARIANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config file is missing, malformed, or holds a wrong key or value."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ModelSection(_Section):
    name: str = Field(min_length=1)
    trust_remote_code: bool
    dtype: Literal["float32", "bfloat16", "float16", "auto"]


class SurgerySection(_Section):
    kind: Literal["none", "drop", "prune"]
    layer: Annotated[int, Field(ge=0)] | Literal["auto"] | None  # layers count from 0
    keep_layers: Annotated[int, Field(ge=1)] | Literal["auto"] | None
    prune_strategy: Literal["first", "angular"]
    block_size: int | None = Field(default=None, ge=1)
    calibration_samples: int = Field(ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> SurgerySection:
        if self.kind == "drop" and self.layer is None:
            raise ValueError("kind 'drop' needs `layer`: a layer index or 'auto'")
        if self.kind == "prune":
            if self.keep_layers is None:
                raise ValueError("kind 'prune' needs `keep_layers`: a layer count or 'auto'")
            if self.keep_layers == "auto" and self.prune_strategy != "angular":
                raise ValueError("keep_layers 'auto' needs prune_strategy 'angular'")
            if self.keep_layers == "auto" and self.block_size is None:
                raise ValueError("keep_layers 'auto' needs `block_size`: how many layers to remove")
        return self


class LoraSection(_Section):
    r: int = Field(ge=1)
    alpha: int = Field(ge=1)
    dropout: float = Field(ge=0.0, lt=1.0)
    target_modules: list[str] = Field(min_length=1)


class TrainingSection(_Section):
    backend: Literal["trl", "unsloth", "auto"]
    method: Literal["full", "lora"]
    lora: LoraSection
    max_length: int = Field(ge=8)
    max_steps: int = Field(ge=-1)
    num_train_epochs: float = Field(gt=0)
    learning_rate: float = Field(gt=0)
    per_device_batch_size: int = Field(ge=1)
    gradient_accumulation_steps: int = Field(ge=1)
    warmup_ratio: float = Field(ge=0.0, le=1.0)
    weight_decay: float = Field(ge=0.0)
    lr_scheduler: Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup"]
    packing: bool
    gradient_checkpointing: bool
    # Attention kernel on the TRL backend; flex_attention skips cross-document blocks of packed rows.
    attn_implementation: Literal["sdpa", "flex_attention"]
    torch_compile: bool  # compile the model (TRL backend; fixed shapes: packed rows padded to max_length)
    # auto: AdamW with Kahan summation (optimi) where full fine-tuning keeps bf16 weights, whose
    # own rounding drops most updates at fine-tuning learning rates; torch's fused AdamW otherwise.
    optimizer: Literal["auto", "adamw_torch_fused", "adamw_kahan"]
    assistant_only_loss: bool
    eval_steps: int = Field(ge=1)
    save_steps: int = Field(ge=1)
    logging_steps: int = Field(ge=1)
    seed: int
    liger: Literal["auto"] | bool
    styles: list[Literal["instruct", "qa", "article"]] = Field(min_length=1)
    merge_lora: bool  # LoRA runs also write merged/ (full safetensors) for export and serving
    # QLoRA: the frozen base model loaded in 4-bit NF4 (bitsandbytes, CUDA only); LoRA runs only.
    quantization: Literal["none", "4bit"] = "none"
    # Where the trainer logs: TensorBoard event files in the run folder, an MLflow file store under
    # the storage root, or Weights & Biases; mlflow and wandb need their package installed.
    report_to: Literal["tensorboard", "mlflow", "wandb", "none"]
    # On a CPU with bf16 arithmetic (oneDNN): bf16 autocast over fp32 weights, about twice as fast.
    cpu_bf16: bool

    @model_validator(mode="after")
    def _quantization_fits(self) -> TrainingSection:
        if self.quantization == "4bit":
            if self.method != "lora":
                raise ValueError("quantization '4bit' (QLoRA) trains LoRA adapters: it needs method 'lora'")
            if self.merge_lora:
                raise ValueError(
                    "quantization '4bit' with merge_lora would fold the adapter into re-quantized "
                    "weights; leave merge_lora off (exported_model merges into the full-precision base)"
                )
        return self


class EvaluationMeasurement(_Section):
    """The evaluation settings that change what is measured: the evaluation spec carries these."""

    perplexity_max_length: int = Field(ge=8)
    perplexity_stride: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    entropy_samples: int = Field(ge=2)
    entropy_temperature: float = Field(gt=0)
    max_new_tokens: int = Field(ge=1)
    judge: Literal["embedding", "nli", "llm"]
    seed: int  # answer sampling: the same model and questions give the same samples
    judge_model: str = Field(min_length=1)
    embedding_threshold: float = Field(ge=0.0, le=1.0)
    generation_prompts: list[str] = Field(min_length=1)
    fact_questions: int = Field(ge=1)  # per split (train, test), taken in article order
    heldout_max_tokens: int | None = Field(default=None, ge=1)  # cap on held-out text scored; None: all of it
    entropy_questions: int | None = Field(default=None, ge=1)  # fact questions sampled for entropy; None: all
    general_text_chars: int = Field(ge=1000)  # general English (WordNet) scored for forgetting, in characters
    retrieval_top_k: int = Field(ge=1)  # passages in the retrieval baseline's prompt
    retrieval_passage_words: int = Field(ge=10)  # words per retrieved passage (whole sentences)
    cpu_bf16: bool  # on a CPU with bf16 arithmetic, models are evaluated in bf16 (as on a GPU)

    @model_validator(mode="after")
    def _stride_fits(self) -> EvaluationMeasurement:
        if self.perplexity_stride > self.perplexity_max_length:
            raise ValueError(
                f"perplexity_stride {self.perplexity_stride} exceeds perplexity_max_length "
                f"{self.perplexity_max_length}; windows would skip tokens"
            )
        return self


class EvaluationSection(EvaluationMeasurement):
    # The forgetting_within_limit check: general-text perplexity at most this % above the base's.
    # A threshold of the verdict, not of the measurement: a new limit re-checks, never re-evaluates.
    max_forgetting_pct: float = Field(ge=0.0)

    def measurement(self) -> EvaluationMeasurement:
        """These settings without the verdict's threshold: what an evaluation spec carries."""
        return EvaluationMeasurement.model_validate(self.model_dump(exclude={"max_forgetting_pct"}))


class VariantConfig(_Section):
    """One variant's resolved config; `model_dump(mode="json")` is saved with each run."""

    variant: str
    profile: str
    description: str = ""
    model: ModelSection
    surgery: SurgerySection
    training: TrainingSection
    evaluation: EvaluationSection


class BaseModelConfig(_Section):
    """The base model every variant starts from, and how it is measured (`base_model_report`,
    `rag_baseline`): base.yaml with the profile laid on, no variant."""

    profile: str
    model: ModelSection
    evaluation: EvaluationSection


def list_variants(configs_dir: Path | str | None = None) -> list[str]:
    """Names of the variants: the `*.yaml` files in `<configs_dir>/variants/` whose name matches
    VARIANT_NAME, sorted; the others are skipped with a warning."""
    folder = _configs_dir(configs_dir) / "variants"
    names = sorted(p.stem for p in folder.glob("*.yaml"))
    for name in names:
        if not VARIANT_NAME.match(name):
            _log.warning("%s is no variant: %r does not match %s", folder / f"{name}.yaml", name, VARIANT_NAME.pattern)
    return [name for name in names if VARIANT_NAME.match(name)]


def list_profiles(configs_dir: Path | str | None = None) -> list[str]:
    """Names of the profiles: the `*.yaml` files in `<configs_dir>/profiles/`, sorted."""
    folder = _configs_dir(configs_dir) / "profiles"
    return sorted(p.stem for p in folder.glob("*.yaml"))


def read_profile(profile: str, configs_dir: Path | str | None = None) -> dict[str, Any]:
    """The mapping in `profiles/<profile>.yaml`; ConfigError naming an unknown profile (with the
    known ones) or a malformed file."""
    root = _configs_dir(configs_dir)
    profiles = list_profiles(root)
    if profile not in profiles:
        raise ConfigError(
            f"unknown profile {profile!r}; known profiles in {root / 'profiles'}: {', '.join(profiles) or 'none'}"
        )
    return _read_yaml(root / "profiles" / f"{profile}.yaml", root)


def load_variant_config(variant: str, profile: str, configs_dir: Path | str | None = None) -> VariantConfig:
    """Resolve `variants/<variant>.yaml` through its `extends:` chain, lay
    `profiles/<profile>.yaml` on top and validate the result.

    Raises ConfigError naming the unknown variant or profile (with the known ones),
    an `extends:` cycle, or the file and dotted key of each wrong value.
    """
    root = _configs_dir(configs_dir)
    if not VARIANT_NAME.match(variant):
        raise ConfigError(f"{variant!r} is not a variant name: names match {VARIANT_NAME.pattern}")
    known = list_variants(root)
    if variant not in known:
        raise ConfigError(
            f"unknown variant {variant!r}; known variants in {root / 'variants'}: {', '.join(known) or 'none'}"
        )
    profile_path, profile_data, by_method, by_variant = _profile_layers(profile, root)
    origins: dict[str, Path] = {}
    merged = _resolve_file(root / "variants" / f"{variant}.yaml", root, origins, chain=())
    unknown = set(by_variant) - set(known)
    if unknown:
        raise ConfigError(f"{_show(profile_path, root)}: by_variant: {sorted(unknown)} are no variants; known: "
                          f"{', '.join(known)}")  # fmt: skip
    merged = _deep_merge(merged, profile_data, profile_path, origins)
    method = merged.get("training", {}).get("method")
    for overlay in (by_method.get(method), by_variant.get(variant)):
        if overlay:
            merged = _deep_merge(merged, overlay, profile_path, origins)
    return _validate(merged, variant, profile, origins, root)


def load_base_model_config(profile: str, configs_dir: Path | str | None = None) -> BaseModelConfig:
    """Resolve `base.yaml` with `profiles/<profile>.yaml` laid on top (not its `by_method` and
    `by_variant`: the base model is trained by no method and is no variant) and validate the result.

    Raises ConfigError as `load_variant_config` does."""
    root = _configs_dir(configs_dir)
    profile_path, profile_data, _, _ = _profile_layers(profile, root)
    origins: dict[str, Path] = {}
    merged = _resolve_file(root / "base.yaml", root, origins, chain=())
    merged = _deep_merge(merged, profile_data, profile_path, origins)
    resolved = _validate(merged, "base", profile, origins, root)
    return BaseModelConfig(profile=profile, model=resolved.model, evaluation=resolved.evaluation)


def _profile_layers(profile: str, root: Path) -> tuple[Path, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The profile's file, its settings laid on every variant, its `by_method` and its `by_variant`.

    A profile's `by_method: {full: {...}, lora: {...}}` is laid on next, by the variant's training
    method: settings such as the learning rate differ between the two by an order of magnitude.
    Its `by_variant: {<variant>: {...}}` comes last: where a small machine spends more on one variant."""
    profile_data = read_profile(profile, root)
    profile_data.pop(DEPLOYMENT_KEY, None)
    profile_path = root / "profiles" / f"{profile}.yaml"
    if "extends" in profile_data:
        raise ConfigError(f"{_show(profile_path, root)}: extends: a profile cannot extend; it is laid on a variant")
    by_method = profile_data.pop("by_method", {}) or {}
    unknown = set(by_method) - {"full", "lora"}
    if unknown:
        raise ConfigError(f"{_show(profile_path, root)}: by_method: {sorted(unknown)}; use full and/or lora")
    by_variant = profile_data.pop("by_variant", {}) or {}
    return profile_path, profile_data, by_method, by_variant


def _validate(
    merged: dict[str, Any], variant: str, profile: str, origins: dict[str, Path], root: Path
) -> VariantConfig:
    try:
        return VariantConfig.model_validate({**merged, "variant": variant, "profile": profile})
    except ValidationError as exc:
        raise ConfigError(_describe_errors(exc, origins, root)) from None


def training_config_sha256(cfg: VariantConfig) -> str:
    """Hex sha256 of the canonical JSON (sorted keys) of what shapes the trained weights: the model,
    surgery and training sections. The evaluation settings and the description stay out, so that
    measuring a variant differently re-evaluates it without training it again."""
    return sha256_json(cfg.model_dump(mode="json", include={"model", "surgery", "training"}))


def validate_against_model(cfg: VariantConfig, num_layers: int) -> None:
    """Check the surgery settings fit a model with `num_layers` decoder layers.

    Call it once the model's config is known and before loading weights or
    scoring layers; raises ConfigError naming the key, the value and the valid range.
    """
    surgery = cfg.surgery
    where = f"{cfg.variant} ({cfg.profile}), model {cfg.model.name} with {num_layers} layers"
    if surgery.kind == "drop":
        if num_layers < 2:
            raise ConfigError(f"{where}: surgery.kind: cannot drop a layer from a {num_layers}-layer model")
        if isinstance(surgery.layer, int) and not 0 <= surgery.layer < num_layers:
            raise ConfigError(
                f"{where}: surgery.layer: {surgery.layer} is out of range; use 0..{num_layers - 1} or 'auto'"
            )
    if surgery.kind == "prune":
        if isinstance(surgery.keep_layers, int) and not 1 <= surgery.keep_layers < num_layers:
            raise ConfigError(
                f"{where}: surgery.keep_layers: {surgery.keep_layers} is out of range; use 1..{num_layers - 1}"
            )
        if surgery.keep_layers == "auto" and surgery.block_size is not None and surgery.block_size > num_layers - 1:
            # The angular search keeps the final layer, so at most num_layers - 1 can go.
            raise ConfigError(
                f"{where}: surgery.block_size: {surgery.block_size} is out of range; use 1..{num_layers - 1}"
            )


def _configs_dir(configs_dir: Path | str | None) -> Path:
    return DEFAULT_CONFIGS_DIR if configs_dir is None else Path(configs_dir)


def _show(path: Path, root: Path) -> str:
    """`configs/variants/x.yaml`-style name: relative to the configs folder's parent."""
    try:
        return str(path.resolve().relative_to(root.resolve().parent))
    except ValueError:
        return str(path)


def _read_yaml(path: Path, root: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{_show(path, root)}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{_show(path, root)}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{_show(path, root)}: the top level must be a mapping, not {type(data).__name__}")
    for key in _RESERVED_KEYS:
        if key in data:
            raise ConfigError(f"{_show(path, root)}: {key}: set by the loader from the file name; remove it")
    return data


def _resolve_file(path: Path, root: Path, origins: dict[str, Path], chain: tuple[Path, ...]) -> dict[str, Any]:
    """The file's settings merged over those of everything it extends (depth first), validated at
    each file, so no later file (a child variant, the profile) hides a wrong value in an earlier one."""
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(_show(p, root) for p in (*chain, path))
        raise ConfigError(f"{_show(path, root)}: extends: cycle {cycle}")
    data = _read_yaml(path, root)
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        merged = _deep_merge({}, data, path, origins)
        _validate(merged, path.stem, "<none>", origins, root)
        return merged
    if not isinstance(parent_ref, str) or not parent_ref:
        raise ConfigError(
            f"{_show(path, root)}: extends: must be a variant name or a relative path, not {parent_ref!r}"
        )
    if parent_ref.endswith((".yaml", ".yml")) or "/" in parent_ref:
        parent = path.parent / parent_ref
    else:
        parent = root / "variants" / f"{parent_ref}.yaml"
    if not parent.is_file():
        raise ConfigError(
            f"{_show(path, root)}: extends: {parent_ref!r} is neither a file next to it nor a variant; "
            f"known variants: {', '.join(list_variants(root))}"
        )
    base = _resolve_file(parent, root, origins, (*chain, path))
    merged = _deep_merge(base, data, path, origins)
    _validate(merged, path.stem, "<none>", origins, root)
    return merged


def _deep_merge(
    base: dict[str, Any], overlay: dict[str, Any], source: Path, origins: dict[str, Path], prefix: str = ""
) -> dict[str, Any]:
    """Mappings merge key by key, anything else replaces; `origins` records which file set each leaf."""
    merged = dict(base)
    for key, value in overlay.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value, source, origins, f"{dotted}.")
        else:
            for stale in [k for k in origins if k.startswith(f"{dotted}.")]:
                del origins[stale]
            merged[key] = value
            _record_leaves(value, dotted, source, origins)
    return merged


def _record_leaves(value: Any, dotted: str, source: Path, origins: dict[str, Path]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _record_leaves(inner, f"{dotted}.{key}", source, origins)
    else:
        origins[dotted] = source


def _describe_errors(exc: ValidationError, origins: dict[str, Path], root: Path) -> str:
    """One line per wrong key: `<file>: <dotted.key>: <what is wrong>`."""
    lines: dict[str, list[str]] = {}
    for error in exc.errors():
        dotted = error_location(error["loc"])
        where = f"{_files_for(dotted, origins, root)}: {dotted or '<top level>'}"
        messages = lines.setdefault(where, [])
        if error_message(error) not in messages:
            messages.append(error_message(error))
    return "invalid config:\n" + "\n".join(f"{where}: {'; or '.join(msgs)}" for where, msgs in lines.items())


def error_location(loc: tuple[Any, ...]) -> str:
    """The dotted path of an error (`training.seed`): pydantic's location without its union-branch tags."""
    return ".".join(str(part) for part in loc if not (isinstance(part, str) and _is_union_tag(part)))


def _is_union_tag(part: str) -> bool:
    """Pydantic tags union branches in error locations ("int", "literal['auto']")."""
    return part in {"int", "bool", "float", "str", "none"} or part.startswith(("literal[", "function-"))


def _files_for(dotted: str, origins: dict[str, Path], root: Path) -> str:
    if dotted in origins:
        return _show(origins[dotted], root)
    below = [p for k, p in origins.items() if not dotted or k.startswith(f"{dotted}.")]
    above = [origins[k] for k in origins if dotted.startswith(f"{k}.")]
    files = list(dict.fromkeys(above or below))
    return ", ".join(_show(p, root) for p in files) or "<no file sets it>"


def error_message(error: dict[str, Any]) -> str:
    """What is wrong with one value, in a config file's words (pydantic's error dict)."""
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "missing; every key must be set (base.yaml holds them all)"
    message = f"{error['msg']} (got {error.get('input')!r})"
    if error["type"] in {"float_type", "int_type"} and isinstance(error.get("input"), str):
        try:
            float(error["input"])
        except ValueError:
            pass
        else:
            message += "; YAML reads numbers like 2e-4 as text: write 2.0e-4"
    return message
