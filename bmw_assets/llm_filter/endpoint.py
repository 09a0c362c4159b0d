"""Where the filter's LLM answers: settings of an OpenAI-compatible endpoint, and
`LocalEndpoint`, which runs `transformers serve` on loopback for the local profile.

Two answer routes, both through the official `openai` client:
- `systemone`: the typed-decision route of `transformers serve` (`POST /v1/systemone`),
  which returns the probability of "Yes" for a yes/no question from the next-token
  logits, without generating. Small models cannot follow answer formats, so this is
  the route for them.
- `chat_json`: chat completions answering one JSON object per chunk, for capable
  models behind vLLM or OpenAI (e.g. gpt-oss-120b).
The API key is read from an environment variable when the client is built; only the
variable's name is kept, so the key never reaches a log, repr or the catalog.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import openai

from bmw_assets.local_services import stop_recorded, write_pid_file
from bmw_assets.secrets import redact

ANSWER_ROUTES = ("systemone", "chat_json")
# `transformers serve` ignores the key, but the openai client insists on one.
_NO_KEY = "no-key-needed"


@dataclass(frozen=True)
class EndpointSettings:
    """An OpenAI-compatible endpoint: `base_url` ends in /v1, `model` is the served model
    id (part of the cache key), `api_key_env` names the environment variable holding the
    key (None: no key), `concurrency` bounds requests in flight, `timeout_s` is per request
    (seconds), `max_retries` retries connection errors, timeouts, 429 and 5xx with backoff."""

    base_url: str
    model: str
    api: Literal["systemone", "chat_json"] = "chat_json"
    api_key_env: str | None = None
    concurrency: int = 4
    timeout_s: float = 120.0
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.api not in ANSWER_ROUTES:
            raise ValueError(f"api={self.api!r} is not an answer route; use one of {ANSWER_ROUTES}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.timeout_s <= 0 or self.max_retries < 0:
            raise ValueError(f"timeout_s must be > 0 and max_retries >= 0, got {self.timeout_s}, {self.max_retries}")

    @classmethod
    def local(cls, base_url: str, model: str, concurrency: int = 2) -> EndpointSettings:
        """A `transformers serve` endpoint on loopback, answering through `/v1/systemone`."""
        return cls(base_url=base_url, model=model, api="systemone", concurrency=concurrency)

    @classmethod
    def production(
        cls, base_url: str, model: str = "openai/gpt-oss-120b", api_key_env: str = "OPENAI_API_KEY"
    ) -> EndpointSettings:
        """A vLLM or OpenAI endpoint answering JSON through chat completions."""
        return cls(base_url=base_url, model=model, api="chat_json", api_key_env=api_key_env, concurrency=16)

    def redact(self, text: str) -> str:
        """`text` with the API key (and every other secret) masked: an endpoint may echo the key in
        an error body, which must not reach a log or the catalog."""
        return redact(text, [self.api_key_env] if self.api_key_env else [])

    def client(self) -> openai.OpenAI:
        """An `openai.OpenAI` client for this endpoint; raise ValueError naming an unset key variable."""
        key = _NO_KEY
        if self.api_key_env is not None:
            key = os.environ.get(self.api_key_env, "")
            if not key:
                raise ValueError(f"environment variable {self.api_key_env} holds no API key for {self.base_url}")
        return openai.OpenAI(base_url=self.base_url, api_key=key, timeout=self.timeout_s, max_retries=self.max_retries)


def is_healthy(base_url: str, timeout_s: float = 2.0) -> bool:
    """True when GET <server root>/health answers 200 (`base_url` may end in /v1)."""
    root = base_url.removesuffix("/").removesuffix("/v1")
    try:
        with urllib.request.urlopen(f"{root}/health", timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class LocalEndpointError(RuntimeError):
    """`transformers serve` did not come up; the message carries the tail of its log."""


class LocalEndpoint:
    """`transformers serve <model_dir>` on 127.0.0.1:`port`, on CPU, offline, logging to `log_path`.

    `start()` reuses a server already answering on the port, else starts one as a detached
    subprocess (so it outlives this process and later runs reuse it) and waits until
    `/health` answers. Its pid is kept next to the log, so `stop()` can stop a server
    started by an earlier process too; a server someone else started is never stopped.
    """

    def __init__(self, model_dir: Path | str, port: int, log_path: Path, startup_timeout_s: float = 120.0):
        self.model_dir = str(model_dir)
        self.port = port
        self.log_path = Path(log_path)
        self.pid_path = self.log_path.with_suffix(".pid")
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def settings(self, concurrency: int = 2) -> EndpointSettings:
        """Endpoint settings for this server (model id = `model_dir`, route `systemone`)."""
        return EndpointSettings.local(self.base_url, self.model_dir, concurrency=concurrency)

    def start(self) -> EndpointSettings:
        """Make sure the server answers; return its settings. Raise LocalEndpointError with
        the log tail when it exits or is not healthy within `startup_timeout_s` seconds."""
        if is_healthy(self.base_url):
            return self.settings()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "transformers.cli.transformers",
            "serve",
            self.model_dir,
            "--device",
            "cpu",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "info",
        ]
        # One intra-op thread: on a small CPU box, torch's threads fighting other processes
        # for cores made each forward pass ~10x slower (measured: 0.5 s vs 5.4 s for 118 tokens).
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        with open(self.log_path, "ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self._process = process
        write_pid_file(self.pid_path, process.pid)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if is_healthy(self.base_url):
                return self.settings()
            if process.poll() is not None:
                self.pid_path.unlink(missing_ok=True)
                raise LocalEndpointError(
                    f"transformers serve for {self.model_dir} exited with code {process.returncode} before "
                    f"answering on port {self.port}; log {self.log_path} ends:\n{self.log_tail()}"
                )
            time.sleep(0.25)
        self.stop()
        raise LocalEndpointError(
            f"transformers serve for {self.model_dir} was not healthy on port {self.port} within "
            f"{self.startup_timeout_s:.0f} s; log {self.log_path} ends:\n{self.log_tail()}"
        )

    def stop(self) -> bool:
        """Stop the server this endpoint started (pid file), if the file still names that process;
        True if one was stopped."""
        stopped = stop_recorded(self.pid_path)
        if self._process is not None:
            self._process.poll()  # reaped already: keep Popen from waiting on a reused pid
        return stopped

    def log_tail(self, lines: int = 30) -> str:
        """The last `lines` lines of the server log ('' when there is none)."""
        if not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> LocalEndpoint:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
