"""Where training reports go: Dagster Pipes when launched by Pipes, stdout otherwise.

Both reporters share one small interface so the training code never asks which it has.
Only the main process (RANK 0) talks to Pipes; other ranks of a multi-GPU launch stay quiet.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any, Protocol


class Reporter(Protocol):
    """Sink for progress lines and the final materialization metadata."""

    def log(self, message: str) -> None: ...

    def report_materialization(self, metadata: dict[str, Any]) -> None: ...


class StdoutReporter:
    """Standalone runs: plain lines on stdout."""

    def log(self, message: str) -> None:
        print(message, flush=True)

    def report_materialization(self, metadata: dict[str, Any]) -> None:
        for key, value in metadata.items():
            shown = value.get("raw_value") if isinstance(value, dict) and "raw_value" in value else value
            print(f"{key}: {shown}", flush=True)


class SilentReporter:
    """Non-main ranks of a distributed launch: the main rank reports for everyone."""

    def log(self, message: str) -> None:
        pass

    def report_materialization(self, metadata: dict[str, Any]) -> None:
        pass


class PipesReporter:
    """Logs and the asset materialization streamed back through an open Pipes context."""

    def __init__(self, pipes_context: Any) -> None:
        self._context = pipes_context

    def log(self, message: str) -> None:
        self._context.log.info(message)

    def report_materialization(self, metadata: dict[str, Any]) -> None:
        self._context.report_asset_materialization(metadata=metadata)


def is_main_process() -> bool:
    """True on rank 0 of an accelerate/torchrun launch, and in a single-process run."""
    return int(os.environ.get("RANK", "0")) == 0


@contextlib.contextmanager
def open_reporter() -> Iterator[Reporter]:
    """Yield a PipesReporter when this process was launched by Dagster Pipes (rank 0),
    a StdoutReporter when run from a command line, a SilentReporter on other ranks.
    An exception leaving the block is reported to Dagster by the Pipes context."""
    if not is_main_process():
        yield SilentReporter()
        return
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    if not PipesEnvVarParamsLoader().is_dagster_pipes_process():
        yield StdoutReporter()
        return
    with open_dagster_pipes() as pipes_context:
        yield PipesReporter(pipes_context)


def metadata_path(path: os.PathLike | str) -> dict[str, Any]:
    """A Pipes metadata value typed as a filesystem path."""
    return {"raw_value": os.fspath(path), "type": "path"}


def metadata_json(value: Any) -> dict[str, Any]:
    """A Pipes metadata value typed as JSON (lists, dicts)."""
    return {"raw_value": value, "type": "json"}


__all__ = [
    "PipesReporter",
    "Reporter",
    "SilentReporter",
    "StdoutReporter",
    "is_main_process",
    "metadata_json",
    "metadata_path",
    "open_reporter",
]
