"""FSDP2 runs evaluate and checkpoint mid-run: after each evaluation no FSDP2 group is left
waiting for a module that never runs forward (TRL's fused loss never calls the LM head).

The crash itself needs torch 2.11's group hooks and two GPUs (accelerate enables FSDP only
on GPUs); it was reproduced and fixed on two H200s (benchmarks/results/multi_gpu_launch.json,
calls 16-18). Here a real FSDP2 model on CPU (gloo, one process) is put in the state torch 2.11
leaves after an evaluation, since torch 2.13 no longer leaves it.
"""

from __future__ import annotations

import torch
from torch import nn

from bmw_assets.training.fsdp_tracking import ClearFsdpGroupsAfterEvaluation


class _TinyCausalLM(nn.Module):
    """Embedding, two layers, and a final norm + head sharded as one group, as accelerate does."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(32, 16)
        self.layers = nn.ModuleList(nn.Linear(16, 16) for _ in range(2))
        self.norm = nn.RMSNorm(16)
        self.head = nn.Linear(16, 32, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.embed(tokens)
        for layer in self.layers:
            hidden = torch.relu(layer(hidden))
        # A fused loss reads the head's weight instead of calling the head.
        return torch.nn.functional.linear(self.norm(hidden), self.head.weight)


def test_evaluation_leaves_no_group_waiting_and_training_goes_on(tmp_path):
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        model = _TinyCausalLM()
        for layer in model.layers:
            fully_shard(layer)
        fully_shard([model.norm, model.head])
        fully_shard(model)
        tokens = torch.randint(0, 32, (2, 8))
        with torch.no_grad():
            model(tokens)
        tail = model.norm._get_fsdp_state()
        tail._modules_to_run_forward.add(model.head)  # what torch 2.11 keeps after a forward without backward
        layer_state = model.layers[0]._get_fsdp_state()
        assert not layer_state._modules_to_run_forward

        ClearFsdpGroupsAfterEvaluation().on_evaluate(None, None, None, model=model)

        assert not tail._modules_to_run_forward
        model.state_dict()  # a checkpoint save reshards every group
        logits = model(tokens)
        logits.float().logsumexp(-1).mean().backward()
        assert torch.isfinite(model.norm.weight.grad.full_tensor()).all()
        assert model.head.weight.grad.full_tensor().abs().sum() > 0
    finally:
        dist.destroy_process_group()


def test_fsdp_runs_keep_mid_run_evaluation_and_add_the_reset(tmp_path, base_model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import bmw_assets.training.train as train
    from bmw_assets.training.backend import BackendChoice
    from bmw_assets_tests.specs import run_spec, shipped_config

    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    model = AutoModelForCausalLM.from_pretrained(base_model_dir)
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Where is BMW based?"},
                {"role": "assistant", "content": "In Munich."},
            ],
            "style": "qa",
        }
    ] * 4
    config = shipped_config("original", "production", training={"attn_implementation": "sdpa", "max_length": 64})
    spec = run_spec(tmp_path / "out", base_model_dir, config=config, run_id="fsdp")
    resets = {}
    for fsdp in (False, True):
        # The process environment of a multi-GPU launch would make accelerate start a process group.
        monkeypatch.setattr(train, "fsdp_launch", lambda fsdp=fsdp: fsdp)
        trainer, _ = train.build_trainer(
            spec, model, tokenizer, BackendChoice("trl", False), rows, rows, sft_overrides={"report_to": []}
        )
        args = trainer.args
        assert (args.eval_strategy, args.save_strategy, args.load_best_model_at_end) == ("steps", "steps", True)
        resets[fsdp] = sum(isinstance(cb, ClearFsdpGroupsAfterEvaluation) for cb in trainer.callback_handler.callbacks)
    assert resets == {False: 0, True: 1}
