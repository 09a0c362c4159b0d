"""The GPU throughput benchmark's case handling (benchmarks/train_throughput.py), on a CPU:
which launcher and GPUs a case gets, and how speed-ups and scaling are paired."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"
_SPEC = importlib.util.spec_from_file_location("train_throughput", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)

LORA_2 = "project:original_lora:packed:gpus=2,gradient_accumulation_steps=4"
FULL_2 = "project:original:packed:gpus=2,gradient_accumulation_steps=4"


def test_cases_parse_and_bad_names_are_refused():
    assert bench.parse_case("plain:full") == ("plain", "", "", {}, "full")
    kind, variant, layout, overrides, method = bench.parse_case(LORA_2)
    assert (kind, variant, layout, method) == ("project", "original_lora", "packed", "lora")
    assert overrides == {"gpus": 2, "gradient_accumulation_steps": 4}
    for bad in ("plain:half", "project:original", "tuned:original:packed"):
        with pytest.raises(ValueError, match="expected"):
            bench.parse_case(bad)


def test_multi_gpu_cases_run_under_the_training_launcher():
    single = bench.case_command("project:original:packed", ["--tiny"])
    assert single == [sys.executable, str(_PATH), "--run-case", "project:original:packed", "--tiny"]
    lora = bench.case_command(LORA_2, [])
    assert "--multi_gpu" in lora and "--use_fsdp" not in lora
    assert lora[lora.index("--num_processes") + 1] == "2"
    full = bench.case_command(FULL_2, [])
    assert "--use_fsdp" in full and full[full.index("--fsdp_reshard_after_forward") + 1] == "false"
    resharding = bench.case_command(FULL_2 + ",reshard_after_forward=true", [])
    assert resharding[resharding.index("--fsdp_reshard_after_forward") + 1] == "true"


def test_one_gpu_cases_see_one_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert bench.case_env("project:original:packed")["CUDA_VISIBLE_DEVICES"] == "3"
    assert bench.case_env(FULL_2)["CUDA_VISIBLE_DEVICES"] == "3,5"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert bench.case_env("plain:lora")["CUDA_VISIBLE_DEVICES"] == "0"


def test_speedups_and_scaling_pair_cases_of_one_run():
    results = [
        {"case": "plain:lora", "method": "lora", "tokens_per_s": 5000.0},
        {"case": "project:original_lora:packed", "method": "lora", "tokens_per_s": 12000.0, "gpus": 1},
        {"case": LORA_2, "method": "lora", "tokens_per_s": 22800.0, "gpus": 2},
        {"case": "project:original:packed", "method": "full", "tokens_per_s": 11000.0, "gpus": 1},
        {"case": FULL_2 + ",reshard_after_forward=true", "method": "full", "tokens_per_s": 20000.0, "gpus": 2},
        {"case": FULL_2, "error": "exit 1"},
        {"case": FULL_2 + ",per_device_batch_size=1", "method": "full", "tokens_per_s": 15000.0, "gpus": 2},
    ]
    # Two-GPU cases are scaling, not speed-up; a full case without a plain baseline has no speed-up.
    assert bench._speedups(results) == {"project:original_lora:packed": 2.4}
    # Accumulation and the launcher's setting are ignored when pairing; other overrides are not.
    assert bench._scaling(results) == {LORA_2: 1.9, FULL_2 + ",reshard_after_forward=true": 1.818}
