"""How generations end under the real protocol's faults, rehearsed against the mock over loopback
HTTP: the deadline and cancellation (a missing cancel route tolerated), every final status as
a typed error, and faults switched on over HTTP and from the command line.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from scenarios.mock_records import (
    CREATE,
    SMALL,
    cancel_requests,
    fast_client,
    file_downloads,
    free_port,
    query_requests,
    set_faults,
    when,
)

from flux_widgets import (
    ContentFilteredError,
    FluxClient,
    FluxError,
    FluxTimeoutError,
    PredictionAbortedError,
    PredictionCanceledError,
    PredictionFailedError,
)
from flux_widgets.mock import MockServer
from flux_widgets.mock.faults import GENERIC_ERROR, NSFW_ERROR
from flux_widgets.transport.retry import Backoff


async def test_deadline_cancels_and_tolerates_a_missing_cancel_route(
    mock_server: MockServer,
) -> None:
    set_faults(mock_server, cancel_missing=True)
    began = time.monotonic()
    async with fast_client(mock_server, timeout=0.5) as client:
        with pytest.raises(FluxTimeoutError, match=r"0\.5 s deadline") as caught:
            await client.generate("[mock:stuck] a boat", **SMALL)
    assert 0.5 <= time.monotonic() - began < 1.5
    assert len(cancel_requests(mock_server)) == 1
    assert caught.value.prediction_id in mock_server.state.predictions


async def test_cancelling_the_task_with_a_missing_cancel_route_still_cancels(
    mock_server: MockServer,
) -> None:
    set_faults(mock_server, cancel_missing=True)
    statuses: list[str] = []
    async with fast_client(mock_server) as client:
        task = asyncio.create_task(
            client.generate("[mock:stuck] a boat", on_status=statuses.append)
        )
        await when(lambda: "processing" in statuses, lambda: None)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(cancel_requests(mock_server)) == 1 and statuses[-1] == "canceled"


async def test_slow_queries_cannot_outlast_the_deadline(mock_server: MockServer) -> None:
    set_faults(mock_server, query_delay=5.0)
    began = time.monotonic()
    async with fast_client(mock_server, timeout=0.6) as client:
        with pytest.raises(FluxTimeoutError):
            await client.generate("a boat", **SMALL)
    assert time.monotonic() - began < 1.6
    assert len(cancel_requests(mock_server)) == 1


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A TCP server that accepts connections and reads requests but never answers."""
    readers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        readers.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in readers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_never_answers_ends_at_the_deadline(silent_server: str) -> None:
    began = time.monotonic()
    async with FluxClient(base_url=silent_server, timeout=0.5) as client:
        with pytest.raises(FluxTimeoutError, match="no images within") as caught:
            await client.generate("a boat")
        assert time.monotonic() - began < 1.5
    # aclose() gives the unanswered create until its hold (1 s) plus a grace (2 s) to answer,
    # so that the prediction it may have started can be cancelled, and no longer.
    assert time.monotonic() - began < 5.0
    assert caught.value.prediction_id is None  # never created, so nothing to cancel


async def test_a_stalled_download_ends_at_the_deadline_naming_the_files(
    mock_server: MockServer,
) -> None:
    set_faults(mock_server, file_delay=5.0)
    began = time.monotonic()
    async with fast_client(mock_server, timeout=1.0) as client:
        with pytest.raises(FluxTimeoutError, match="while downloading") as caught:
            await client.generate("a boat", num_outputs=2, **SMALL)
    assert time.monotonic() - began < 2.0
    (prediction_id,) = mock_server.state.predictions
    assert caught.value.prediction_id == prediction_id
    assert len(caught.value.urls) == 2 and all(prediction_id in u for u in caught.value.urls)
    assert caught.value.images == []
    assert cancel_requests(mock_server) == []  # it succeeded: nothing to cancel


@pytest.mark.parametrize(
    ("directive", "error_type", "provider_message"),
    [
        ("[mock:fail]", PredictionFailedError, GENERIC_ERROR),
        ("[mock:nsfw]", ContentFilteredError, NSFW_ERROR),
        ("[mock:cancel]", PredictionCanceledError, None),
        ("[mock:abort]", PredictionAbortedError, None),
    ],
)
async def test_every_final_status_without_images_is_a_typed_error(
    mock_server: MockServer,
    directive: str,
    error_type: type[FluxError],
    provider_message: str | None,
) -> None:
    async with fast_client(mock_server) as client:
        with pytest.raises(error_type) as caught:
            await client.generate(f"{directive} a boat", **SMALL)
    assert type(caught.value) is error_type
    assert caught.value.prediction_id in mock_server.state.predictions
    if provider_message is not None:
        assert isinstance(caught.value, PredictionFailedError)
        assert caught.value.provider_message == provider_message
        assert provider_message in str(caught.value)
    assert file_downloads(mock_server) == []


async def test_unknown_status_is_pending_until_it_succeeds(mock_server: MockServer) -> None:
    async with fast_client(mock_server) as client:
        images = await client.generate("[mock:unknown-status][mock:slow=0.3] a boat", **SMALL)
    assert len(images) == 1 and len(query_requests(mock_server)) >= 1


async def test_unknown_status_is_pending_until_the_deadline(mock_server: MockServer) -> None:
    async with fast_client(mock_server, timeout=0.5) as client:
        with pytest.raises(FluxTimeoutError):
            await client.generate("[mock:unknown-status][mock:slow=30] a boat", **SMALL)
    assert len(cancel_requests(mock_server)) == 1


async def test_faults_can_be_switched_over_http(mock_server: MockServer) -> None:
    async with httpx.AsyncClient(base_url=mock_server.url) as http:
        answer = await http.put(
            "/mock/faults", json={"cancel_missing": True, "create_delay": 0.2, "expired_files": 1}
        )
    assert answer.status_code == 200 and answer.json()["create_delay"] == 0.2
    async with fast_client(mock_server, timeout=0.6) as client:
        with pytest.raises(FluxTimeoutError):
            await client.generate("[mock:stuck] a boat", **SMALL)
    assert len(cancel_requests(mock_server)) == 1 and mock_server.state.faults.expired_files == 1


@pytest.mark.slow
async def test_command_line_fault_flags_reach_the_client() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "flux_widgets.mock", "--port", str(port)]
    command += ["--generation-time", "0.05", "--create-unavailable", "1", "--cancel-missing"]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if (await http.get("/mock/health")).status_code == 200:
                        break
                except httpx.ConnectError:
                    pass
                assert process.returncode is None and time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert (await http.get("/mock/faults")).json()["cancel_missing"] is True
            client = FluxClient(base_url=url, sync_wait=False, timeout=0.6)
            client._backoff = Backoff(base=0.01, cap=0.05)
            async with client:
                with pytest.raises(FluxTimeoutError):
                    await client.generate("[mock:stuck] a boat", **SMALL)
            requests = (await http.get("/mock/requests")).json()
            health = (await http.get("/mock/health")).json()
    finally:
        process.terminate()
        await asyncio.wait_for(process.communicate(), 10)
    posts = [r["path"] for r in requests if r["method"] == "POST"]
    assert posts.count(CREATE) == 2 and health["creates"] == 1  # the 503 was retried once
    assert len([p for p in posts if p.endswith("/cancel")]) == 1  # sent, answered 404
