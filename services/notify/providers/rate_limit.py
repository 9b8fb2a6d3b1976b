"""A token bucket per provider: the worker's brake so a campaign cannot exceed what a provider accepts.

``rate_per_second`` tokens are added continuously up to ``burst``; :meth:`TokenBucket.acquire` takes one,
sleeping until it exists. Waiters are served in arrival order (one lock), so a burst of senders is
smoothed into the provider's rate instead of all waking at once and overshooting.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """At most ``rate_per_second`` acquisitions a second on average, ``burst`` at once."""

    def __init__(self, rate_per_second: float, burst: int | None = None) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.rate = float(rate_per_second)
        self.burst = float(burst if burst is not None else max(1, int(rate_per_second)))
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self._tokens = self.burst
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        """Take one token, waiting (in arrival order) until one has accrued."""
        async with self._lock:
            self._refill()
            while self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1

    def try_acquire(self) -> bool:
        """Take a token if one is there now, without waiting (for callers that prefer to defer)."""
        if self._lock.locked():
            return False
        self._refill()
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
