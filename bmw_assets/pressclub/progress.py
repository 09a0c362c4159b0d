"""Progress messages for long runs: counts, rate and ETA every N items or T seconds."""

from __future__ import annotations

import time
from collections.abc import Callable


class ProgressReporter:
    """Call `advance()` per finished item; messages go to `progress` (nothing happens when it is None)."""

    def __init__(
        self,
        label: str,
        total: int,
        progress: Callable[[str], None] | None,
        every_items: int = 50,
        every_s: float = 10.0,
    ) -> None:
        self.label, self.total, self._progress = label, total, progress
        self._every_items, self._every_s = every_items, every_s
        self.done = 0
        self._started = self._last_report = time.monotonic()
        self._last_done = 0

    def message(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = self.done / elapsed
        eta = f"{(self.total - self.done) / rate:.0f} s" if rate > 0 and self.total >= self.done else "unknown"
        return f"{self.label}: {self.done}/{self.total} ({rate:.1f}/s, {elapsed:.0f} s elapsed, ETA {eta})"

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self._progress and (
            self.done - self._last_done >= self._every_items or now - self._last_report >= self._every_s
        ):
            self._last_done, self._last_report = self.done, now
            self._progress(self.message())

    def finish(self) -> None:
        if self._progress:
            self._progress(self.message())
