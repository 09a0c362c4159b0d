"""Layer surgery and layer scores on a tiny random Qwen3 (built from Qwen3Config, no download)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, Qwen3Config, Qwen3ForCausalLM

from bmw_assets.models.layer_scores import (
    angular_distance_per_token,
    block_influence_per_token,
    score_layers,
)
from bmw_assets.models.surgery import (
    SurgeryReport,
    apply_surgery,
    check_surgery_fits,
    plot_layer_scores,
)
from bmw_assets_tests.specs import surgery_section

VOCAB = 128


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny matrices: thread start-up costs more than it saves, worst on a shared 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_qwen3(num_layers: int = 4, sliding: bool = False, seed: int = 0) -> Qwen3ForCausalLM:
    """A random Qwen3 with hidden size 64; `sliding` makes the layers from index 2 on sliding-window."""
    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=256,
        use_sliding_window=sliding,
        sliding_window=4 if sliding else None,
        max_window_layers=2,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return Qwen3ForCausalLM(config).eval()


def make_identity(model: torch.nn.Module, layer: int) -> None:
    """Zero the layer's two residual-branch outputs, so it passes its input through unchanged."""
    with torch.no_grad():
        model.model.layers[layer].self_attn.o_proj.weight.zero_()
        model.model.layers[layer].mlp.down_proj.weight.zero_()


def calibration(rows: int = 4, tokens: int = 16, seed: int = 1) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (rows, tokens), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, tokens // 2 :] = 0  # right padding on one row
    return [{"input_ids": ids[:2], "attention_mask": mask[:2]}, {"input_ids": ids[2:], "attention_mask": mask[2:]}]


def greedy_cached_and_uncached(model: torch.nn.Module, new_tokens: int = 16) -> tuple[list[int], list[int]]:
    prompt = torch.randint(3, VOCAB, (1, 7), generator=torch.Generator().manual_seed(5))
    kwargs = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False, "pad_token_id": 0}
    cached = model.generate(prompt, use_cache=True, **kwargs)[0].tolist()
    uncached = model.generate(prompt, use_cache=False, **kwargs)[0].tolist()
    return cached, uncached


def test_per_token_scores_match_hand_computed_values():
    h_in = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 1.0]]])
    h_out = torch.tensor([[[3.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [1.0, 0.0]]])
    expected_bi = [0.0, 1.0, 2.0, 1 - math.sqrt(0.5)]
    assert block_influence_per_token(h_in, h_out)[0].tolist() == pytest.approx(expected_bi, abs=1e-6)
    assert angular_distance_per_token(h_in, h_out)[0].tolist() == pytest.approx([0.0, 0.5, 1.0, 0.25], abs=1e-4)


def test_scores_average_only_real_tokens():
    model = tiny_qwen3()
    batches = calibration()
    padded = score_layers(model, batches, block_size=2)
    # Row 0 holds 8 real tokens then padding; with right padding a causal model's
    # real-token states do not depend on the padding, so cutting it off must not change the mean.
    garbage = [dict(b) for b in batches]
    garbage[0]["input_ids"] = garbage[0]["input_ids"].clone()
    garbage[0]["input_ids"][0, 8:] = 7
    assert score_layers(model, garbage, block_size=2).block_influence == pytest.approx(padded.block_influence, rel=1e-5)
    assert padded.tokens == 4 * 16 - 8
    assert len(padded.block_influence) == 4 and len(padded.angular_distance) == 3


def test_drop_auto_picks_the_identity_layer_with_block_influence_zero():
    model = tiny_qwen3(num_layers=5)
    make_identity(model, 2)
    report = apply_surgery(model, surgery_section(kind="drop", layer="auto", calibration_samples=8), calibration())
    assert report.score_name == "block_influence"
    assert report.scores[2] == pytest.approx(0.0, abs=1e-5)
    assert min(s for i, s in enumerate(report.scores) if i != 2) > 1e-3
    assert report.removed_layers == [2]
    assert report.kept_layers == [0, 1, 3, 4]
    assert len(model.model.layers) == model.config.num_hidden_layers == 4


def test_drop_fixed_layer_renumbers_layers_and_fixes_config_lists():
    model = tiny_qwen3(num_layers=4, sliding=True)
    assert model.config.layer_types == ["full_attention", "full_attention", "sliding_attention", "sliding_attention"]
    third = model.model.layers[2]
    report = apply_surgery(model, surgery_section(kind="drop", layer=1))
    assert report.removed_layers == [1] and report.scores == [] and report.score_name is None
    assert isinstance(model.model.layers, torch.nn.ModuleList)
    assert model.model.layers[1] is third
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == [0, 1, 2]
    assert model.config.num_hidden_layers == 3
    assert model.config.layer_types == ["full_attention", "sliding_attention", "sliding_attention"]
    assert model.config.max_window_layers == 1


def test_prune_auto_removes_the_block_with_the_smallest_angular_distance():
    model = tiny_qwen3(num_layers=6)
    make_identity(model, 1)
    make_identity(model, 2)
    report = apply_surgery(
        model,
        surgery_section(kind="prune", keep_layers=4, prune_strategy="angular", calibration_samples=8),
        calibration(),
    )
    assert report.score_name == "angular_distance" and report.block_size == 2
    assert len(report.scores) == 4  # blocks starting at 0..3; the block holding the final layer is no candidate
    assert report.scores[1] == pytest.approx(0.0, abs=1e-3)
    assert report.removed_layers == [1, 2]
    assert report.kept_layers == [0, 3, 4, 5]
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == [0, 1, 2, 3]


def test_prune_auto_never_removes_the_final_layer():
    model = tiny_qwen3(num_layers=6)
    make_identity(model, 4)
    make_identity(model, 5)
    report = apply_surgery(
        model,
        surgery_section(
            kind="prune", keep_layers="auto", block_size=2, prune_strategy="angular", calibration_samples=8
        ),
        calibration(),
    )
    assert 5 in report.kept_layers
    assert report.removed_layers == [3, 4]  # the cheapest block that still keeps layer 5


def test_prune_first_keeps_the_leading_layers():
    model = tiny_qwen3(num_layers=6)
    report = apply_surgery(model, surgery_section(kind="prune", keep_layers=4, prune_strategy="first"))
    assert report.kept_layers == [0, 1, 2, 3] and report.removed_layers == [4, 5]
    assert model.config.num_hidden_layers == 4


def test_prune_takes_base_yaml_strategy_with_no_default_of_its_own():
    model = tiny_qwen3(num_layers=6)
    report = apply_surgery(model, surgery_section(kind="prune", keep_layers=4))  # base.yaml: prune_strategy first
    assert report.removed_layers == [4, 5] and report.scores == []


@pytest.mark.parametrize(
    "surgery",
    [
        surgery_section(kind="drop", layer=1),
        surgery_section(kind="prune", keep_layers=3, prune_strategy="angular", calibration_samples=4),
    ],
)
def test_cached_and_uncached_greedy_generation_agree_after_surgery(surgery):
    model = tiny_qwen3(num_layers=5, sliding=True)
    apply_surgery(model, surgery, calibration())
    cached, uncached = greedy_cached_and_uncached(model)
    assert cached == uncached


def test_saved_model_reloads_with_the_new_layer_count(tmp_path: Path):
    model = tiny_qwen3(num_layers=5, sliding=True)
    apply_surgery(model, surgery_section(kind="drop", layer=0))
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert reloaded.config.num_hidden_layers == 4 == len(reloaded.model.layers)
    assert reloaded.config.layer_types == model.config.layer_types
    assert [layer.self_attn.layer_idx for layer in reloaded.model.layers] == [0, 1, 2, 3]
    ids = calibration()[0]["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reloaded(ids).logits, atol=1e-5)


def test_out_of_range_choices_fail_before_touching_the_model():
    model = tiny_qwen3(num_layers=4)
    with pytest.raises(ValueError, match=r"surgery.layer 4 is out of range for 4 layers; use 0..3"):
        apply_surgery(model, surgery_section(kind="drop", layer=4))
    with pytest.raises(ValueError, match=r"surgery.keep_layers 4 is out of range for 4 layers; use 1..3"):
        apply_surgery(model, surgery_section(kind="prune", keep_layers=4, prune_strategy="first"))
    with pytest.raises(ValueError, match="block_size"):
        check_surgery_fits(surgery_section(kind="prune", keep_layers="auto", block_size=4, prune_strategy="angular"), 4)
    with pytest.raises(ValueError, match="needs calibration_batches"):
        apply_surgery(model, surgery_section(kind="drop", layer="auto"))
    assert len(model.model.layers) == model.config.num_hidden_layers == 4


def test_no_surgery_changes_nothing():
    model = tiny_qwen3(num_layers=4)
    report = apply_surgery(model, surgery_section(kind="none"), calibration())
    assert report.kept_layers == [0, 1, 2, 3] and report.removed_layers == []
    assert len(model.model.layers) == 4


def test_report_is_json_and_plots_to_png(tmp_path: Path):
    model = tiny_qwen3(num_layers=4)
    report = apply_surgery(model, surgery_section(kind="drop", layer="auto", calibration_samples=3), calibration())
    assert report.calibration_tokens == 8 + 16 + 16  # the third row is the first of the second batch
    restored = SurgeryReport(**json.loads(json.dumps(report.to_dict())))
    assert restored == report
    target = plot_layer_scores(report, tmp_path / "plots" / "scores.png")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in target.parent.iterdir()] == ["scores.png"]  # no staging file left
    with pytest.raises(ValueError, match="no scores"):
        plot_layer_scores(apply_surgery(tiny_qwen3(), surgery_section(kind="none")), tmp_path / "none.png")
