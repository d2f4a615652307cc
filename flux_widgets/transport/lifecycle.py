"""What a FluxClient owns on each event loop, and how it is opened and closed.

Like httpx's ``ClientState``, a client is ``UNOPENED`` until its first request, ``OPENED`` while
it has resources, ``CLOSING`` during ``aclose()`` (new generations are refused), and ``CLOSED``
after it. A closed client reopens on its next use: new pools, same settings.

Per event loop (an httpx pool and asyncio primitives belong to one loop) it owns: the connection
pool, the concurrency slots, the query rate limiter, the tasks running generations (so
``aclose()`` can end them) and background tasks (a create still open when its generation was
cancelled: it is finished, then its prediction cancelled, within a bound).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from .network import ProxyRoutes, RoutingTransport
from .polling import RateLimiter
from .sending import Timeouts

logger = logging.getLogger("flux_widgets")
USER_AGENT = "flux-widgets/0.1 (+https://github.com/flux-widgets/flux-widgets)"


class ClientState(enum.Enum):
    """Where a client is in its life (each ``FluxClient`` keeps one; ``is_closed`` reads it)."""

    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass
class LoopResources:
    """What must belong to a single event loop: the pool, async primitives and owned tasks."""

    # Weak: the client keys these by loop in a WeakKeyDictionary, which a strong one would pin.
    loop: weakref.ref[asyncio.AbstractEventLoop]
    http: httpx.AsyncClient
    slots: asyncio.Semaphore
    queries: RateLimiter
    runs: set[asyncio.Task[Any]] = field(default_factory=set)
    # Background task -> loop time by which it should be done (a create's promised answer time).
    background: dict[asyncio.Task[Any], float] = field(default_factory=dict)
    # Set by close(): a generation whose task ends cancelled then reports the client closed.
    closing: bool = False

    def track_run(self, task: asyncio.Task[Any]) -> None:
        """Own a task running one generation, until it ends."""
        self.runs.add(task)
        task.add_done_callback(self.runs.discard)

    def spawn(self, coroutine: Coroutine[Any, Any, None], *, due: float) -> None:
        """Run ``coroutine`` as an owned background task; ``aclose()`` waits for it until
        ``due`` (a loop time) at most."""
        task = asyncio.ensure_future(coroutine)
        self.background[task] = due
        task.add_done_callback(lambda t: self.background.pop(t, None))

    async def close(self, bound: float) -> None:
        """End running generations (their handlers cancel their predictions), give background
        cancels up to ``bound`` seconds, then close the pool. Runs on this resource's loop."""
        self.closing = True
        for task in list(self.runs):
            task.cancel()
        if self.runs:
            await asyncio.wait(list(self.runs), timeout=bound)
        if self.background:
            # A create that answers by its due time gets its prediction cancelled; one that a
            # dead or stalled server holds past it is abandoned rather than stalling the close.
            wait = max(self.background.values()) - asyncio.get_running_loop().time()
            _, pending = await asyncio.wait(
                list(self.background), timeout=min(bound, max(wait, 0.0))
            )
            for task in pending:
                task.cancel()
            if pending:
                logger.info(
                    "closed with %d create(s) still unanswered: their predictions (if any "
                    "started) could not be cancelled",
                    len(pending),
                )
                await asyncio.wait(pending)
        await self.http.aclose()


async def close_resources(resources: LoopResources, bound: float) -> None:
    """Close ``resources`` from whichever loop is running: directly on their own loop, or by
    scheduling the close on theirs while it still runs (a loop that ended took its tasks)."""
    loop = resources.loop()
    if loop is asyncio.get_running_loop():
        await resources.close(bound)
        return
    if loop is None or loop.is_closed() or not loop.is_running():
        return
    try:
        future = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(resources.close(bound), loop))
    except RuntimeError:  # that loop closed meanwhile
        return
    deadline = asyncio.get_running_loop().time() + bound * 2 + 5
    # Wait for it, but not for a loop that stops running before the close is done.
    while not future.done():
        if not loop.is_running() or asyncio.get_running_loop().time() > deadline:
            future.cancel()
            logger.info("could not finish closing the client's pool on another event loop")
            return
        await asyncio.wait({future}, timeout=0.05)
    if not future.cancelled() and future.exception() is not None:
        logger.info(
            "closing the client's pool on another event loop failed: %r", future.exception()
        )


def being_cancelled() -> bool:
    """Whether the running task itself has a cancel pending (3.11+; on 3.10 we cannot tell)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


def open_resources(
    loop: asyncio.AbstractEventLoop,
    transport: httpx.AsyncBaseTransport | None,
    max_concurrency: int,
    timeouts: Timeouts,
) -> LoopResources:
    """A client's pool, slots and rate limiter on ``loop`` (the running one): ``transport``
    when given (the in-process mock, a test's), else proxies from the environment but never
    for loopback or NO_PROXY (network.py)."""
    connections = max(10, max_concurrency * 5)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    if transport is None:
        transport = RoutingTransport(ProxyRoutes(), limits=limits)
    return LoopResources(
        loop=weakref.ref(loop),
        http=httpx.AsyncClient(
            transport=transport,
            trust_env=False,  # RoutingTransport reads the proxy variables itself
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=limits,
            timeout=timeouts.for_read(timeouts.create),
        ),
        slots=asyncio.Semaphore(max_concurrency),
        queries=RateLimiter(),
    )
