"""The command line and environment that start a training run; the Dagster layer hands
them to a PipesSubprocessClient. Imports no dagster."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

_TRAIN_MODULE = "bmw_assets.training.train"
# The folder holding the bmw_assets package, so the child finds it whatever its cwd.
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def training_command(spec_path: os.PathLike | str, num_gpus: int, fsdp: bool) -> list[str]:
    """argv for one run: `python -m bmw_assets.training.train --spec <spec_path>` on CPU or
    one GPU; `accelerate launch --multi_gpu --num_processes N` for several GPUs, with FSDP
    (full shard, transformer-block wrapping, full state dict so save_pretrained writes
    ordinary safetensors) when `fsdp` is set (full fine-tuning), plain DDP otherwise (LoRA)."""
    if num_gpus < 0:
        raise ValueError(f"num_gpus is {num_gpus}; expected 0 (CPU) or a positive GPU count")
    module_args = ["-m", _TRAIN_MODULE, "--spec", os.fspath(spec_path)]
    if num_gpus <= 1:
        return [sys.executable, *module_args]
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", str(num_gpus), "--mixed_precision", "bf16",
    ]
    if fsdp:
        command += [
            "--use_fsdp",
            "--fsdp_sharding_strategy", "FULL_SHARD",
            "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP",
            "--fsdp_state_dict_type", "FULL_STATE_DICT",
            "--fsdp_use_orig_params", "true",
            "--fsdp_cpu_ram_efficient_loading", "true",
            "--fsdp_sync_module_states", "true",
        ]
    return [*command, *module_args]


def training_env(base_env: Mapping[str, str] | None = None, offline: bool = True) -> dict[str, str]:
    """Environment for the training process: `base_env` (default os.environ) plus the
    project root on PYTHONPATH, unbuffered output, matplotlib's Agg backend, no tokenizer
    fork warnings, and (when `offline`) the Hugging Face Hub switched off."""
    env = dict(os.environ if base_env is None else base_env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["MPLBACKEND"] = "Agg"
    env["TOKENIZERS_PARALLELISM"] = "false"
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
        env["HF_DATASETS_OFFLINE"] = "1"
        env["TRANSFORMERS_OFFLINE"] = "1"
    return env
