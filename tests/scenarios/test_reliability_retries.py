"""Retries of the real protocol, rehearsed against the mock over loopback HTTP.

A create is paid for: it is retried only where no prediction can have started (429, 503, a
refused connection), never after a read timeout or a 5xx; queries retry network errors,
timeouts, 429 and 5xx. Each test checks one accepted create per generation.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from scenarios.mock_records import (
    SMALL,
    create_requests,
    fast_client,
    free_port,
    query_requests,
    set_faults,
    when,
)

from flux_widgets import (
    AuthenticationError,
    FluxClient,
    FluxConnectionError,
    FluxError,
    InsufficientCreditError,
    InvalidRequestError,
    ProtocolError,
    ServerError,
)
from flux_widgets.mock import FaultConfig, MockConfig, MockServer
from flux_widgets.transport.retry import Backoff
from flux_widgets.transport.sending import Timeouts


async def test_create_retries_429_after_retry_after_and_creates_exactly_once(
    mock_server: MockServer,
) -> None:
    set_faults(mock_server, rate_limit_creates=2, retry_after=0.1)
    async with fast_client(mock_server) as client:
        images = await client.generate("a boat", **SMALL)
    posts = create_requests(mock_server)
    assert len(images) == 1
    assert len(posts) == 3 and mock_server.state.creates == 1
    # Each 429 said "Retry-After: 0.1": the client waited at least that before each retry.
    assert posts[1].time - posts[0].time >= 0.1 and posts[2].time - posts[1].time >= 0.1


async def test_create_retries_503_where_no_prediction_started(mock_server: MockServer) -> None:
    set_faults(mock_server, create_unavailable=2)
    async with fast_client(mock_server) as client:
        images = await client.generate("a boat", **SMALL)
    assert len(images) == 1
    assert len(create_requests(mock_server)) == 3 and mock_server.state.creates == 1


async def test_create_500_invalid_request_is_not_retried(mock_server: MockServer) -> None:
    set_faults(mock_server, create_errors=3)
    async with fast_client(mock_server) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.generate("a boat", **SMALL)
    assert caught.value.status_code == 500 and "invalid request" in str(caught.value)
    assert len(create_requests(mock_server)) == 1 and mock_server.state.creates == 0


async def test_create_502_html_page_is_not_retried_and_says_html(mock_server: MockServer) -> None:
    # A 502 may come after the prediction started: a second create could be paid twice.
    set_faults(mock_server, html_errors=True)
    async with fast_client(mock_server) as client:
        with pytest.raises(ServerError, match="HTML page") as caught:
            await client.generate("a boat", **SMALL)
    assert caught.value.status_code == 502
    assert len(create_requests(mock_server)) == 1


@pytest.mark.parametrize(
    ("setup", "error_type", "status"),
    [
        ({"faults": FaultConfig(insufficient_credit=True)}, InsufficientCreditError, 402),
        ({"api_key": "sk-the-right-key"}, AuthenticationError, 401),
    ],
)
async def test_create_4xx_is_never_retried(
    setup: dict[str, Any], error_type: type[FluxError], status: int
) -> None:
    with MockServer(MockConfig(generation_time=0.05, **setup)) as server:
        async with fast_client(server, api_key="sk-some-other-key") as client:
            with pytest.raises(error_type) as caught:
                await client.generate("a boat", **SMALL)
        assert len(create_requests(server)) == 1 and server.state.creates == 0
    assert getattr(caught.value, "status_code", None) == status


async def test_create_read_timeout_never_sends_a_second_create(mock_server: MockServer) -> None:
    set_faults(mock_server, create_delay=1.0)
    client = fast_client(mock_server)
    client._timeouts = Timeouts(create=0.2)
    began = time.monotonic()
    async with client:
        with pytest.raises(FluxConnectionError, match="not sent again") as caught:
            await client.generate("a boat", **SMALL)
    assert time.monotonic() - began < 0.9
    assert "paid twice" in str(caught.value) and mock_server.url in str(caught.value)
    assert len(create_requests(mock_server)) == 1 and mock_server.state.creates == 1


class _CountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return await super().handle_async_request(request)


async def test_connection_refused_is_retried_then_names_the_base_url_not_the_key() -> None:
    key = "sk-refused-secret-4242"
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    transport = _CountingTransport()
    client = FluxClient(api_key=key, base_url=url, max_retries=3, transport=transport)
    client._backoff = Backoff(base=0.01, cap=0.05)
    async with client:
        with pytest.raises(FluxConnectionError) as caught:
            await client.generate("a boat")
    assert transport.attempts == 4  # connection refused: nothing was sent, so safe to retry
    assert url in str(caught.value)
    assert key not in str(caught.value) and key not in repr(caught.value)
    # In words, naming what a person can change (the studio has no base_url field).
    assert "(the connection failed); check your connection and the API address" in str(caught.value)
    assert "FLUX_BASE_URL" in str(caught.value) and "ConnectError" not in str(caught.value)


async def test_queries_retry_500_502_503_and_succeed(mock_server: MockServer) -> None:
    set_faults(mock_server, query_errors=3)
    async with fast_client(mock_server) as client:
        images = await client.generate("a boat", **SMALL)
    assert len(images) == 1
    assert len(query_requests(mock_server)) >= 4 and mock_server.state.creates == 1


async def test_query_read_timeout_is_retried_and_recovers(mock_server: MockServer) -> None:
    set_faults(mock_server, query_delay=1.0)
    client = fast_client(mock_server)
    client._timeouts = Timeouts(query=0.2)
    async with client:
        # The server recovers once the first (slow) query arrived.
        recover = asyncio.create_task(
            when(lambda: bool(query_requests(mock_server)), lambda: set_faults(mock_server))
        )
        images = await client.generate("a boat", **SMALL)
        await recover
    assert len(images) == 1 and len(query_requests(mock_server)) >= 2


async def test_queries_that_keep_timing_out_end_in_a_connection_error(
    mock_server: MockServer,
) -> None:
    set_faults(mock_server, query_delay=1.0)
    client = fast_client(mock_server, max_retries=2)
    client._timeouts = Timeouts(query=0.1)
    async with client:
        with pytest.raises(FluxConnectionError, match="did not answer in time") as caught:
            await client.generate("a boat", **SMALL)
    assert "(no answer in time)" in str(caught.value) and "ReadTimeout" not in str(caught.value)
    assert len(query_requests(mock_server)) == 3
    assert caught.value.prediction_id == next(iter(mock_server.state.predictions))


@pytest.mark.parametrize(
    ("fault", "error_type", "message", "queries"),
    [
        # A redirect is neither followed nor retried.
        ("redirect_queries", ProtocolError, "302 redirecting to /mock/elsewhere", 1),
        # An HTML page (a 502 from a proxy) is retried, then reported as HTML.
        ("html_errors", ServerError, "HTML page instead of JSON", 3),
    ],
)
async def test_query_redirects_and_html_pages_end_in_typed_errors(
    mock_server: MockServer, fault: str, error_type: type[FluxError], message: str, queries: int
) -> None:
    async with fast_client(mock_server, max_retries=2) as client:
        watch = asyncio.create_task(
            when(
                lambda: mock_server.state.creates == 1,
                lambda: set_faults(mock_server, **{fault: True}),
            )
        )
        with pytest.raises(error_type, match=message):
            await client.generate("a boat", **SMALL)
        await watch
    assert len(query_requests(mock_server)) == queries
