"""A trained variant as one self-contained model folder that `transformers serve`, vLLM or the Hub take.

A full fine-tune is exported as its checkpoint folder itself. A LoRA variant's adapter is folded
into its base model (with the run's removed layers taken out first) and saved as safetensors
with the tokenizer in `<run>/merged/`, the folder a run with `merge_lora` writes too. Either way
the merged model must reproduce the adapter-on-base logits on a few chat prompts within a
tolerance, or the export fails; `export.json` in the folder records the check, and its presence
means the export is done (a second call loads no model).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bmw_assets.atomic import write_json_atomic
from bmw_assets.run_folders import EXPORT_RECORD_FILE, TrainingRunFolder

# Folding W + BA into W in float32 changes rounding only: measured ~1e-5 on SmolLM2 logits.
LOGIT_TOLERANCE = 1e-3
CHECK_PROMPTS = (
    "What did the BMW Group announce about its electric vehicle deliveries?",
    "Which plant builds the BMW iX?",
    "Summarise the latest BMW Group press release in one sentence.",
)


class ExportMismatchError(RuntimeError):
    """The merged model's logits differ from the adapter-on-base logits by more than the tolerance."""


@dataclass(frozen=True)
class ExportResult:
    """A servable model folder. `merged` is True when a LoRA adapter was folded in, then
    `max_abs_logit_diff` is the largest |merged - unmerged| logit over `prompt_tokens` prompt
    positions (None for full variants, which are exported as trained)."""

    variant: str
    run_id: str
    method: str
    model_dir: str
    merged: bool
    max_abs_logit_diff: float | None
    tolerance: float | None
    prompt_tokens: int
    files: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prompt_logits(model: Any, tokenizer: Any, prompts: Sequence[str]) -> list[Any]:
    """Float32 next-token logits [tokens, vocab] for each prompt rendered as a user turn with the
    chat template (one prompt per forward pass, so no padding enters the comparison)."""
    import torch

    outputs = []
    with torch.inference_mode():
        for prompt in prompts:
            ids = tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
            outputs.append(model(input_ids=ids.to(model.device)).logits[0].float().cpu())
    return outputs


def max_abs_difference(left: Sequence[Any], right: Sequence[Any]) -> float:
    """The largest absolute elementwise difference between two lists of equally shaped tensors."""
    if len(left) != len(right) or any(a.shape != b.shape for a, b in zip(left, right, strict=True)):
        raise ValueError(f"shapes differ: {[tuple(a.shape) for a in left]} vs {[tuple(b.shape) for b in right]}")
    return max(float((a - b).abs().max()) for a, b in zip(left, right, strict=True))


def _folder_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _storage_dtype(base_model: str) -> Any:
    """The dtype the base model's weights are stored in, so the merged folder is no larger."""
    from transformers import AutoConfig

    dtype = getattr(AutoConfig.from_pretrained(base_model), "dtype", None)
    import torch

    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def export_variant(
    trained: dict[str, Any],
    *,
    prompts: Sequence[str] = CHECK_PROMPTS,
    tolerance: float = LOGIT_TOLERANCE,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export the run of a `trained_model` manifest (keys output_dir, method, base_model,
    removed_layers, paths) as a servable folder; see the module docstring. Raises
    ExportMismatchError (nothing written) when merged and unmerged logits differ by more than
    `tolerance`, FileNotFoundError when the run folder lacks its weights."""
    log = progress or (lambda message: None)
    run = TrainingRunFolder(Path(trained["output_dir"]))
    output_dir = run.path
    base = dict(variant=trained["variant"], run_id=trained["run_id"], method=trained["method"])
    if trained["method"] != "lora":
        if not (output_dir / "config.json").is_file() or not list(output_dir.glob("*.safetensors")):
            raise FileNotFoundError(f"{output_dir} holds no config.json and *.safetensors: is the run finished?")
        return ExportResult(**base, model_dir=str(output_dir), merged=False, max_abs_logit_diff=None, tolerance=None,
                            prompt_tokens=0, files=_folder_files(output_dir))  # fmt: skip

    target = run.merged
    record = run.export_record
    if record.is_file():
        log(f"{target} already holds the verified export")
        return ExportResult(**json.loads(record.read_text(encoding="utf-8"))["result"])
    if not (output_dir / "adapter_model.safetensors").is_file():
        raise FileNotFoundError(f"{output_dir} holds no adapter_model.safetensors: is the LoRA run finished?")

    from bmw_assets.models.loading import load_model

    log(f"loading {trained['base_model']} without layers {trained['removed_layers']} + adapter {output_dir}")
    model, tokenizer = load_model(trained["base_model"], str(output_dir), trained["removed_layers"])
    unmerged = prompt_logits(model, tokenizer, prompts)
    if (trained.get("paths") or {}).get("merged") and (target / "config.json").is_file():
        # The run wrote merged/ itself (merge_lora): verify it instead of merging again.
        del model
        merged_model, _ = load_model(str(target), None)
    else:
        merged_model = model.merge_and_unload()
    difference = max_abs_difference(unmerged, prompt_logits(merged_model, tokenizer, prompts))
    log(f"merged vs unmerged logits: max |difference| {difference:.3g} (tolerance {tolerance:g})")
    if not difference <= tolerance:
        raise ExportMismatchError(
            f"merging the adapter of {output_dir} changed the logits by up to {difference:.3g} "
            f"(tolerance {tolerance:g}) on {len(prompts)} prompts; the export was not written"
        )
    if not (target / "config.json").is_file():
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=output_dir))
        try:
            merged_model.to(_storage_dtype(trained["base_model"])).save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    result = ExportResult(**base, model_dir=str(target), merged=True, max_abs_logit_diff=difference,
                          tolerance=tolerance, prompt_tokens=sum(int(t.shape[0]) for t in unmerged),
                          files=sorted(_folder_files(target) + [EXPORT_RECORD_FILE]))  # fmt: skip
    write_json_atomic(record, {"result": result.to_dict(), "prompts": list(prompts),
                               "created_at": datetime.now(UTC).isoformat()})  # fmt: skip
    log(f"wrote {target}")
    return result
