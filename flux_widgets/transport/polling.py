"""When to ask again: an adaptive poll schedule and a global cap on the query rate.

A fixed 0.5 s poll adds a quarter second on average to a generation that takes under one
(docs/protocol.md); polling fast everywhere burns the provider's rate limit. The client knows
roughly when a generation should end (it learns the server's duration), so it waits quietly
until just after then and looks closely only from there, backing off if the server runs late.

Aiming the first query just after the expected end, not before it, is what the benchmarks
taught (benchmarks/README.md, rows 3-5): queries sent early are wasted, and in a batch they
arrive together, so the global cap then delays every wave's last answers.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import deque
from dataclasses import dataclass, field

# Replicate: 3,000 non-create requests a minute. rate + burst bounds any one second (45, i.e.
# 2,700/min at worst) and any minute (2,110), across a whole batch.
DEFAULT_MAX_QUERIES_PER_SECOND = 35.0
DEFAULT_QUERY_BURST = 10
# A polled generation that ends on time costs one query (PollSchedule); count two, for the ones
# that run a little late.
QUERIES_PER_GENERATION = 2.0


@dataclass
class DurationEstimate:
    """A running estimate of how long the server takes from create to a final status.

    The schedule sleeps until about this long after each create, so a slow or implausible
    answer must not teach it to oversleep. Learning is one-sided on purpose: a faster answer is
    learnt at once (polling early costs a query, never latency), while a slower one counts only
    once most of the ``window`` latest generations agree, and then for at most ``max_step``
    times the estimate (or ``floor`` seconds). One slow generation leaves the next ones
    untouched; a server that really slowed down is learnt within a few generations.
    """

    seconds: float = 0.8  # flux-schnell on Replicate: predict_time about 0.5-0.9 s
    weight: float = 0.3
    observations: int = 0
    max_step: float = 4.0
    floor: float = 2.0
    window: int = 5
    _recent: deque[float] = field(default_factory=deque, repr=False)

    def observe(self, duration: float) -> None:
        """Learn from one finished generation (seconds from create to final status)."""
        if not math.isfinite(duration) or duration <= 0:
            return
        duration = min(duration, max(self.seconds * self.max_step, self.floor))
        self._recent.append(duration)
        while len(self._recent) > self.window:
            self._recent.popleft()
        self.observations += 1
        if duration <= self.seconds:
            first = self.observations == 1
            self.seconds = (
                duration if first else self.seconds + self.weight * (duration - self.seconds)
            )
            return
        if len(self._recent) < 3:
            return  # too few to tell a slow server from one slow generation
        typical = statistics.median(self._recent)
        smoothed = self.seconds + self.weight * (duration - self.seconds)
        self.seconds = min(smoothed, max(self.seconds, typical))


def useful_concurrency(
    generation_seconds: float = DurationEstimate.seconds,
    rate: float = DEFAULT_MAX_QUERIES_PER_SECOND,
    queries_per_generation: float = QUERIES_PER_GENERATION,
) -> int:
    """How many polled generations the query-rate cap can keep going at once.

    Each lasts ``generation_seconds`` and needs ``queries_per_generation`` queries, so the cap
    of ``rate`` queries a second finishes at most ``rate / queries_per_generation`` a second:
    more concurrency than ``rate * generation_seconds / queries_per_generation`` only waits.
    """
    if generation_seconds <= 0 or rate <= 0 or queries_per_generation <= 0:
        raise ValueError("generation_seconds, rate and queries_per_generation must be positive")
    return max(1, int(rate * generation_seconds / queries_per_generation))


class PollSchedule:
    """Delays between queries of one prediction.

    It sleeps in one stretch until ``margin`` after the expected end (elapsed time counts from
    before the create was sent, so the server's own clock is a little behind: the margin and
    that offset cover its jitter); from there it polls at ``first_gap`` and grows the gap by
    ``growth`` up to ``max_gap``. An on-time generation costs one query and is noticed within
    milliseconds; a late one costs a few more, each late by at most ``growth - 1`` of its wait.
    """

    def __init__(
        self,
        expected: float,
        *,
        margin: float = 0.005,
        first_gap: float = 0.02,
        growth: float = 1.5,
        max_gap: float = 1.0,
    ) -> None:
        self._expected = expected
        self._margin = margin
        self._gap = first_gap
        self._growth = growth
        self._max_gap = max_gap
        self._first = True

    def next_delay(self, elapsed: float) -> float:
        """Seconds to sleep before the next query, given seconds since the create was sent."""
        if self._first:
            self._first = False
            until_expected = self._expected + self._margin - elapsed
            if until_expected > 0:
                return until_expected
        delay = self._gap
        self._gap = min(self._gap * self._growth, self._max_gap)
        return delay


class RateLimiter:
    """A token bucket shared by every query of one client: at most ``rate`` a second."""

    def __init__(
        self, rate: float = DEFAULT_MAX_QUERIES_PER_SECOND, burst: int = DEFAULT_QUERY_BURST
    ) -> None:
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
