"""QLoRA as a training option (training.quantization: 4bit): refused by the config where it cannot mean
anything, and on a CPU before any model is loaded, with the key named. The 4-bit training itself needs
CUDA and is not exercised here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from bmw_assets.models.config import (
    DEFAULT_CONFIGS_DIR,
    ConfigError,
    load_variant_config,
)
from bmw_assets.training.quantization import (
    QuantizationError,
    check_quantization,
    nf4_config,
)
from bmw_assets.training.reporting import SilentReporter
from bmw_assets.training.train import run_training
from bmw_assets_tests.specs import run_spec


@pytest.fixture()
def configs(tmp_path: Path) -> Path:
    target = tmp_path / "configs"
    shutil.copytree(DEFAULT_CONFIGS_DIR, target)
    return target


def _variant(configs: Path, name: str, extends: str, training: dict) -> None:
    text = yaml.safe_dump({"extends": extends, "training": training})
    (configs / "variants" / f"{name}.yaml").write_text(text, encoding="utf-8")


def test_qlora_is_a_lora_setting_off_by_default(configs):
    assert load_variant_config("original_lora", "production").training.quantization == "none"
    _variant(configs, "qlora", "original_lora", {"quantization": "4bit"})
    assert load_variant_config("qlora", "production", configs).training.quantization == "4bit"
    _variant(configs, "qfull", "original", {"quantization": "4bit"})
    with pytest.raises(ConfigError, match=r"qfull.yaml: training: .*quantization '4bit' \(QLoRA\).*method 'lora'"):
        load_variant_config("qfull", "production", configs)
    _variant(configs, "qmerge", "original_lora", {"quantization": "4bit", "merge_lora": True})
    with pytest.raises(ConfigError, match="re-quantized weights; leave merge_lora off"):
        load_variant_config("qmerge", "production", configs)
    _variant(configs, "q8", "original_lora", {"quantization": "8bit"})
    with pytest.raises(ConfigError, match=r"q8.yaml: training.quantization: "):
        load_variant_config("q8", "production", configs)


def test_four_bits_need_cuda():
    check_quantization("none", cuda=False)
    check_quantization("4bit", cuda=True)
    with pytest.raises(QuantizationError, match=r"training.quantization: 4bit \(QLoRA\) needs a CUDA GPU"):
        check_quantization("4bit", cuda=False)
    with pytest.raises(QuantizationError, match="use one of none, 4bit"):
        check_quantization("int4", cuda=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a CPU-only host")
def test_a_cpu_run_refuses_qlora_before_loading_anything(tmp_path, configs):
    _variant(configs, "qlora", "original_lora", {"quantization": "4bit"})
    config = load_variant_config("qlora", "local", configs)
    spec = run_spec(tmp_path / "out", tmp_path / "no-such-model", config=config)
    with pytest.raises(QuantizationError, match="needs a CUDA GPU"):
        run_training(spec, SilentReporter())
    assert not (tmp_path / "out").exists()  # nothing written, no model looked for


def test_the_nf4_config_is_qlora_s():
    config = nf4_config(torch.bfloat16)
    assert config.load_in_4bit and not config.load_in_8bit
    assert (config.bnb_4bit_quant_type, config.bnb_4bit_use_double_quant) == ("nf4", True)
    assert config.bnb_4bit_compute_dtype == torch.bfloat16
