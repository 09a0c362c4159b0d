"""A token bucket per host: at most `rate` requests a second on average, bursts up to `capacity`."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """Await `acquire()` before each request; waiters are served in arrival order."""

    def __init__(self, rate: float, capacity: float) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError(f"rate={rate} must be > 0 requests/s and capacity={capacity} >= 1 request")
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def slow_to(self, rate: float) -> None:
        """Lower the rate (e.g. to honour a robots.txt Crawl-delay) and stop bursts; never raises it."""
        if rate < self.rate:
            self.rate = rate
            self.capacity = 1.0
            self._tokens = min(self._tokens, 1.0)

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)
