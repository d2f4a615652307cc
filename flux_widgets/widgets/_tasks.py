"""Background tasks started from widget callbacks, kept alive and never silently lost.

``asyncio`` holds only weak references to tasks, so a task created in an ``on_click`` handler
can be garbage-collected mid-flight unless someone keeps it; and an exception in a task nobody
awaits vanishes into the log. ``TaskSet`` keeps the reference and hands failures to a callback
that shows them in the widget.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
logger = logging.getLogger("flux_widgets")

NO_LOOP_MESSAGE = (
    "no running asyncio event loop: widgets need a Jupyter kernel (ipykernel 6+); "
    "from plain Python, await the async methods instead"
)


class TaskSet:
    """Tasks started by one widget: referenced until done, failures reported, cancellable.

    Made while a loop runs (a cell), the set remembers that loop as its home: ``spawn`` from
    another thread (JupyterLab 4.4+ with ipykernel 7 may run widget callbacks on a kernel
    subshell, see ``on_home_loop``) hands the coroutine to the home loop, where the client's
    slots and the widgets' locks live, instead of starting it on the caller's loop.
    """

    def __init__(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error
        try:
            self._home: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # made in plain Python: tasks start on whichever loop runs
            self._home = None
        self._home_thread = threading.get_ident()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background on the home loop, from any thread (widget callbacks)."""
        home = self._home
        if (
            home is not None
            and threading.get_ident() != self._home_thread
            and home.is_running()
            and not home.is_closed()
        ):
            home.call_soon_threadsafe(self.start, coro)
            return
        self.start(coro)

    def start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coro`` on the running loop and return its task; call it on that loop's thread
        (the kernel's, inside a cell or a callback ``on_home_loop`` brought home)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()  # never awaited otherwise, which would warn
            raise RuntimeError(NO_LOOP_MESSAGE) from None
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()  # retrieving it also silences "never retrieved"
        if error is None:
            return
        if self._on_error is None:
            logger.error("background task failed", exc_info=error)
            return
        try:
            self._on_error(error)
        except Exception:
            logger.exception("could not report a background error")

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Any:
        return iter(list(self._tasks))

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def wait(self) -> None:
        """Wait until every task (including ones started meanwhile) has finished."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))


def on_home_loop(callback: Callable[..., None]) -> Callable[..., None]:
    """``callback``, always run on the thread and event loop it was made on (a cell's).

    JupyterLab 4.4+ with ipykernel 7 handles widget messages on a kernel *subshell*: a button's
    callback may run in another thread, on another event loop, than the cells. Tasks started
    there would live on that loop (the client's slots are per loop, its locks bind to one) and
    ``Task.cancel`` from another thread is not safe; so the callback is handed back to the
    widget's own loop. Made outside a running loop (plain Python), it is returned unchanged.
    """
    try:
        home = asyncio.get_running_loop()
    except RuntimeError:
        return callback
    home_thread = threading.get_ident()

    def run(*args: Any) -> None:
        if threading.get_ident() == home_thread or home.is_closed() or not home.is_running():
            callback(*args)
        else:
            home.call_soon_threadsafe(callback, *args)

    return run
