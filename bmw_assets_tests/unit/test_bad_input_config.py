"""Bad configuration and input fail before any expensive work (no weights loaded, nothing
downloaded, no training process launched), with a message naming the file, key or value.

Already covered elsewhere: an unknown variant or profile, an unknown key (variant or profile
file), wrong types and an extends cycle in test_models_config.py; a layer index out of range
against a layer count in test_models_config.py (validate_against_model itself)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

from bmw_assets.catalog import connect
from bmw_assets.models.config import DEFAULT_CONFIGS_DIR, ConfigError, load_variant_config
from bmw_assets.run_specs import RunSpec
from bmw_assets.settings import StorageLayout
from bmw_assets.stages.dataset import update_chatml_dataset
from bmw_assets.stages.training import plan_training_run

LAYERS = 4


@pytest.fixture()
def configs(tmp_path: Path) -> Path:
    target = tmp_path / "configs"
    shutil.copytree(DEFAULT_CONFIGS_DIR, target)
    return target


@pytest.fixture()
def config_only_model(tmp_path: Path) -> Path:
    """A model folder with config.json and no weights: any attempt to load weights would fail."""
    from transformers import LlamaConfig

    folder = tmp_path / "config-only-model"
    LlamaConfig(num_hidden_layers=LAYERS, hidden_size=16, intermediate_size=32, num_attention_heads=2,
                num_key_value_heads=2, vocab_size=64).save_pretrained(folder)  # fmt: skip
    assert sorted(p.name for p in folder.iterdir()) == ["config.json"]
    return folder


def dataset(tmp_path: Path, train_styles=("qa", "instruct"), validation_styles=("qa",)) -> dict:
    """A chatml_dataset manifest whose splits hold one row per given style."""
    folder = tmp_path / "datasets" / "v-test"
    folder.mkdir(parents=True, exist_ok=True)
    messages = [{"role": "user", "content": "Where is BMW based?"}, {"role": "assistant", "content": "Munich."}]
    for split, styles in (("train", train_styles), ("validation", validation_styles), ("test", ("qa",))):
        (folder / f"{split}.jsonl").write_text(
            "".join(json.dumps({"messages": messages, "style": s}) + "\n" for s in styles)
        )
    return {"version": "v-test", "path": str(folder)}


def variant(configs: Path, name: str, overlay: dict):
    """`name` resolved with profile "bad": the local profile with `overlay`'s sections laid over it."""
    profile = yaml.safe_load((configs / "profiles" / "local.yaml").read_text())
    for section, values in overlay.items():
        profile[section] = profile.get(section, {}) | values
    (configs / "profiles" / "bad.yaml").write_text(yaml.safe_dump(profile))
    return load_variant_config(name, "bad", configs)


def assert_nothing_planned(layout: StorageLayout) -> None:
    assert not layout.models_dir.exists(), "no run spec may be written for a config that cannot run"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("training:\n  lora: [r, 8\n", "line 2"),
        ("training:\n\tmax_steps: 3\n", "line 2"),
        ("- a list\n- not a mapping\n", None),
    ],
)
def test_malformed_yaml_names_the_file(configs, text, where):
    (configs / "variants" / "broken.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_variant_config("broken", "local", configs)
    message = str(info.value)
    assert message.startswith("configs/variants/broken.yaml: ")
    assert (where in message and "not valid YAML" in message) if where else "must be a mapping, not list" in message


def test_malformed_yaml_in_a_parent_names_the_parent(configs):
    (configs / "variants" / "original.yaml").write_text("description: 'unclosed\n")
    with pytest.raises(ConfigError, match=r"^configs/variants/original\.yaml: not valid YAML"):
        load_variant_config("original_lora", "local", configs)  # original_lora extends original


def test_unknown_variant_is_refused_before_any_file_is_read():
    with pytest.raises(ConfigError, match=r"'\.\./base' is not a variant name: names match"):
        load_variant_config("../base", "local")  # a variant name never becomes a path


@pytest.mark.parametrize(
    ("name", "overlay", "expected"),
    [
        ("dropped", {"surgery": {"layer": 16}}, f"surgery.layer: 16 is out of range; use 0..{LAYERS - 1} or 'auto'"),
        (
            "pruned",
            {"surgery": {"keep_layers": LAYERS}},
            f"surgery.keep_layers: {LAYERS} is out of range; use 1..{LAYERS - 1}",
        ),
    ],
)
def test_layer_index_out_of_range_fails_in_the_plan_before_weights_or_launch(
    tmp_path, configs, config_only_model, name, overlay, expected
):
    cfg = variant(configs, name, overlay | {"model": {"name": str(config_only_model)}})
    layout = StorageLayout(tmp_path / "storage")
    with pytest.raises(ConfigError) as info:
        plan_training_run(cfg, dataset(tmp_path), layout)
    assert expected in str(info.value) and f"{name} (bad)" in str(info.value)
    assert_nothing_planned(layout)


def test_a_fitting_config_is_planned_from_the_config_alone(tmp_path, configs, config_only_model):
    cfg = variant(configs, "dropped", {"model": {"name": str(config_only_model)}, "surgery": {"layer": LAYERS - 1}})
    plan = plan_training_run(cfg, dataset(tmp_path), StorageLayout(tmp_path / "storage"))
    spec = RunSpec.load(plan.spec_path)  # what the training entry point reads
    assert spec.base_model == str(config_only_model) and spec.config == cfg and not plan.completed
    assert spec.output_dir == plan.output_dir and spec.tracking_dir == tmp_path / "storage"


@pytest.mark.parametrize(
    "name", ["/no/such/model-folder", "./relative/missing-folder", "bmw-tests/no-such-model-on-the-hub"]
)
def test_a_missing_model_fails_fast_naming_it(tmp_path, configs, name):
    cfg = variant(configs, "original", {"model": {"name": name}})
    layout = StorageLayout(tmp_path / "storage")
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        plan_training_run(cfg, dataset(tmp_path), layout)
    assert time.monotonic() - started < 10, "an offline lookup must not wait on the network"
    message = str(info.value)
    assert f"model.name {name!r}" in message
    if not name.startswith(("/", ".")):
        assert "HF_HUB_OFFLINE=1" in message  # conftest switches the Hub off
    assert_nothing_planned(layout)


@pytest.mark.parametrize(
    ("splits", "empty"),
    [({"train_styles": ("article",)}, "train.jsonl"), ({"validation_styles": ()}, "validation.jsonl")],
)
def test_a_split_with_no_rows_to_train_on_fails_before_the_model_is_touched(tmp_path, configs, splits, empty):
    # The model does not exist either: the dataset, checked first, is what the error names.
    cfg = variant(
        configs, "original", {"model": {"name": "/no/such/model-folder"}, "training": {"styles": ["qa", "instruct"]}}
    )
    layout = StorageLayout(tmp_path / "storage")
    with pytest.raises(ValueError) as info:
        plan_training_run(cfg, dataset(tmp_path, **splits), layout)
    message = str(info.value)
    assert not isinstance(info.value, ConfigError)
    assert f"v-test/{empty} has no rows with style in ['qa', 'instruct']" in message and message.startswith("original ")
    assert_nothing_planned(layout)


def test_a_dataset_from_no_clean_articles_fails_before_the_tokenizer_loads_and_says_why(tmp_path):
    catalog = tmp_path / "catalog.duckdb"

    def refusal() -> str:
        with pytest.raises(ValueError, match="no clean article text to build a dataset from") as info:
            update_chatml_dataset(catalog, tmp_path / "datasets", "/no/such/tokenizer", settings=None)
        return str(info.value)

    # An empty corpus: the press room listed nothing.
    assert "the catalog holds no article. article_index stored none" in refusal()
    now = "2026-01-01 00:00:00+00"
    with connect(catalog) as con:
        for i in range(3):
            con.execute("INSERT INTO articles (id, url, title, first_seen_at, fetched_at) VALUES (?, ?, ?, ?, ?)",
                        [f"T{i}", f"https://x/{i}", "t", now, now])  # fmt: skip
            con.execute(
                "INSERT INTO texts (article_id, stage, status, updated_at) VALUES (?, 'regex', 'ok', ?)", [f"T{i}", now]
            )
    assert "3 articles but no LLM-cleaned text (texts regex ok: 3): materialize llm_text" in refusal()
    with connect(catalog) as con:
        for i in range(3):
            con.execute(
                "INSERT INTO texts (article_id, stage, status, updated_at) VALUES (?, 'llm', 'rejected', ?)",
                [f"T{i}", now],
            )
    assert "none of the 3 articles has a kept text (texts llm rejected: 3, regex ok: 3)" in refusal()
    assert not (tmp_path / "datasets").exists()
