"""Surgery on the real packaged SmolLM2-135M-Instruct (30 Llama layers), driven by the local configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bmw_assets.models.config import (
    ConfigError,
    load_variant_config,
    validate_against_model,
)
from bmw_assets.models.surgery import apply_surgery, build_calibration_batches

pytestmark = pytest.mark.slow

CALIBRATION_TEXTS = [
    "Munich. The BMW Group delivered more fully electric vehicles in the third quarter than ever before.",
    "The new BMW iX3 is the first model of the Neue Klasse and charges at up to 400 kW.",
    "BMW Motorrad presented the R 1300 GS Adventure at the EICMA show in Milan.",
    "MINI celebrates its anniversary with a special edition built at the Oxford plant.",
    "The BMW Group Plant Debrecen starts series production with a fully electric paint shop.",
    "Rolls-Royce Motor Cars reported record demand for its bespoke commissions.",
    "Sales of BMW M models rose by eleven percent compared with the previous year.",
    "The supervisory board appointed a new member of the board of management for production.",
]


@pytest.fixture(scope="session")
def smollm2_path(base_model_dir: Path) -> str:
    return str(base_model_dir)


@pytest.fixture()
def smollm2(smollm2_path: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # measured fastest for greedy decoding on the shared 2-core box
    model = AutoModelForCausalLM.from_pretrained(smollm2_path, dtype=torch.float32).eval()
    yield model, AutoTokenizer.from_pretrained(smollm2_path)
    torch.set_num_threads(before)


def greedy(model, tokenizer, use_cache: bool, new_tokens: int = 10) -> list[int]:
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What did BMW announce?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(
        **prompt,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        use_cache=use_cache,
        pad_token_id=tokenizer.pad_token_id,
    )
    return output[0, prompt["input_ids"].shape[1] :].tolist()


def test_local_dropped_variant_drops_lowest_block_influence_layer(smollm2, tmp_path: Path):
    from transformers import AutoModelForCausalLM

    model, tokenizer = smollm2
    cfg = load_variant_config("dropped_lora", "local")
    validate_against_model(cfg, model.config.num_hidden_layers)
    batches = build_calibration_batches(tokenizer, CALIBRATION_TEXTS, max_length=64, batch_size=4)
    report = apply_surgery(model, cfg.surgery, batches)

    assert report.score_name == "block_influence" and len(report.scores) == 30
    assert report.removed_layers == [min(range(30), key=report.scores.__getitem__)]
    assert all(0.0 < score < 2.0 for score in report.scores)
    assert report.calibration_tokens == int(sum(b["attention_mask"].sum() for b in batches))
    assert len(model.model.layers) == model.config.num_hidden_layers == 29
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == list(range(29))
    assert greedy(model, tokenizer, use_cache=True) == greedy(model, tokenizer, use_cache=False)

    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    assert reloaded.config.num_hidden_layers == len(reloaded.model.layers) == 29
    ids = batches[0]["input_ids"][:1]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reloaded(ids).logits, atol=1e-4)


def test_local_pruned_variant_cuts_a_contiguous_block_and_keeps_the_last_layer(smollm2):
    model, tokenizer = smollm2
    cfg = load_variant_config("pruned", "local")
    batches = build_calibration_batches(tokenizer, CALIBRATION_TEXTS, max_length=64, batch_size=4)
    report = apply_surgery(model, cfg.surgery, batches)

    start = report.removed_layers[0]
    assert report.removed_layers == list(range(start, start + 10))
    assert report.scores[start] == min(report.scores) and len(report.scores) == 20
    assert 29 in report.kept_layers and len(report.kept_layers) == 20
    assert len(model.model.layers) == model.config.num_hidden_layers == 20
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == list(range(20))
    assert greedy(model, tokenizer, use_cache=True) == greedy(model, tokenizer, use_cache=False)


def test_config_layer_out_of_range_for_the_real_model_is_caught_early(smollm2_path: str):
    from transformers import AutoConfig

    num_layers = AutoConfig.from_pretrained(smollm2_path).num_hidden_layers  # config only, no weights
    cfg = load_variant_config("dropped", "production")
    too_far = cfg.model_copy(update={"surgery": cfg.surgery.model_copy(update={"layer": num_layers})})
    with pytest.raises(ConfigError, match=rf"surgery.layer: {num_layers} is out of range; use 0..{num_layers - 1}"):
        validate_against_model(too_far, num_layers)
