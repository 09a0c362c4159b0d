"""FSDP2 bookkeeping that an evaluation leaves behind, reset before training goes on.

accelerate shards the final norm and the LM head as one FSDP2 group. TRL's fused loss reads
the head's weight without calling the head, so the group's post-forward never fires and the
head stays in the group's "modules still to run forward" set; torch 2.11 empties that set
only in the pre-backward hook, and fires the group's pre-forward (the all-gather) only while
the set is empty. An evaluation has no backward: the set stays full, every later forward of
the group skips its all-gather, and once a checkpoint save has resharded the weights the
final norm runs on its shard (two H200s: illegal memory access with Liger's RMSNorm,
"mixed torch.Tensor and DTensor" without). torch 2.13 empties the set at the end of each
root forward itself; there the reset finds nothing to do.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback


def clear_pending_forward_groups(model: Any) -> int:
    """Empty every FSDP2 group's set of modules still to run forward; how many were not empty."""
    from torch.distributed.fsdp import FSDPModule

    cleared = 0
    for module in model.modules():
        if isinstance(module, FSDPModule):
            # A private field of torch 2.11-2.13; a torch without it needs no reset.
            pending = getattr(module._get_fsdp_state(), "_modules_to_run_forward", None)
            if pending:
                pending.clear()
                cleared += 1
    return cleared


class ClearFsdpGroupsAfterEvaluation(TrainerCallback):
    """Runs `clear_pending_forward_groups` after every evaluation of an FSDP2 run."""

    def on_evaluate(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if model is not None:
            clear_pending_forward_groups(model)
