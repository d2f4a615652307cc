"""When to ask again: an adaptive poll schedule and a global cap on the query rate.

A fixed 0.5 s poll adds a quarter second on average to a generation that takes under one
(PROTOCOL.md); polling fast everywhere burns the provider's rate limit. The client knows roughly
when a generation should end (it learns the server's duration), so it waits quietly until just
before then and looks closely only near the end, backing off if the server runs late.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

# Replicate: 3,000 non-create requests a minute; stay well under it across a whole batch.
DEFAULT_MAX_QUERIES_PER_SECOND = 40.0


@dataclass
class DurationEstimate:
    """A running estimate of how long the server takes from create to a final status."""

    seconds: float = 0.8  # flux-schnell on Replicate: predict_time about 0.5-0.9 s
    weight: float = 0.3

    def observe(self, duration: float) -> None:
        if duration > 0:
            self.seconds += self.weight * (duration - self.seconds)


class PollSchedule:
    """Delays between queries of one prediction.

    Until the expected end it sleeps in one stretch (minus a small lead); from there it polls at
    ``first_gap`` and grows the gap by ``growth`` up to ``max_gap``, so a late generation costs
    few requests and an on-time one is noticed within tens of milliseconds.
    """

    def __init__(
        self,
        expected: float,
        *,
        lead: float = 0.03,
        first_gap: float = 0.02,
        growth: float = 1.5,
        max_gap: float = 1.0,
    ) -> None:
        self._expected = expected
        self._lead = lead
        self._gap = first_gap
        self._growth = growth
        self._max_gap = max_gap

    def next_delay(self, elapsed: float) -> float:
        """Seconds to sleep before the next query, given seconds since the create was sent."""
        until_expected = self._expected - self._lead - elapsed
        if until_expected > self._gap:
            return until_expected
        delay = self._gap
        self._gap = min(self._gap * self._growth, self._max_gap)
        return delay


class RateLimiter:
    """A token bucket shared by every query of one client: at most ``rate`` a second."""

    def __init__(self, rate: float = DEFAULT_MAX_QUERIES_PER_SECOND, burst: int = 10) -> None:
        self._rate = rate
        self._capacity = float(burst)
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(
                    self._capacity, self._tokens + (now - self._updated) * self._rate
                )
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self._rate)
