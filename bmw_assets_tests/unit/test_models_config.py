"""Variant configs: inheritance, overlays, validation errors, production values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from bmw_assets.models.config import (
    DEFAULT_CONFIGS_DIR,
    ConfigError,
    VariantConfig,
    list_variants,
    load_base_model_config,
    load_variant_config,
    training_config_sha256,
    validate_against_model,
)

VARIANTS = ["dropped", "dropped_lora", "original", "original_lora", "pruned", "pruned_lora"]


@pytest.fixture()
def configs(tmp_path: Path) -> Path:
    """A copy of the real configs folder, named `configs` so messages read as in the repo."""
    target = tmp_path / "configs"
    shutil.copytree(DEFAULT_CONFIGS_DIR, target)
    return target


def write_yaml(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_the_six_variants_are_the_yaml_files():
    assert list_variants() == VARIANTS


def test_a_new_yaml_file_is_a_new_variant(configs: Path):
    write_yaml(configs / "variants" / "dropped_r8.yaml", {"extends": "dropped_lora", "training": {"lora": {"r": 8}}})
    assert list_variants(configs) == sorted([*VARIANTS, "dropped_r8"])
    cfg = load_variant_config("dropped_r8", "production", configs)
    assert (cfg.variant, cfg.surgery.kind, cfg.training.method) == ("dropped_r8", "drop", "lora")
    assert cfg.training.lora.r == 8


def test_production_reproduces_the_original_hyper_parameters():
    lora = load_variant_config("dropped_lora", "production")
    assert lora.model.name == "Qwen/Qwen3-8B"
    assert lora.model.dtype == "bfloat16"
    assert (lora.training.lora.r, lora.training.lora.alpha, lora.training.lora.dropout) == (16, 16, 0.0)
    assert lora.training.lora.target_modules == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    assert lora.training.max_length == 4096
    assert lora.training.learning_rate == 2e-4
    assert (lora.training.gradient_checkpointing, lora.training.packing, lora.training.backend) == (
        False,
        True,
        "auto",
    )  # off on an H200: benchmarks/train_throughput.py
    assert (lora.surgery.kind, lora.surgery.layer) == ("drop", 16)
    validate_against_model(lora, 36)
    pruned = load_variant_config("pruned", "production")
    assert (pruned.surgery.kind, pruned.surgery.keep_layers, pruned.training.method) == ("prune", 24, "full")
    assert pruned.surgery.prune_strategy == "first"  # the original: the first 24 of 36 layers
    assert pruned.training.learning_rate == 1e-5
    validate_against_model(pruned, 36)
    original = load_variant_config("original", "production")
    assert (original.surgery.kind, original.training.method) == ("none", "full")


def test_local_profile_is_small_enough_for_the_demo_and_learns_the_facts():
    for variant in VARIANTS:
        cfg = load_variant_config(variant, "local")
        assert cfg.model.name == "packaged:smollm2-135m-instruct"
        assert cfg.model.dtype == "float32"
        assert cfg.training.max_length == 256
        lora = cfg.training.method == "lora"
        assert (cfg.training.max_steps, cfg.training.styles) == (-1, ["qa"])
        assert cfg.training.assistant_only_loss  # loss on the answers, where the facts are
        # by_method: full fine-tuning's steps cost more, so it trains half an epoch at a tenth of LoRA's
        # rate, two rows a step; LoRA one epoch, a row a step
        training = (cfg.training.learning_rate, cfg.training.num_train_epochs, cfg.training.per_device_batch_size)
        assert training == ((3.0e-3, 1.0, 1) if lora else (3.0e-4, 0.5, 2))
        assert cfg.training.cpu_bf16 and cfg.evaluation.cpu_bf16
        assert cfg.surgery.calibration_samples == 8
        # answers are generated whole: the qa rows' answer sentences reach 39 tokens
        assert (cfg.evaluation.entropy_samples, cfg.evaluation.max_new_tokens) == (4, 40)
        validate_against_model(cfg, 30)  # SmolLM2-135M has 30 layers
    assert load_variant_config("dropped", "local").surgery.layer == "auto"
    assert load_variant_config("pruned_lora", "local").surgery.keep_layers == 20


def test_extends_chain_of_depth_three_merges_deeply_and_replaces_lists(configs: Path):
    variants = configs / "variants"
    write_yaml(variants / "a.yaml", {"extends": "../base.yaml", "training": {"lora": {"r": 4, "alpha": 8}}})
    write_yaml(variants / "b.yaml", {"extends": "a", "training": {"lora": {"r": 32}, "seed": 7}})
    write_yaml(
        variants / "c.yaml",
        {"extends": "./b.yaml", "training": {"lora": {"target_modules": ["q_proj"]}, "styles": ["qa"]}},
    )
    cfg = load_variant_config("c", "production", configs)
    lora = cfg.training.lora
    assert (lora.r, lora.alpha, lora.dropout) == (32, 8, 0.0)  # b over a over base, siblings kept
    assert lora.target_modules == ["q_proj"]  # a list replaces, never appends
    assert cfg.training.styles == ["qa"]
    assert cfg.training.seed == 7
    assert cfg.training.max_length == 4096  # untouched keys come from base
    assert cfg.evaluation.judge == "embedding"  # untouched sections come from base


def test_profile_is_laid_over_the_resolved_variant(configs: Path):
    write_yaml(configs / "profiles" / "tiny.yaml", {"training": {"lora": {"r": 2}}, "surgery": {"layer": 3}})
    cfg = load_variant_config("dropped_lora", "tiny", configs)
    assert (cfg.training.lora.r, cfg.training.lora.alpha) == (2, 16)
    assert (cfg.surgery.kind, cfg.surgery.layer, cfg.training.method) == ("drop", 3, "lora")
    assert cfg.profile == "tiny"


def test_a_profile_sets_values_by_training_method(configs: Path):
    write_yaml(
        configs / "profiles" / "tiny.yaml",
        {"training": {"learning_rate": 1.0e-6}, "by_method": {"lora": {"training": {"learning_rate": 5.0e-3}}}},
    )
    assert load_variant_config("pruned_lora", "tiny", configs).training.learning_rate == 5.0e-3
    assert load_variant_config("pruned", "tiny", configs).training.learning_rate == 1.0e-6  # full: the profile's
    write_yaml(configs / "profiles" / "tiny.yaml", {"by_method": {"qlora": {"training": {"learning_rate": 1.0}}}})
    with pytest.raises(ConfigError, match="by_method.*qlora.*full and/or lora"):
        load_variant_config("original", "tiny", configs)


def test_a_profile_sets_values_for_one_variant_after_its_method(configs: Path):
    write_yaml(
        configs / "profiles" / "tiny.yaml",
        {
            "by_method": {"lora": {"training": {"learning_rate": 5.0e-3, "num_train_epochs": 1.0}}},
            "by_variant": {"original_lora": {"training": {"num_train_epochs": 3.0}}},
        },
    )
    chosen, other = (load_variant_config(v, "tiny", configs).training for v in ("original_lora", "dropped_lora"))
    assert (chosen.learning_rate, chosen.num_train_epochs) == (5.0e-3, 3.0)  # the method's rate, its own epochs
    assert (other.learning_rate, other.num_train_epochs) == (5.0e-3, 1.0)
    write_yaml(configs / "profiles" / "tiny.yaml", {"by_variant": {"orginal_lora": {"training": {"seed": 1}}}})
    with pytest.raises(ConfigError, match=r"by_variant: \['orginal_lora'\] are no variants; known: dropped"):
        load_variant_config("original", "tiny", configs)


def test_extends_cycle_is_reported_with_the_chain(configs: Path):
    write_yaml(configs / "variants" / "loop_a.yaml", {"extends": "loop_b"})
    write_yaml(configs / "variants" / "loop_b.yaml", {"extends": "loop_a"})
    with pytest.raises(ConfigError, match="cycle") as info:
        load_variant_config("loop_a", "local", configs)
    chain = "configs/variants/loop_a.yaml -> configs/variants/loop_b.yaml -> configs/variants/loop_a.yaml"
    assert chain in str(info.value)


def test_unknown_key_names_the_file_and_dotted_key(configs: Path):
    path = configs / "variants" / "dropped.yaml"
    data = yaml.safe_load(path.read_text())
    data["training"] = {"lora": {"rr": 8}}
    write_yaml(path, data)
    with pytest.raises(ConfigError) as info:
        load_variant_config("dropped_lora", "local", configs)
    assert "configs/variants/dropped.yaml: training.lora.rr: unknown key" in str(info.value)


def test_unknown_key_in_a_profile_names_the_profile(configs: Path):
    write_yaml(configs / "profiles" / "bad.yaml", {"evaluation": {"temprature": 0.7}})
    with pytest.raises(ConfigError) as info:
        load_variant_config("original", "bad", configs)
    assert "configs/profiles/bad.yaml: evaluation.temprature: unknown key" in str(info.value)


def test_wrong_types_name_the_file_and_key(configs: Path):
    write_yaml(
        configs / "variants" / "typo.yaml",
        {"extends": "original", "training": {"lora": {"r": "sixteen"}, "packing": "yes", "learning_rate": "2e-4"}},
    )
    with pytest.raises(ConfigError) as info:
        load_variant_config("typo", "local", configs)
    message = str(info.value)
    assert "configs/variants/typo.yaml: training.lora.r: " in message
    assert "configs/variants/typo.yaml: training.packing: " in message
    assert "configs/variants/typo.yaml: training.learning_rate: " in message and "write 2.0e-4" in message
    assert "local.yaml" not in message  # the profile sets these keys right; only the variant is blamed
    cfg = load_variant_config("original", "production", configs)  # the untouched variants still load
    assert cfg.training.lora.r == 16


def test_float_layer_from_the_variant_is_reported_against_it(configs: Path):
    write_yaml(configs / "variants" / "half.yaml", {"extends": "dropped", "surgery": {"layer": 2.5}})
    with pytest.raises(ConfigError) as info:
        load_variant_config("half", "production", configs)
    assert "configs/variants/half.yaml: surgery.layer: " in str(info.value)


def test_inconsistent_surgery_is_rejected(configs: Path):
    write_yaml(configs / "variants" / "vague.yaml", {"extends": "pruned", "surgery": {"keep_layers": "auto"}})
    with pytest.raises(ConfigError, match="block_size"):
        load_variant_config("vague", "production", configs)


def test_unknown_variant_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        load_variant_config("droped", "local")
    assert "unknown variant 'droped'" in str(info.value)
    assert all(name in str(info.value) for name in VARIANTS)


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown profile 'staging'.*local, production"):
        load_variant_config("original", "staging")


def test_layer_out_of_range_is_caught_against_the_model():
    cfg = load_variant_config("dropped", "production")
    with pytest.raises(ConfigError, match=r"surgery.layer: 16 is out of range; use 0..11"):
        validate_against_model(cfg, 12)
    pruned = load_variant_config("pruned", "production")
    with pytest.raises(ConfigError, match=r"surgery.keep_layers: 24 is out of range; use 1..23"):
        validate_against_model(pruned, 24)
    validate_against_model(load_variant_config("original", "production"), 12)  # no surgery, nothing to check


def test_saved_config_round_trips_and_hash_tracks_content():
    cfg = load_variant_config("pruned_lora", "local")
    saved = json.loads(json.dumps(cfg.model_dump(mode="json")))
    assert VariantConfig.model_validate(saved) == cfg
    assert training_config_sha256(VariantConfig.model_validate(saved)) == training_config_sha256(cfg)
    assert training_config_sha256(cfg) != training_config_sha256(load_variant_config("pruned", "local"))
    assert len(training_config_sha256(cfg)) == 64
    # How a variant is measured is not part of its training: a new evaluation setting trains nothing again.
    measured_apart = cfg.model_copy(update={"evaluation": cfg.evaluation.model_copy(update={"max_new_tokens": 99}),
                                            "description": "measured apart"})  # fmt: skip
    assert training_config_sha256(measured_apart) == training_config_sha256(cfg)
    retrained = cfg.model_copy(update={"training": cfg.training.model_copy(update={"learning_rate": 0.5})})
    assert training_config_sha256(retrained) != training_config_sha256(cfg)


@pytest.mark.parametrize(
    "setting, key",
    [({"surgery": {"layer": -1}}, "surgery.layer"), ({"training": {"max_steps": "eight"}}, "training.max_steps")],
)
def test_a_wrong_value_in_a_variant_is_reported_even_where_the_profile_overrides_it(configs: Path, setting, key):
    path = configs / "variants" / "dropped.yaml"
    write_yaml(path, {**yaml.safe_load(path.read_text()), **setting})
    with pytest.raises(ConfigError) as info:
        load_variant_config("dropped", "local", configs)  # local.yaml sets surgery.layer and training.max_steps
    assert f"configs/variants/dropped.yaml: {key}: " in str(info.value)


def test_a_file_name_that_is_not_a_safe_variant_name_is_no_variant(configs: Path):
    for name in ("...yaml", "Bad-Name.yaml", "_hidden.yaml", "ünïcode.yaml"):
        write_yaml(configs / "variants" / name, {"extends": "original"})
    assert list_variants(configs) == VARIANTS
    for variant in ("..", "Bad-Name", "../base"):
        with pytest.raises(ConfigError, match=r"not a variant name.*\^\[a-z0-9\]\[a-z0-9_\]\*\$"):
            load_variant_config(variant, "local", configs)


def test_a_bad_variant_file_fails_only_its_own_partition(configs: Path):
    from bmw_assets.defs.resources import ModelConfigsResource

    write_yaml(configs / "variants" / "broken.yaml", {"extends": "original", "training": {"max_steps": "eight"}})
    resource = ModelConfigsResource(profile="local", configs_dir=str(configs))
    assert resource.base_model_name() == "packaged:smollm2-135m-instruct"
    valid, errors = resource.load_valid()
    assert sorted(valid) == VARIANTS and list(errors) == ["broken"] and "training.max_steps" in errors["broken"]
    with pytest.raises(ConfigError, match="configs/variants/broken.yaml: training.max_steps"):
        resource.load("broken")
    # The demo trains LoRA variants first (so the last evaluation is a quicker full-weight one); the
    # broken variant last, where its run fails alone.
    from bmw_assets.demo import training_order

    assert training_order(resource) == ["dropped_lora", "original_lora", "pruned_lora", "dropped", "original",
                                        "pruned", "broken"]  # fmt: skip


def test_the_base_model_config_is_base_yaml_with_the_profile_and_no_variant(configs: Path):
    write_yaml(configs / "variants" / "original.yaml", {"extends": "../base.yaml", "evaluation": {"batch_size": 3}})
    for profile in ("local", "production"):
        base = load_base_model_config(profile, configs)
        variant = load_variant_config("original_lora", profile, configs)
        assert base.model == variant.model
        assert base.evaluation.batch_size != 3 and base.evaluation.judge_model == variant.evaluation.judge_model


def test_variants_must_start_from_the_base_model(configs: Path):
    from bmw_assets.defs.resources import ModelConfigsResource

    profile = configs / "profiles" / "local.yaml"
    data = yaml.safe_load(profile.read_text())
    data["by_variant"] = {"pruned": {"model": {"name": "other/model"}}}  # the profile's model.name is laid on last
    write_yaml(profile, data)
    resource = ModelConfigsResource(profile="local", configs_dir=str(configs))
    assert resource.base_model().model.name == "packaged:smollm2-135m-instruct"
    with pytest.raises(ValueError, match=r"variants start from \['other/model'\], not the base model"):
        resource.base_model_name()


def test_a_wrong_value_in_base_yaml_is_reported_even_where_a_variant_overrides_it(configs: Path):
    path = configs / "base.yaml"
    data = yaml.safe_load(path.read_text())
    data["training"]["method"] = "qlora"  # every *_lora variant sets method: lora over it
    write_yaml(path, data)
    with pytest.raises(ConfigError, match="configs/base.yaml: training.method: "):
        load_variant_config("original_lora", "local", configs)
