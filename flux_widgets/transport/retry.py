"""Which failures are worth another try, and how long to wait first.

The rules are docs/protocol.md's "Retry rules".

Queries and downloads are idempotent: they retry network errors, timeouts, 429 and 5xx (and a
download whose file arrived cut short). A create
is paid for, so it retries only where no prediction can have started: the connection was never
made, or the server said so (429, 503). Never a read timeout: a second create is paid twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import tenacity

from ..errors import APIError, DownloadError, InsufficientCreditError, InvalidRequestError

T = TypeVar("T")


class CutShortError(DownloadError):
    """An output file that arrived incomplete: fewer bytes than its Content-Length, or an
    image whose format's end (PNG's IEND, JPEG's EOI, WebP's RIFF length) is missing.

    A download is idempotent, so it is fetched again; after the retries it is the
    ``DownloadError`` the user sees (the generation's other images kept).
    """


# Errors raised before a single byte of the request reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def is_retryable(error: BaseException, *, create: bool) -> bool:
    """Whether the request that raised ``error`` may be sent again."""
    if isinstance(error, APIError):
        # A refused request, or an account out of credit (or out of a free allowance until its
        # reset, whatever its status code: Cloudflare's 3036 is a 429): another try cannot help.
        if isinstance(error, InvalidRequestError | InsufficientCreditError):
            return False
        status = error.status_code or 0
        if create:
            # 429 and 503 are refusals at the door: no generation started, nothing billed
            # (docs/protocol.md, "Retry rules"). That holds for the synchronous providers too
            # (Together): its 429 is a rate limit and its 503 "overloaded, not ready", both
            # answered instead of running the model; a 500/502/504, a read timeout or a dropped
            # connection may come after the model ran and was billed, so they are never retried.
            # fal's queue does not charge for 5xx, but its submit follows the same rule.
            return status in (429, 503)
        return status in (429, 500, 502, 503, 504)
    if create:
        return isinstance(error, _NOT_SENT)
    return isinstance(error, httpx.TransportError | CutShortError)


class Backoff:
    """Exponential backoff with jitter, or the server's own Retry-After when it gives one.

    The n-th retry waits a random time in ``[c/2, c]`` with ``c = min(cap, base * 2**(n-1))``;
    a Retry-After (already capped by ``http_errors.retry_after_seconds``) replaces it, plus up to
    ``base`` of jitter so that clients told the same moment do not all come back at once.
    """

    def __init__(self, base: float = 0.25, cap: float = 8.0) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"need 0 < base <= cap, got base={base!r}, cap={cap!r}")
        self.base = base
        self.cap = cap

    def delay(self, attempt_number: int, error: BaseException | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt_number`` (1-based) raised ``error``."""
        if isinstance(error, APIError) and error.retry_after is not None:
            return error.retry_after + random.uniform(0, self.base)
        ceiling = min(self.cap, self.base * 2 ** (attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)

    def least_delay(self, attempt_number: int, error: BaseException | None = None) -> float:
        """The shortest wait ``delay`` can return for the same attempt and error."""
        if isinstance(error, APIError) and error.retry_after is not None:
            return error.retry_after
        return float(min(self.cap, self.base * 2 ** (attempt_number - 1)) / 2)

    def __call__(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return self.delay(state.attempt_number, error)

    def __repr__(self) -> str:
        return f"Backoff(base={self.base!r}, cap={self.cap!r})"


async def with_retries(
    send: Callable[[], Awaitable[T]],
    *,
    create: bool,
    attempts: int,
    backoff: Backoff,
    deadline: float | None = None,
) -> T:
    """Await ``send()`` until it succeeds, retrying as the rules allow; the last error escapes.

    ``deadline`` (a ``time.monotonic()`` value): a retry whose wait would end past it is not
    slept; the error escapes at once, so a long Retry-After is reported, not waited out.
    """

    def should_retry(state: tenacity.RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if error is None or not is_retryable(error, create=create):
            return False
        if deadline is None:
            return True
        return time.monotonic() + backoff.least_delay(state.attempt_number, error) < deadline

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(max(attempts, 1)),
        wait=backoff,
        retry=should_retry,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await send()
    raise AssertionError("unreachable: tenacity either returns or re-raises")
