"""The specs across the Pipes boundary: they round-trip through JSON, refuse unknown, missing and
wrongly typed values naming the dotted key, and the entry point trains with configs/base.yaml's
values, restating none of its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from bmw_assets.models.config import DEFAULT_CONFIGS_DIR, load_variant_config
from bmw_assets.run_specs import EvalSpec, EvaluatedModel, RetrievalSettings, RunSpec, SpecError
from bmw_assets.training.backend import BackendChoice
from bmw_assets.training.data import LossMode
from bmw_assets_tests.specs import measurement, run_spec, shipped_config


def eval_spec(tmp_path: Path, **changes) -> EvalSpec:
    fields = dict(
        variant="original_lora", run_id="r1",
        model=EvaluatedModel(path="/models/base", adapter=tmp_path / "run", removed_layers=[3]),
        config=measurement(), test_texts_path=tmp_path / "heldout.jsonl", facts_path=tmp_path / "facts.jsonl",
        general_text_path=tmp_path / "general.jsonl", output_dir=tmp_path / "report",
    )  # fmt: skip
    return EvalSpec(**fields | changes)


def write_edited(spec: RunSpec | EvalSpec, path: Path, edit) -> Path:
    """The spec's JSON with `edit(data)` applied, as a stale or hand-edited file would hold it."""
    data = json.loads(spec.model_dump_json())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def test_both_specs_round_trip_through_their_json_files(tmp_path):
    training = run_spec(tmp_path / "run", tmp_path / "base", config=shipped_config("dropped_lora", "production"))
    assert RunSpec.load(training.write(tmp_path / "run.run_spec.json")) == training
    assert training.variant == "dropped_lora" and training.folder.spec == tmp_path / "run.run_spec.json"
    evaluation = eval_spec(tmp_path, retrieval=RetrievalSettings(corpus_path=tmp_path / "train.jsonl"))
    loaded = EvalSpec.load(evaluation.write(evaluation.folder.spec))
    assert loaded == evaluation and loaded.model.removed_layers == [3] and loaded.retrieval.encoder_path is None
    assert evaluation.folder.spec == tmp_path / "report" / "eval_spec.json"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["config"]["training"].update(sead=1), r"config\.training\.sead: unknown key"),
        (lambda d: d.update(dataset_version="v2"), r"dataset_version: unknown key"),  # the old quality.py's key
        (lambda d: d["config"]["training"].pop("seed"), r"config\.training\.seed: missing"),
        (lambda d: d["config"]["training"].update(seed="2026"), r"config\.training\.seed: Input should be a valid int"),
        (lambda d: d["config"]["training"].update(lr_scheduler="cosine_x"), r"config\.training\.lr_scheduler: "),
        (lambda d: d.update(cpu_threads=0), r"cpu_threads: Input should be greater than or equal to 1"),
        (lambda d: d["dataset"].pop("version"), r"dataset\.version: missing"),
    ],
)
def test_a_stale_or_wrong_run_spec_is_refused_naming_the_key(tmp_path, edit, message):
    path = write_edited(run_spec(tmp_path / "run", "base"), tmp_path / "spec.json", edit)
    with pytest.raises(SpecError, match=message) as info:
        RunSpec.load(path)
    assert str(info.value).startswith(f"{path} is not a valid RunSpec:")


def test_a_file_that_is_no_spec_is_refused_naming_it(tmp_path):
    (tmp_path / "broken.json").write_text('{"run_id": ')
    with pytest.raises(SpecError, match=r"broken\.json is not a valid EvalSpec:\n  <top level>: not JSON"):
        EvalSpec.load(tmp_path / "broken.json")
    with pytest.raises(SpecError, match="cannot read the RunSpec"):
        RunSpec.load(tmp_path / "missing.json")


def test_an_eval_spec_carries_the_measurement_not_the_verdict_threshold(tmp_path):
    spec = eval_spec(tmp_path)
    assert "max_forgetting_pct" not in spec.config.model_dump()
    path = write_edited(spec, tmp_path / "spec.json", lambda d: d["config"].update(max_forgetting_pct=10.0))
    with pytest.raises(SpecError, match=r"config\.max_forgetting_pct: unknown key"):
        EvalSpec.load(path)
    path = write_edited(spec, tmp_path / "spec.json", lambda d: d["model"].update(removed_layers=[-1]))
    with pytest.raises(SpecError, match=r"model\.removed_layers\.0: Input should be greater than or equal to 0"):
        EvalSpec.load(path)


def test_an_eval_spec_names_its_general_text_or_why_there_is_none(tmp_path):
    assert eval_spec(tmp_path, general_text_path=None, general_text_unavailable="no WordNet").general_text_path is None
    for fields in ({"general_text_path": None}, {"general_text_unavailable": "no WordNet"}):
        with pytest.raises(ValueError, match="exactly one of general_text_path and general_text_unavailable"):
            eval_spec(tmp_path, **fields)


@pytest.fixture()
def base_yaml_config(tmp_path):
    """The original variant under an empty profile: every value is configs/base.yaml's."""
    configs = shutil.copytree(DEFAULT_CONFIGS_DIR, tmp_path / "configs")
    (configs / "profiles" / "plain.yaml").write_text("{}\n")
    return load_variant_config("original", "plain", configs)


def test_the_entry_point_trains_with_base_yaml_values(tmp_path, base_yaml_config):
    """The old entry point restated defaults that contradicted base.yaml (backend trl, seed 0, scheduler
    linear, packing and checkpointing off) and used them for any key a spec left out; now a spec holds
    every key and the trainer's settings are base.yaml's."""
    from bmw_assets.training.train import prepare_process, sft_config

    base = yaml.safe_load((DEFAULT_CONFIGS_DIR / "base.yaml").read_text())["training"]
    assert (base["backend"], base["seed"], base["lr_scheduler"], base["packing"]) == ("auto", 2026, "cosine", True)
    spec = run_spec(tmp_path / "run", "base", config=base_yaml_config)
    assert spec.config.training.model_dump(mode="json") == base

    args = sft_config(spec, LossMode.COMPLETION_ONLY, BackendChoice("trl", False), cuda=False, overrides={})
    effective = {
        "seed": args.seed, "lr_scheduler": args.lr_scheduler_type.value, "packing": args.packing,
        "gradient_checkpointing": args.gradient_checkpointing, "max_length": args.max_length,
        "max_steps": args.max_steps, "num_train_epochs": args.num_train_epochs, "learning_rate": args.learning_rate,
        "per_device_batch_size": args.per_device_train_batch_size, "warmup_ratio": args.warmup_steps,
        "gradient_accumulation_steps": args.gradient_accumulation_steps, "weight_decay": args.weight_decay,
        "eval_steps": args.eval_steps, "save_steps": args.save_steps, "logging_steps": args.logging_steps,
        "torch_compile": args.torch_compile, "report_to": args.report_to[0],
    }  # fmt: skip
    assert effective == {key: base[key] for key in effective}

    threads = torch.get_num_threads()
    try:
        device = prepare_process(spec)
        assert torch.initial_seed() == 2026  # training.seed reached the process
    finally:
        torch.set_num_threads(threads)
    assert device.backend == BackendChoice("trl", use_liger=False)  # "auto" on a CPU host


def test_a_spec_without_a_setting_is_refused_instead_of_trained_with_a_default(tmp_path):
    spec = run_spec(tmp_path / "run", "base")
    for key in ("backend", "seed", "lr_scheduler", "packing", "gradient_checkpointing"):
        path = write_edited(spec, tmp_path / f"{key}.json", lambda d, key=key: d["config"]["training"].pop(key))
        with pytest.raises(SpecError, match=rf"config\.training\.{key}: missing"):
            RunSpec.load(path)
