"""Stop signals for the project's long-running command-line servers."""

from __future__ import annotations

import signal
from typing import Any


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def interrupt_on_stop_signals() -> None:
    """Make SIGTERM and Ctrl-C raise KeyboardInterrupt, so a server's cleanup runs, even when
    the starting process handed them down as ignored (a test session, a script's background
    job): Python installs no handler for a signal it inherits as ignored."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
