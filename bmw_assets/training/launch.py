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
    one GPU; on several GPUs the same module under `accelerate_launch_prefix`."""
    module_args = ["-m", _TRAIN_MODULE, "--spec", os.fspath(spec_path)]
    return [*accelerate_launch_prefix(num_gpus, fsdp), *module_args]


def accelerate_launch_prefix(num_gpus: int, fsdp: bool, reshard_after_forward: bool = False) -> list[str]:
    """The interpreter (0 or 1 GPU) or `accelerate launch --num_processes N` (more),
    to be followed by a script or `-m module`. With `fsdp` (full fine-tuning): FSDP2, each
    decoder layer its own shard group, full state dict so save_pretrained writes ordinary
    safetensors; otherwise plain DDP (LoRA: only the adapters' gradients are reduced).
    `reshard_after_forward=False` (the default) keeps each layer's gathered weights from the
    forward to the backward pass: one all-gather per batch instead of two, faster for more
    memory per GPU (the runs with both settings: benchmarks/results/train_throughput.json)."""
    if num_gpus < 0:
        raise ValueError(f"num_gpus is {num_gpus}; expected 0 (CPU) or a positive GPU count")
    if num_gpus <= 1:
        return [sys.executable]
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(num_gpus),
        "--mixed_precision",
        "bf16",
    ]
    if not fsdp:
        command.append("--multi_gpu")
    else:  # accelerate takes --use_fsdp instead of --multi_gpu, not beside it
        command += [
            "--use_fsdp",
            "--fsdp_version",
            "2",
            "--fsdp_reshard_after_forward",
            str(reshard_after_forward).lower(),
            "--fsdp_auto_wrap_policy",
            "TRANSFORMER_BASED_WRAP",
            "--fsdp_state_dict_type",
            "FULL_STATE_DICT",
            # Every rank loads the real weights: layer surgery scores layers with a forward pass
            # on each rank before sharding, which meta tensors on ranks > 0 could not do.
            "--fsdp_cpu_ram_efficient_loading",
            "false",
        ]
    return command


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
