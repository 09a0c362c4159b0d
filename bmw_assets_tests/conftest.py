"""Fixtures shared across the suite: real local parts, never the internet."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def base_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged SmolLM2, dequantized once per test session into a safetensors folder."""
    from bmw_assets.models.base_model import PACKAGED_MODEL, ensure_base_model

    cache = Path(os.environ.get("BMW_TEST_MODEL_CACHE", tmp_path_factory.mktemp("base_models")))
    return Path(ensure_base_model(PACKAGED_MODEL, cache))
