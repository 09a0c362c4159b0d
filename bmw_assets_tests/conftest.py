"""Fixtures shared across the suite: real local parts, never the internet."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def base_model_dir() -> Path:
    """The packaged SmolLM2, dequantized once per test session into a safetensors folder."""
    from bmw_assets.models.base_model import PACKAGED_MODEL, ensure_base_model

    # Kept between local runs (dequantizing takes ~20 s); CI starts from a clean clone.
    cache = Path(os.environ.get("BMW_TEST_MODEL_CACHE", Path(__file__).parents[1] / ".pytest_cache" / "bmw_models"))
    return Path(ensure_base_model(PACKAGED_MODEL, cache))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def local_llm(base_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A real `transformers serve` with the packaged model on a free loopback port, for the whole session."""
    from bmw_assets.llm_filter.endpoint import LocalEndpoint

    endpoint = LocalEndpoint(base_model_dir, free_port(), tmp_path_factory.mktemp("serve") / "serve.log")
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()
