"""Upload and download through the real `huggingface_hub` client against a loopback stand-in for the
Hub (the only part mocked: the Hub cannot be reached from tests): the exact file set goes up and
comes back byte for byte; offline, without a token, with a rejected token or with no answer, a
transfer fails within seconds, says why, and sends nothing."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from bmw_assets.sharing.hub import HubRepo, HubUnavailableError, check_hub, download_folder, upload_folder
from bmw_assets_tests.conftest import free_port
from bmw_assets_tests.integration.sharing_fake_hub import LFS_THRESHOLD, TOKEN, FakeHub, hub_online  # noqa: F401

pytestmark = pytest.mark.usefixtures("hub_online")


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as server:
        monkeypatch.setenv("BMW_HUB_ENDPOINT", server.endpoint)  # the operator allows this Hub
        yield server


def run_folder(root: Path) -> dict[str, bytes]:
    """A run folder as training leaves it, plus things that must stay home; returns what must go up."""
    published = {
        "README.md": b"---\nlicense: apache-2.0\n---\n\n# A card\n",
        "config.json": b'{"num_hidden_layers": 29}',
        "weights/model.safetensors": os.urandom(LFS_THRESHOLD + 1),  # large: through LFS
    }
    private = {"manifest.json": b'{"output_dir": "/home/me/run"}', "merged/export.json": b"{}",
               "checkpoint-2/optimizer.pt": b"state", ".staging/x": b"partial"}  # fmt: skip
    for name, content in {**published, **private}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return published


def test_a_folder_goes_up_and_comes_back_byte_for_byte(hub, tmp_path):
    expected = run_folder(tmp_path / "run")
    messages = []
    repo = HubRepo("tester/bmw-run", "model", endpoint=hub.endpoint)
    sent = upload_folder(tmp_path / "run", repo, progress=messages.append)
    assert sent.files == sorted(expected) and hub.repos[("model", "tester/bmw-run")] == expected
    assert sent.commit and sent.url == f"{hub.endpoint}/tester/bmw-run"
    assert hub.front_matter and all(f == {"license": "apache-2.0"} for f in hub.front_matter)  # README validated

    received = download_folder(repo, tmp_path / "copy", progress=messages.append)
    assert received.files == sorted(expected)
    assert {name: (tmp_path / "copy" / name).read_bytes() for name in received.files} == expected
    # The token travels only in the Authorization header: never in a message or a result.
    assert not any(TOKEN in text for text in [*messages, repr(sent), repr(received), repr(repo)])


def test_a_dataset_repo_uses_the_dataset_routes(hub, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text('{"text": "x"}\n')
    sent = upload_folder(tmp_path / "data", HubRepo("tester/bmw-data", "dataset", endpoint=hub.endpoint))
    assert sent.url == f"{hub.endpoint}/datasets/tester/bmw-data" and ("dataset", "tester/bmw-data") in hub.repos
    assert ("POST", "/api/datasets/tester/bmw-data/commit/main") in hub.requests


def fails_fast(call, match: str, seconds: float = 3.0) -> None:
    started = time.perf_counter()
    with pytest.raises(HubUnavailableError, match=match):
        call()
    assert time.perf_counter() - started < seconds


def test_offline_mode_fails_at_once_without_a_request(hub, tmp_path, monkeypatch):
    run_folder(tmp_path / "run")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = HubRepo("tester/bmw-run", endpoint=hub.endpoint)
    fails_fast(lambda: upload_folder(tmp_path / "run", repo), "HF_HUB_OFFLINE is set")
    fails_fast(lambda: download_folder(repo, tmp_path / "copy"), "HF_HUB_OFFLINE is set")
    assert hub.requests == []


def test_a_missing_or_rejected_token_is_named(hub, tmp_path, monkeypatch):
    run_folder(tmp_path / "run")
    repo = HubRepo("tester/bmw-run", endpoint=hub.endpoint, token_env="HUGGING_FACE_HUB_TOKEN")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    fails_fast(lambda: upload_folder(tmp_path / "run", repo), "HUGGING_FACE_HUB_TOKEN holds no Hugging Face token")
    assert hub.requests == []
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_wrong")
    fails_fast(lambda: upload_folder(tmp_path / "run", repo), r"rejected the token in HUGGING_FACE_HUB_TOKEN \(401\)")
    assert hub.requests == [("GET", "/api/whoami-v2")] and hub.repos == {}


def test_no_network_fails_within_seconds(tmp_path, monkeypatch):
    run_folder(tmp_path / "run")
    monkeypatch.setenv("BMW_HUB_ENDPOINT", closed_endpoint := f"http://127.0.0.1:{free_port()}")
    closed = HubRepo("tester/bmw-run", endpoint=closed_endpoint)
    fails_fast(lambda: upload_folder(tmp_path / "run", closed), "cannot be reached")
    # A host that takes the connection and never answers: the check gives up after its timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.setenv("BMW_HUB_ENDPOINT", silent_endpoint := f"http://127.0.0.1:{silent.getsockname()[1]}")
        repo = HubRepo("tester/bmw-run", endpoint=silent_endpoint)
        fails_fast(lambda: check_hub(repo, TOKEN, timeout_s=1.0), "did not answer within 1 s")
