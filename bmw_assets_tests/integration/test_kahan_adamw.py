"""Full fine-tuning with bf16 weights: plain AdamW rounds fine-tuning-sized updates away,
Kahan-summed AdamW (optimi) keeps them, and the trainer picks it where weights are bf16."""

from __future__ import annotations

import pytest
import torch

from bmw_assets.training.train import build_trainer, kahan_adamw, optimizer_name, uses_kahan_adamw
from bmw_assets_tests.specs import run_spec, shipped_config


def _changed_fraction(optimizer_factory, steps: int, lr: float) -> float:
    """Share of bf16 weights (std 0.02, a pretrained layer's scale) that moved after `steps`
    AdamW steps with a fixed gradient."""
    torch.manual_seed(0)
    weight = torch.nn.Parameter((torch.randn(256, 256) * 0.02).to(torch.bfloat16))
    start = weight.detach().clone()
    optimizer = optimizer_factory([weight], lr)
    gradient = torch.randn_like(weight)
    for _ in range(steps):
        weight.grad = gradient.clone()
        optimizer.step()
        optimizer.zero_grad()
    return float((weight.detach() != start).float().mean())


def test_kahan_summation_keeps_updates_that_bf16_rounding_drops():
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir="unused", learning_rate=2.0e-5, weight_decay=0.0, report_to=[])
    kahan_cls, kwargs = kahan_adamw(args)
    kwargs = {key: value for key, value in kwargs.items() if key != "lr"}

    def kahan(params, lr):
        return kahan_cls(params, lr=lr, **kwargs)

    def plain(params, lr):
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.0)

    # 20 steps of 2e-5 add up to 4e-4, more than a bf16 step (~1.2e-4 at 0.02).
    plain_moved = _changed_fraction(plain, steps=20, lr=2.0e-5)
    kahan_moved = _changed_fraction(kahan, steps=20, lr=2.0e-5)
    assert plain_moved < 0.35
    assert kahan_moved > 0.9
    assert kwargs["betas"] == (args.adam_beta1, args.adam_beta2) and kwargs["eps"] == args.adam_epsilon


@pytest.mark.parametrize(
    ("method", "cuda", "fsdp", "choice", "expected"),
    [
        ("full", True, False, "auto", True),  # bf16 weights in one process
        ("full", True, True, "auto", False),  # FSDP holds fp32 master weights
        ("lora", True, False, "auto", False),  # fp32 adapters
        ("full", False, False, "auto", False),  # CPU trains in fp32
        ("full", False, False, "adamw_kahan", True),
        ("full", True, False, "adamw_torch_fused", False),
    ],
)
def test_auto_picks_kahan_only_for_bf16_weights(monkeypatch, method, cuda, fsdp, choice, expected):
    if fsdp:
        monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
        monkeypatch.setenv("WORLD_SIZE", "2")
    training = shipped_config(training={"method": method, "optimizer": choice}).training
    assert uses_kahan_adamw(training, cuda) is expected


def test_the_trainer_builds_the_configured_optimizer(tmp_path, base_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bmw_assets.training.backend import BackendChoice

    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=torch.bfloat16)
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Where is BMW based?"},
                {"role": "assistant", "content": "In Munich."},
            ],
            "style": "qa",
        }
    ] * 4
    names = {}
    for choice in ("adamw_kahan", "adamw_torch_fused"):
        config = shipped_config(training={"optimizer": choice, "learning_rate": 1.0e-5})
        spec = run_spec(tmp_path / choice, base_model_dir, config=config, run_id=choice)
        trainer, _ = build_trainer(
            spec, model, tokenizer, BackendChoice("trl", False), rows, rows, sft_overrides={"report_to": []}
        )
        trainer.create_optimizer()
        names[choice] = optimizer_name(trainer)
        if choice == "adamw_kahan":
            groups = trainer.optimizer.param_groups
            assert all(group["kahan_sum"] for group in groups) and groups[0]["lr"] == 1.0e-5
    assert names == {"adamw_kahan": "optimi.adamw.AdamW", "adamw_torch_fused": "torch.optim.adamw.AdamW"}
