"""The mock served over real HTTP by uvicorn in a background thread, for tests and notebooks.

Each ``MockServer`` has its own event loop and its own listening socket (port 0 picks a free
port), so many can run side by side in one test session. ``shared_server()`` is one
process-wide instance for code that wants a URL. ``FluxClient.mock()`` needs no server: it
answers in-process through ``httpx.ASGITransport`` (``transport/in_process.py``).
"""

from __future__ import annotations

import asyncio
import atexit
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .config import MockConfig
from .state import MockState

_START_TIMEOUT = 10.0


class MockServer:
    """A started-on-demand uvicorn server for one mock app.

    Use it as a context manager, or call ``start()`` and ``stop()``. ``url`` (no trailing slash)
    serves both route families; ``FluxClient(base_url=server.url)`` works with either provider,
    since the client adds CometAPI's ``/replicate`` prefix itself.
    """

    def __init__(
        self,
        config: MockConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.access_log = access_log
        self.app: Starlette = create_app(config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

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
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (the real port once started).

        It is the ``base_url`` for ``FluxClient`` and ``FLUX_BASE_URL`` with either provider. Only
        the official ``replicate`` client, which adds no prefix, needs ``f"{url}/replicate"`` to
        reach the CometAPI routes (``url`` itself gives it the Replicate routes).
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> MockServer:
        """Bind, serve in a daemon thread, and return once connections are accepted."""
        with self._lock:
            if self.running:
                return self
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            # proto must say TCP: asyncio only disables Nagle (TCP_NODELAY) on accepted sockets
            # whose proto is IPPROTO_TCP, and with Nagle every keep-alive answer waits ~40 ms.
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.port))
            except OSError:
                sock.close()
                raise
            self.port = sock.getsockname()[1]
            config = uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=self.access_log,
                lifespan="off",
                # Sync waits can hold a create for up to 60 s: do not wait for them on stop.
                timeout_graceful_shutdown=1,
                # Longer than clients keep idle connections pooled: closing one just as a client
                # reuses it makes "Server disconnected" errors under load (uvicorn's default: 5 s).
                timeout_keep_alive=75,
                backlog=2048,
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(
                target=_serve, args=(server, sock), name=f"flux-mock-{self.port}", daemon=True
            )
            self._server, self._thread = server, thread
            thread.start()
            deadline = time.monotonic() + _START_TIMEOUT
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    server.should_exit = True
                    sock.close()
                    raise RuntimeError(f"the mock server on {self.url} did not start")
                time.sleep(0.002)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end (idempotent)."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.should_exit = True
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MockServer(url={self.url!r}, running={self.running})"


def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(server.serve(sockets=[sock]))
    finally:
        sock.close()
        loop.close()


_shared: MockServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> MockServer:
    """The process-wide mock server with default settings, started on first use (thread-safe)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = MockServer().start()
            atexit.register(_shared.stop)
        return _shared
