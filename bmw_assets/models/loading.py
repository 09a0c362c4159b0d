"""Load a trained variant for inference: a model folder, optionally with the run's removed
layers taken out and a LoRA adapter put on top (evaluation and export both load this way)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 matrix products natively on this CPU (AVX512 or AMX): there a
    bf16 forward and backward of SmolLM2 took about half the time of fp32 on one core."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def load_model(
    model_path: str, adapter_path: str | None, removed_layers: list[int] | None = None, cpu_bf16: bool = False
) -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode, for a model folder, with a LoRA adapter on top when given
    (its tokenizer is preferred when the adapter folder has one): on the GPU in bfloat16 where
    CUDA is available (as training ran), else on the CPU in float32, or in bfloat16 with
    `cpu_bf16` where the CPU computes in it. `removed_layers` are taken out of the base model
    first, as the training run did before it trained the adapter."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cuda = torch.cuda.is_available()
    bf16 = cuda or (cpu_bf16 and cpu_has_bf16())
    # Trained variants never need custom model code: it stays off whatever the folder asks for.
    model = AutoModelForCausalLM.from_pretrained(
        model_path,
        dtype=torch.bfloat16 if bf16 else torch.float32,
        use_safetensors=True,
        trust_remote_code=False,
        device_map="cuda" if cuda else None,
    )
    if removed_layers:
        from bmw_assets.models.surgery import remove_layers

        remove_layers(model, removed_layers)
    tokenizer_path = model_path
    if adapter_path:
        from peft import PeftModel

        # PEFT falls back to unpickling adapter_model.bin when the safetensors file is missing.
        if not (Path(adapter_path) / "adapter_model.safetensors").is_file():
            raise FileNotFoundError(
                f"{adapter_path} holds no adapter_model.safetensors; adapters load from safetensors only"
            )
        model = PeftModel.from_pretrained(model, adapter_path)
        if (Path(adapter_path) / "tokenizer_config.json").is_file():
            tokenizer_path = adapter_path
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, trust_remote_code=False)
    return model.eval(), tokenizer
