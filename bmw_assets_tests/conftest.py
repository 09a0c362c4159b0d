"""Fixtures shared across the suite: real local parts, never the internet."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest
from aiohttp import web

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


# A local-profile overlay that trains and evaluates each variant in seconds, for tests.
TINY_PROFILE = {
    "surgery": {"layer": "auto", "keep_layers": 20, "calibration_samples": 2},
    "training": {"max_length": 128, "max_steps": 2, "per_device_batch_size": 1, "eval_steps": 2, "save_steps": 2,
                 "logging_steps": 1, "styles": ["instruct", "qa"]},
    "evaluation": {"perplexity_max_length": 64, "perplexity_stride": 32, "entropy_samples": 2, "max_new_tokens": 6,
                   "fact_questions": 2, "heldout_max_tokens": 150, "generation_prompts": ["Which new models did BMW present?"],
                   "entropy_questions": 2, "general_text_chars": 1500},
}  # fmt: skip


def write_tiny_configs(target: Path) -> Path:
    """Copy the project's configs to `target` with TINY_PROFILE laid over the local profile."""
    import shutil

    import yaml

    from bmw_assets.models.config import DEFAULT_CONFIGS_DIR

    shutil.copytree(DEFAULT_CONFIGS_DIR, target)
    local = yaml.safe_load((target / "profiles" / "local.yaml").read_text())
    for section, values in TINY_PROFILE.items():
        local[section] |= values
    (target / "profiles" / "local.yaml").write_text(yaml.safe_dump(local))
    return target


class ScriptedServer:
    """A real aiohttp server on a loopback port, in a background thread, answering every POST with
    `answer(path, json_body) -> web.Response` (an endpoint that misbehaves on purpose)."""

    def __init__(self, answer):
        self.answer, self.requests = answer, []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        asyncio.set_event_loop(self._loop)

        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            self.requests.append((request.path, body, request.headers.get("Authorization")))
            return self.answer(request.path, body)

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def chat_reply(content: str) -> web.Response:
    return web.json_response(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "scripted",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
    )
