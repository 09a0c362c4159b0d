"""training.report_to: validated in the config, checked before a model is loaded, and the
tracker pointed at a local store."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml

from bmw_assets.models.config import DEFAULT_CONFIGS_DIR, ConfigError, load_variant_config
from bmw_assets.training.reporting import StdoutReporter
from bmw_assets.training.tracking import check_tracker, tracker_environment, trainer_report_to
from bmw_assets.training.train import run_training
from bmw_assets_tests.specs import run_spec, shipped_config

MLFLOW_MISSING = importlib.util.find_spec("mlflow") is None


def test_tensorboard_is_the_default_and_an_unknown_tracker_is_refused(tmp_path: Path):
    assert load_variant_config("original", "local").training.report_to == "tensorboard"
    configs = shutil.copytree(DEFAULT_CONFIGS_DIR, tmp_path / "configs")
    profile = configs / "profiles" / "local.yaml"
    local = yaml.safe_load(profile.read_text())
    local["training"]["report_to"] = "comet"
    profile.write_text(yaml.safe_dump(local))
    with pytest.raises(ConfigError, match=r"training\.report_to") as info:
        load_variant_config("original", "local", configs)
    assert "profiles/local.yaml" in str(info.value) and "'comet'" in str(info.value)
    check_tracker("tensorboard")
    check_tracker("none")
    with pytest.raises(ValueError, match="use one of tensorboard, mlflow, wandb, none"):
        check_tracker("comet")
    assert trainer_report_to("none") == [] and trainer_report_to("mlflow") == ["mlflow"]


@pytest.mark.skipif(not MLFLOW_MISSING, reason="mlflow is installed here")
def test_a_missing_tracker_package_fails_the_run_before_any_model_is_loaded(tmp_path: Path):
    with pytest.raises(RuntimeError, match=r"training.report_to is 'mlflow' but the mlflow package is not installed"):
        check_tracker("mlflow")
    spec = run_spec(tmp_path / "run", tmp_path / "no-model", config=shipped_config(training={"report_to": "mlflow"}))
    with pytest.raises(RuntimeError, match="pip install mlflow"):  # not an error about the missing model
        run_training(spec, StdoutReporter())
    assert not (tmp_path / "run").exists()


def test_mlflow_gets_a_file_store_under_the_storage_root_unless_one_is_set(tmp_path: Path):
    environ: dict[str, str] = {}
    tracker_environment("mlflow", tmp_path, environ)
    assert environ == {"MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(), "MLFLOW_EXPERIMENT_NAME": "bmw_assets"}
    environ = {"MLFLOW_TRACKING_URI": "http://tracking.example:5000"}
    tracker_environment("mlflow", tmp_path, environ)
    assert environ["MLFLOW_TRACKING_URI"] == "http://tracking.example:5000"
    environ = {}
    tracker_environment("tensorboard", tmp_path, environ)
    assert environ == {}


def test_the_run_spec_names_the_tracking_root(tmp_path: Path):
    spec = run_spec(tmp_path / "run", "m")
    assert spec.tracking_dir == tmp_path / "run"
    assert spec.model_copy(update={"tracking_root": tmp_path}).tracking_dir == tmp_path
