"""The in-package mock answered in this process: no socket, no thread, no port.

``FluxClient.mock()`` hands its requests to the mock's ASGI app through ``httpx.ASGITransport``,
the ``transport=`` seam httpx tests itself with, so the mock and a real server go through the
same client code. uvicorn (``mock/server.py``) still serves the mock over real HTTP for
``FLUX_BASE_URL``, notebooks under nbval, ``make demo`` and the benchmarks.

The mock's state is a plain object, and each request runs the app on the caller's event loop,
so one mock serves a client used from several loops (the studio's home loop, ``asyncio.run``
in a thread) as the uvicorn one did.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import FluxError

if TYPE_CHECKING:
    from ..mock.config import MockConfig
    from ..mock.state import MockState

MOCK_URL = "http://mock.flux-widgets.invalid"
"""The in-process mock's base URL: ``.invalid`` never resolves, so nothing can reach the
network by mistake, and the name says what answers."""


class InProcessMock:
    """One mock app served in this process; ``transport()`` is what a client sends through.

    It answers as ``MockServer`` does (``url``, ``state``, ``config``, ``start``, ``stop``), so
    code and tests written for a server work with it; there is no server to start or stop.
    Raises ``FluxError`` with the install hint when the ``mock`` extra (starlette) is missing.
    """

    def __init__(self, config: MockConfig | None = None) -> None:
        try:
            from ..mock.app import create_app
        except ImportError as error:  # starlette lives in the [mock] extra
            missing = (error.name or "starlette").partition(".")[0]
            raise FluxError(
                "the mock API needs the mock extra: pip install 'flux-widgets[mock]' "
                f"({missing} is missing)"
            ) from None
        self.app: Any = create_app(config)

    @property
    def url(self) -> str:
        """The base URL the client uses (``MOCK_URL``); output file URLs point here too."""
        return MOCK_URL

    @property
    def state(self) -> MockState:
        """The app's state: predictions, recorded requests, live faults."""
        state: MockState = self.app.state.mock
        return state

    @property
    def config(self) -> MockConfig:
        """The live config (``state.reset(config)`` replaces it)."""
        return self.state.config

    @property
    def running(self) -> bool:
        """Always True: an in-process mock answers whenever a client sends."""
        return True

    def start(self) -> InProcessMock:
        """Nothing to start (``MockServer``'s interface): returns the mock itself."""
        return self

    def stop(self) -> None:
        """Nothing to stop (``MockServer``'s interface): no thread, no socket to release."""

    def transport(self) -> httpx.AsyncBaseTransport:
        """A transport that answers every request with this mock's app."""
        return _TimedASGITransport(app=self.app, raise_app_exceptions=False)

    def __repr__(self) -> str:
        return f"InProcessMock(url={self.url!r})"


class _TimedASGITransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` that honours the request's read timeout, as a socket would:
    a mock answering late (``create_delay``, ``query_delay``, ``file_delay``) then raises
    ``httpx.ReadTimeout``, and the client's timeout rules are exercised as over the wire."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {}).get("read")
        if timeout is None:
            return await super().handle_async_request(request)
        try:
            return await asyncio.wait_for(super().handle_async_request(request), timeout)
        except asyncio.TimeoutError:  # 3.10: not the builtin TimeoutError
            raise httpx.ReadTimeout(
                f"the in-process mock did not answer within {timeout:g} s", request=request
            ) from None


_shared: InProcessMock | None = None
_shared_lock = threading.Lock()


def shared_mock() -> InProcessMock:
    """The process-wide mock with default settings, made on first use (thread-safe)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = InProcessMock()
        return _shared


def in_process_mock(config: MockConfig | None = None) -> InProcessMock:
    """A private mock with ``config``; without one, the process-wide mock."""
    return shared_mock() if config is None else InProcessMock(config)
