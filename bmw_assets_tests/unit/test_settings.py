"""The deployment settings: the profile's `deployment:` section, the environment laid on it in one
place, and errors that name the file or the variable that is wrong."""

import re
import shutil
from pathlib import Path

import pytest
import yaml

from bmw_assets.models.config import DEFAULT_CONFIGS_DIR, ConfigError, load_variant_config
from bmw_assets.settings import ENVIRONMENT, load_settings

PROJECT = Path(__file__).resolve().parents[2]


def test_the_profile_file_decides_and_the_environment_overrides(tmp_path: Path) -> None:
    local = load_settings({})
    assert (local.profile, local.pressclub.site, local.paragraph_filter.method) == ("local", "replica", "classifier")
    assert local.storage.root == (Path.cwd() / "storage").resolve() and local.configs_dir == DEFAULT_CONFIGS_DIR
    overridden = load_settings({"BMW_STORAGE": str(tmp_path), "BMW_REPLICA_SIZE": "12", "BMW_FILTER_METHOD": "llm",
                                "BMW_NUM_GPUS": "2", "BMW_MAX_FAILURE_RATE": "0.5", "BMW_PRESSCLUB_URL": " "})  # fmt: skip
    assert overridden.storage.root == tmp_path and overridden.pressclub.replica_size == 12
    assert overridden.paragraph_filter.method == "llm" and overridden.compute.num_gpus == 2
    assert overridden.failure_policy.max_failure_rate == 0.5
    assert overridden.pressclub.url is None  # a blank variable is no override
    # What the variables do not name keeps the profile's value.
    assert overridden.paragraph_filter.keep_threshold == local.paragraph_filter.keep_threshold == 0.1


def test_a_wrong_variable_is_named_with_its_value() -> None:
    with pytest.raises(ConfigError, match=r"BMW_REPLICA_SIZE='many': .*integer"):
        load_settings({"BMW_REPLICA_SIZE": "many"})
    with pytest.raises(ConfigError, match=r"BMW_FAILURE_SEVERITY='FATAL'"):
        load_settings({"BMW_FAILURE_SEVERITY": "FATAL"})
    with pytest.raises(ConfigError, match=r"BMW_NUM_GPUS='-1'"):
        load_settings({"BMW_NUM_GPUS": "-1"})
    # The live site is the real PressClub: a replica URL there is a mistake, not a silent no-op.
    with pytest.raises(ConfigError, match="use site: replica"):
        load_settings({"BMW_PROFILE": "production", "BMW_LLM_BASE_URL": "http://127.0.0.1:9/v1",
                       "BMW_PRESSCLUB_URL": "http://127.0.0.1:8765"})  # fmt: skip
    with pytest.raises(ConfigError, match="BMW_LLM_BASE_URL"):
        load_settings({"BMW_PROFILE": "production"})


@pytest.mark.parametrize("profile", ["../../etc/passwd", "Local", "local.yaml", "", "nope"])
def test_a_profile_name_is_a_profile_file_and_nothing_else(profile: str) -> None:
    if not profile:  # unset: the default profile
        assert load_settings({"BMW_PROFILE": profile}).profile == "local"
        return
    with pytest.raises(ConfigError, match="profile"):
        load_settings({"BMW_PROFILE": profile})


def test_a_profile_without_a_deployment_section_cannot_be_deployed() -> None:
    # gpu-quality only overlays the variant configs (benchmarks/quality.py).
    with pytest.raises(ConfigError, match=r"gpu-quality.yaml: no `deployment:` mapping"):
        load_settings({"BMW_PROFILE": "gpu-quality"})


def test_a_wrong_key_in_the_profile_file_names_the_file(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    shutil.copytree(DEFAULT_CONFIGS_DIR, configs)
    path = configs / "profiles" / "local.yaml"
    data = yaml.safe_load(path.read_text())
    data["deployment"]["pressclub"]["sight"] = "replica"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"local.yaml: deployment.pressclub.sight: Extra inputs"):
        load_settings({"BMW_CONFIGS_DIR": str(configs)})


def test_the_variant_configs_ignore_the_deployment_section() -> None:
    # The section sits in the same file the variant loader lays on every variant.
    assert load_variant_config("original", "local").model.name == "packaged:smollm2-135m-instruct"


def test_the_readme_lists_every_variable_the_package_reads() -> None:
    readme = (PROJECT / "README.md").read_text()
    table = {line.split("|")[1].strip(" `") for line in readme.splitlines() if line.startswith("| `")}
    read = set()
    for path in (PROJECT / "bmw_assets").rglob("*.py"):
        read |= set(re.findall(r"\bBMW_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    assert {v.name for v in ENVIRONMENT} <= table
    assert read <= table, sorted(read - table)
