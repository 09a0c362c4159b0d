"""Which training backend to use: plain TRL, Unsloth, and whether to enable Liger kernels.

Unsloth and Liger are CUDA-only; they are looked up with importlib (Unsloth is imported only
once chosen, by import_backend_first) so a CPU host never pays their import."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class BackendChoice:
    name: str  # "trl" or "unsloth"
    use_liger: bool


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def resolve_backend(
    requested: str, liger: str | bool, cuda_available: bool, *, method: str = "lora", packing: bool = False
) -> BackendChoice:
    """Resolve config `training.backend` (trl|unsloth|auto) and `training.liger` (auto|bool)
    for `method` (training.method: lora|full) and `packing` (training.packing).

    "auto" picks Unsloth only for LoRA on unpacked rows, and Liger for TRL, each only on CUDA
    with the package installed: in the runs of benchmarks/results/train_throughput.json
    Unsloth was slower than TRL + Liger for full fine-tuning and lost more of its speed on
    packed rows of mixed lengths. An explicit request that cannot be met raises, naming what
    is missing.
    """
    if requested not in ("trl", "unsloth", "auto"):
        raise ValueError(f"training.backend is {requested!r}; expected 'trl', 'unsloth' or 'auto'")
    if requested == "unsloth" and not (cuda_available and _importable("unsloth")):
        raise ValueError("training.backend 'unsloth' needs CUDA and the unsloth package; use 'trl' or 'auto'")
    if requested == "auto":
        fits_unsloth = method == "lora" and not packing
        requested = "unsloth" if fits_unsloth and cuda_available and _importable("unsloth") else "trl"

    if liger == "auto":
        use_liger = cuda_available and _importable("liger_kernel") and requested == "trl"
    elif liger is True:
        if not (cuda_available and _importable("liger_kernel")):
            raise ValueError("training.liger is true but needs CUDA and liger-kernel; use 'auto' or false")
        use_liger = requested == "trl"  # Unsloth ships its own fused kernels
    elif liger is False:
        use_liger = False
    else:
        raise ValueError(f"training.liger is {liger!r}; expected 'auto', true or false")
    return BackendChoice(name=requested, use_liger=use_liger)


def import_backend_first(choice: BackendChoice) -> None:
    """Import Unsloth when it is the chosen backend, before anything imports transformers,
    TRL or PEFT: it patches them on import, and an earlier import keeps their slow paths."""
    if choice.name == "unsloth":
        import unsloth  # noqa: F401  (imported for its patches)
