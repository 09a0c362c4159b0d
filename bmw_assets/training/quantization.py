"""QLoRA: the frozen base model in 4-bit NF4 (bitsandbytes), LoRA adapters trained on top of it.

`training.quantization: 4bit` loads the base model with a `BitsAndBytesConfig` (NF4, double quantization,
bf16 compute) and prepares it as PEFT's `prepare_model_for_kbit_training` does: base weights frozen, the
remaining non-quantized weights (norms, embeddings) in fp32, input gradients on for checkpointing.
bitsandbytes' 4-bit kernels need CUDA, so the setting is refused up front on a CPU run, with the key named,
instead of failing deep inside the first forward pass. Not yet measured on a GPU.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from bmw_assets.models.config import TrainingSection

QUANTIZATIONS = ("none", "4bit")


class QuantizationError(ValueError):
    """training.quantization asks for what this run cannot do."""


def check_quantization(quantization: str, cuda: bool) -> None:
    """Raise QuantizationError when `quantization` (training.quantization) cannot run on this host: 4-bit
    loading without CUDA. The Dagster side calls it before launching a run, the training process again."""
    if quantization not in QUANTIZATIONS:
        raise QuantizationError(f"training.quantization is {quantization!r}; use one of {', '.join(QUANTIZATIONS)}")
    if quantization == "4bit" and not cuda:
        raise QuantizationError(
            "training.quantization: 4bit (QLoRA) needs a CUDA GPU: bitsandbytes' 4-bit kernels do not train on a "
            "CPU. Set training.quantization: none for this profile, or train where CUDA is available"
        )


def require_bitsandbytes() -> None:
    """Raise QuantizationError naming the install line when bitsandbytes is missing where training runs."""
    if importlib.util.find_spec("bitsandbytes") is None:
        raise QuantizationError(
            "training.quantization: 4bit needs bitsandbytes where training runs: `pip install --no-deps "
            "bitsandbytes==0.50.2` (requirements/gpu.txt)"
        )


def nf4_config(compute_dtype: Any) -> Any:
    """transformers' BitsAndBytesConfig for QLoRA: NF4 weights, double-quantized scales, `compute_dtype` matmuls."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)  # fmt: skip


def load_4bit_for_training(model_path: str, dtype: Any, device: str, training: TrainingSection,
                           trust_remote_code: bool) -> Any:  # fmt: skip
    """The causal LM at `model_path` quantized to NF4 on `device` (a CUDA device), prepared for LoRA training."""
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        model_path, quantization_config=nf4_config(dtype), dtype=dtype, device_map={"": device},
        use_safetensors=True, trust_remote_code=trust_remote_code,
    )  # fmt: skip
    checkpointing = training.gradient_checkpointing
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing,
                                           gradient_checkpointing_kwargs={"use_reentrant": False})  # fmt: skip
