"""What the reliability scenarios ask of the mock server and read from its records."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from flux_widgets import FluxClient
from flux_widgets.mock import FaultConfig, MockServer
from flux_widgets.transport.retry import Backoff

CREATE = "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"
QUERY = "/replicate/v1/predictions/"
SMALL: dict[str, Any] = {"megapixels": "0.25"}


def fast_client(server: MockServer, **kwargs: Any) -> FluxClient:
    """A client of ``server`` that polls (no sync wait) and retries fast; the rules stay."""
    kwargs.setdefault("sync_wait", False)
    client = FluxClient(base_url=server.url, **kwargs)
    client._backoff = Backoff(base=0.01, cap=0.05)  # fast retries; the rules stay the same
    return client


def requests_to(server: MockServer, method: str, prefix: str) -> list[Any]:
    return [r for r in server.state.requests if r.method == method and r.path.startswith(prefix)]


def create_requests(server: MockServer) -> list[Any]:
    return requests_to(server, "POST", CREATE)


def query_requests(server: MockServer) -> list[Any]:
    return [r for r in requests_to(server, "GET", QUERY) if not r.path.endswith("/cancel")]


def cancel_requests(server: MockServer) -> list[Any]:
    return [r for r in requests_to(server, "POST", QUERY) if r.path.endswith("/cancel")]


def file_downloads(server: MockServer) -> list[Any]:
    return requests_to(server, "GET", "/files/")


def set_faults(server: MockServer, **faults: Any) -> None:
    server.state.faults = FaultConfig(**faults)


async def when(condition: Callable[[], bool], then: Callable[[], None]) -> None:
    """Run ``then`` as soon as ``condition`` holds (to change faults between two requests)."""
    # The condition is the server thread's state: no event to wait on, so look often.
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    then()


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
