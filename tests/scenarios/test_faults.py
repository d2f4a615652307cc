"""Faults users of neighbouring tools hit (issue #9): proxies, lost cancels, closed clients,
implausible server values. Each test feeds the reported input and checks the right outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import logging
import socket
import string
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from flux_widgets import (
    AuthenticationError,
    BatchResult,
    ClientClosedError,
    DownloadError,
    FluxClient,
    FluxConnectionError,
    FluxTimeoutError,
    ImageDecodeError,
    OutputExpiredError,
    ProtocolError,
    RateLimitError,
)
from flux_widgets.mock import FaultConfig, MockConfig, MockServer
from flux_widgets.mock.app import S3_EXPIRED
from flux_widgets.providers import parse_prediction
from flux_widgets.transport.auth import BearerAuth
from flux_widgets.transport.downloads import read_output
from flux_widgets.transport.http_errors import error_from_response
from flux_widgets.transport.in_process import MOCK_URL, shared_mock
from flux_widgets.transport.network import ProxyRoutes, is_loopback, proxy_label
from flux_widgets.transport.polling import DurationEstimate
from flux_widgets.transport.redaction import SLICE
from flux_widgets.transport.retry import Backoff
from flux_widgets.transport.sending import Timeouts

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets exactly the proxy variables it is about."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cancels(server: MockServer) -> list[str]:
    """Ids of the predictions the mock was asked to cancel, in order."""
    return [
        r.path.rsplit("/", 2)[-2]
        for r in server.state.requests
        if r.method == "POST" and r.path.endswith("/cancel")
    ]


def _creates(server: MockServer) -> int:
    return sum(
        1 for r in server.state.requests if r.method == "POST" and r.path.endswith("/predictions")
    )


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until the mock (another thread) reaches ``condition``; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


# --- 1. proxies and loopback ---------------------------------------------------------------


async def test_a_dead_http_proxy_in_the_environment_does_not_stop_the_mock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The input: nothing listens on port 9.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    async with FluxClient.mock() as client:
        images = await client.generate("x")
    assert len(images) == 1 and images[0].data[:4] == b"RIFF"  # a WebP from the mock


async def test_every_loopback_spelling_is_reached_directly(
    monkeypatch: pytest.MonkeyPatch, mock_server: MockServer
) -> None:
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{_free_port()}")
    url = mock_server.url.replace("127.0.0.1", "localhost")
    async with FluxClient(base_url=url, sync_wait=False) as client:
        images = await client.generate("a boat", megapixels="0.25")
    assert len(images) == 1


async def test_a_dead_proxy_is_named_without_its_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _free_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://proxyuser:proxypass@127.0.0.1:{port}")
    # A non-loopback host that is never resolved: the proxy is asked for it, and is dead.
    client = FluxClient(base_url="http://flux-api.example", sync_wait=False, timeout=10)
    client._backoff = Backoff(base=0.01, cap=0.02)
    async with client:
        with pytest.raises(FluxConnectionError) as caught:
            await client.generate("a boat")
    message = str(caught.value)
    assert f"through the proxy http://127.0.0.1:{port}" in message
    assert "http://flux-api.example" in message
    assert "proxyuser" not in message and "proxypass" not in message


async def test_a_proxy_that_never_answers_is_named_in_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    proxy = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    client = FluxClient(base_url="http://flux-api.example", sync_wait=False, timeout=10)
    client._timeouts = Timeouts(create=0.3)
    try:
        async with client:
            with pytest.raises(FluxConnectionError) as caught:
                await client.generate("a boat")
    finally:
        for writer in held:
            writer.close()
        proxy.close()
        await proxy.wait_closed()
    message = str(caught.value)
    assert f"(through the proxy http://127.0.0.1:{port} set in the environment)" in message
    assert "did not answer the create request within 0.3 s" in message


@pytest.mark.parametrize(
    ("url", "environ", "proxy"),
    [
        ("http://127.0.0.1:8000/x", {"HTTP_PROXY": "http://p:1"}, None),
        ("http://127.8.9.10/x", {"ALL_PROXY": "http://p:1"}, None),
        ("http://[::1]:8000/x", {"HTTP_PROXY": "http://p:1"}, None),
        ("http://localhost/x", {"HTTP_PROXY": "http://p:1"}, None),
        ("http://api.example/x", {"HTTP_PROXY": "http://p:1"}, "http://p:1"),
        ("https://api.example/x", {"HTTP_PROXY": "http://p:1"}, None),
        ("https://api.example/x", {"ALL_PROXY": "p:3128"}, "http://p:3128"),
        (
            "https://api.example/x",
            {"HTTPS_PROXY": "http://s:2", "ALL_PROXY": "http://a:1"},
            "http://s:2",
        ),
        (
            "http://api.example/x",
            {"HTTP_PROXY": "http://up:1", "http_proxy": "http://low:1"},
            "http://low:1",
        ),
        ("http://api.example/x", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "example"}, None),
        ("http://api.example/x", {"HTTP_PROXY": "http://p:1", "NO_PROXY": ".example"}, None),
        (
            "http://api.example/x",
            {"HTTP_PROXY": "http://p:1", "NO_PROXY": "pi.example"},
            "http://p:1",
        ),
        ("http://api.example/x", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "a, *"}, None),
        ("http://10.1.2.3/x", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, None),
        ("http://11.1.2.3/x", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, "http://p:1"),
        (
            "http://h.example:81/",
            {"HTTP_PROXY": "http://p:1", "NO_PROXY": "h.example:80"},
            "http://p:1",
        ),
        ("http://h.example:80/", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "h.example:80"}, None),
    ],
)
def test_proxy_routes_follow_no_proxy_and_never_proxy_loopback(
    url: str, environ: dict[str, str], proxy: str | None
) -> None:
    assert ProxyRoutes(environ).proxy_for(httpx.URL(url)) == proxy


def test_loopback_and_proxy_labels() -> None:
    loopbacks = ["127.0.0.1", "127.255.0.9", "::1", "[::1]", "LOCALHOST", "::ffff:127.0.0.1"]
    assert all(map(is_loopback, loopbacks))
    assert not any(map(is_loopback, ["10.0.0.1", "example.com", "::2", "localhost.example"]))
    assert proxy_label("http://u:secret@proxy.corp:3128/path") == "http://proxy.corp:3128"
    assert proxy_label("https://proxy.corp") == "https://proxy.corp:443"


# --- 6. cancel before the prediction id is known -------------------------------------------


async def test_cancel_during_a_replicate_sync_hold_cancels_the_prediction(
    mock_server: MockServer,
) -> None:
    # The input: provider="replicate", "[mock:stuck] x", cancel the task after 1 s.
    # The mock holds the create (Prefer: wait), so no prediction id is known yet at the cancel.
    async with FluxClient(base_url=mock_server.url, provider="replicate") as client:
        task = asyncio.create_task(client.generate("[mock:stuck] x"))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _creates(mock_server) == 1 and _cancels(mock_server) == []  # still held
        # Without aclose: the client's background task cancels it once the create answers.
        await _until(lambda: len(_cancels(mock_server)) == 1)
    (prediction_id,) = mock_server.state.predictions
    assert _cancels(mock_server) == [prediction_id]
    assert mock_server.state.predictions[prediction_id].status(mock_server.state.now()) == (
        "canceled"
    )


async def test_cancel_during_a_late_cometapi_create_cancels_once_it_answers(
    mock_server: MockServer,
) -> None:
    mock_server.state.faults = FaultConfig(create_delay=1.5)
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    task = asyncio.create_task(client.generate("[mock:stuck] a boat"))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _cancels(mock_server) == []  # the create has not answered yet
    await _until(lambda: len(_cancels(mock_server)) == 1)
    assert list(mock_server.state.predictions) == _cancels(mock_server)
    await client.aclose()


async def test_the_deadline_during_a_late_create_still_cancels_the_prediction(
    mock_server: MockServer,
) -> None:
    mock_server.state.faults = FaultConfig(create_delay=1.5)
    async with FluxClient(base_url=mock_server.url, sync_wait=False, timeout=0.5) as client:
        with pytest.raises(FluxTimeoutError):
            await client.generate("[mock:stuck] a boat")
        await _until(lambda: len(_cancels(mock_server)) == 1)
    assert _cancels(mock_server) == list(mock_server.state.predictions)


async def test_cancelling_a_generate_many_consumer_cancels_every_open_create(
    mock_server: MockServer,
) -> None:
    mock_server.state.faults = FaultConfig(create_delay=1.0)
    results: list[BatchResult] = []

    async def consume(client: FluxClient) -> None:
        async for result in client.generate_many([f"[mock:stuck] {i}" for i in range(3)]):
            results.append(result)

    async with FluxClient(base_url=mock_server.url, sync_wait=False) as client:
        task = asyncio.create_task(consume(client))
        await _until(lambda: _creates(mock_server) == 3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _until(lambda: len(_cancels(mock_server)) == 3)
    assert results == []
    assert sorted(_cancels(mock_server)) == sorted(mock_server.state.predictions)
    assert len(_cancels(mock_server)) == 3


async def test_breaking_out_of_generate_many_cancels_the_rest(mock_server: MockServer) -> None:
    async with FluxClient(base_url=mock_server.url, sync_wait=False) as client:
        prompts = ["a boat", "[mock:stuck] b", "[mock:stuck] c"]
        async with contextlib.aclosing(client.generate_many(prompts)) as results:
            async for result in results:
                assert result.ok and result.index == 0
                break
    stuck = {p.id for p in mock_server.state.predictions.values() if "stuck" in p.input["prompt"]}
    assert set(_cancels(mock_server)) == stuck and len(stuck) == 2


# --- 7. the client lifecycle ---------------------------------------------------------------


async def test_aclose_in_flight_cancels_each_prediction_then_raises_client_closed(
    mock_server: MockServer,
) -> None:
    statuses: list[str] = []
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    tasks = [
        asyncio.create_task(client.generate(f"[mock:stuck] {i}", on_status=statuses.append))
        for i in range(3)
    ]
    await _until(lambda: statuses.count("processing") == 3)
    await client.aclose()
    assert client.is_closed
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, ClientClosedError) for o in outcomes), outcomes
    ids = {o.prediction_id for o in outcomes if isinstance(o, ClientClosedError)}
    assert ids == set(mock_server.state.predictions) == set(_cancels(mock_server))
    assert all("cancelled" in str(o) for o in outcomes)


async def test_aclose_during_a_create_cancels_it_once_created(mock_server: MockServer) -> None:
    # aclose() gives an open create until 2 s after it was sent; this one answers in 0.5 s.
    mock_server.state.faults = FaultConfig(create_delay=0.5)
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    task = asyncio.create_task(client.generate("[mock:stuck] a boat"))
    await _until(lambda: _creates(mock_server) == 1)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await task
    assert _cancels(mock_server) == list(mock_server.state.predictions)


async def test_generate_during_aclose_is_refused_and_a_closed_client_reopens(
    mock_server: MockServer,
) -> None:
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    stuck = asyncio.create_task(client.generate("[mock:stuck] a"))
    await _until(lambda: len(mock_server.state.predictions) == 1)
    closing = asyncio.create_task(client.aclose())
    await asyncio.sleep(0)  # aclose() has started
    with pytest.raises(ClientClosedError, match="closing"):
        await client.generate("b")
    await closing
    with pytest.raises(ClientClosedError):
        await stuck
    # Documented: the next use reopens the client.
    assert client.is_closed
    images = await client.generate("c", megapixels="0.25")
    assert len(images) == 1 and not client.is_closed
    await client.aclose()


@pytest.mark.parametrize("close_after", [0.0, 0.002, 0.02, 0.06, 0.15])
async def test_closing_at_any_moment_ends_each_generation_in_images_or_a_flux_error(
    mock_server: MockServer, close_after: float
) -> None:
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    tasks = [
        asyncio.create_task(client.generate(f"p{i}", megapixels="0.25", num_outputs=2))
        for i in range(4)
    ]
    await asyncio.sleep(close_after)
    await client.aclose()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        assert isinstance(outcome, list | ClientClosedError), repr(outcome)
    # Whatever was cut short was cancelled on the server, unless it had already succeeded.
    now = mock_server.state.now()
    ended = {p.id: p.status(now) for p in mock_server.state.predictions.values()}
    for outcome in outcomes:
        if isinstance(outcome, ClientClosedError) and outcome.prediction_id:
            status = ended[outcome.prediction_id]
            assert status in ("canceled", "succeeded")
            if status == "succeeded":  # paid for: nothing dropped, fetched or listed
                assert len(outcome.images) + len(outcome.urls) == 2, outcome


async def test_a_mock_client_runs_in_process_and_reopens_after_aclose() -> None:
    # FluxClient.mock() answers through httpx.ASGITransport: no server thread, no socket, so
    # nothing to stop on aclose(); a private mock keeps its state, the shared one is the
    # process's.
    before = set(threading.enumerate())
    client = FluxClient.mock(config=MockConfig(generation_time=0.05), sync_wait=False)
    mock = client._mock_server
    assert len(await client.generate("a", megapixels="0.25")) == 1
    await client.aclose()
    assert client.is_closed
    # Reopened by the next use, on the same mock.
    assert len(await client.generate("a again", megapixels="0.25")) == 1
    assert client._mock_server is mock and mock.state.creates == 2
    await client.aclose()
    # MockServer's thread is named after its port (mock/server.py); render workers may start.
    started = {t.name for t in set(threading.enumerate()) - before}
    assert not [name for name in started if name.removeprefix("flux-mock-").isdigit()]
    async with FluxClient.mock(sync_wait=False) as shared:
        await shared.generate("b", megapixels="0.25")
    assert shared._mock_server is shared_mock() and mock is not shared_mock()
    assert shared.is_mock and shared.base_url == MOCK_URL


def test_a_mock_client_serves_generations_on_several_event_loops() -> None:
    # The mock's state is a plain object and each request runs the app on the caller's loop:
    # asyncio.run twice, a thread's loop, and a close from another loop all work as over HTTP.
    client = FluxClient.mock(config=MockConfig(generation_time=0.05), sync_wait=False)
    mock = client._mock_server

    async def generate(prompt: str) -> int:
        return len(await client.generate(prompt, megapixels="0.25"))

    assert asyncio.run(generate("a")) == asyncio.run(generate("b")) == 1
    in_thread: list[int] = []
    thread = threading.Thread(target=lambda: in_thread.append(asyncio.run(generate("c"))))
    thread.start()
    thread.join()
    assert in_thread == [1] and mock.state.creates == 3
    asyncio.run(client.aclose())


async def test_aclose_ends_generations_running_on_another_event_loop(
    mock_server: MockServer,
) -> None:
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    loop = asyncio.new_event_loop()
    outcome: list[BaseException] = []
    started = asyncio.Event()
    main_loop = asyncio.get_running_loop()

    async def generate_there() -> None:
        task = asyncio.ensure_future(client.generate("[mock:stuck] far"))
        await asyncio.sleep(0.3)
        main_loop.call_soon_threadsafe(started.set)
        try:
            await task
        except BaseException as error:
            outcome.append(error)

    thread = asyncio.to_thread(loop.run_until_complete, generate_there())
    running = asyncio.ensure_future(thread)
    await started.wait()
    await client.aclose()
    await running
    loop.close()
    assert len(outcome) == 1 and isinstance(outcome[0], ClientClosedError)
    assert _cancels(mock_server) == list(mock_server.state.predictions)


# --- 8. server values never push the client past its own bounds ----------------------------


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, "PNG")
    return buffer.getvalue()


class _FakeAPI:
    """An httpx MockTransport handler that answers what a test scripts, and logs requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, str, str]] = []
        self.creates: list[Callable[[], httpx.Response]] = []
        self.queries: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((time.monotonic(), request.method, request.url.path))
        if request.url.path.startswith("/files/"):
            return httpx.Response(200, content=_png(), headers={"content-type": "image/png"})
        if request.method == "POST" and request.url.path.endswith("/predictions"):
            return self.creates.pop(0)()
        if request.method == "GET":
            return httpx.Response(200, json=self.queries.pop(0))
        return httpx.Response(200, json={"id": "p", "status": "canceled"})


def _prediction(status: str, **extra: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc)
    body: dict[str, Any] = {
        "id": f"p{time.monotonic_ns()}",
        "status": status,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "output": None,
        "logs": "",
        "metrics": {},
    }
    if status == "succeeded":
        body["output"] = ["http://files.example/files/a/out-0.png"]
        body["completed_at"] = (now + dt.timedelta(seconds=0.3)).isoformat()
        body["metrics"] = {"predict_time": 0.2}
    body.update(extra)
    return body


def _fake_client(api: _FakeAPI, **kwargs: Any) -> FluxClient:
    client = FluxClient(
        base_url="http://api.example",
        sync_wait=False,
        transport=httpx.MockTransport(api),
        **kwargs,
    )
    client._backoff = Backoff(base=0.01, cap=0.02)
    return client


async def test_absurd_server_durations_do_not_teach_the_poll_schedule_to_oversleep() -> None:
    api = _FakeAPI()
    year = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)).isoformat()
    absurd = _prediction(
        "succeeded",
        completed_at=year,
        metrics={"predict_time": 3.2e7},
        output=[f"http://files.example/files/a/out-{i}.png" for i in range(40)],  # 1 asked
    )
    api.creates.append(lambda: httpx.Response(201, json=absurd))
    async with _fake_client(api) as client:
        images = await client.generate("a boat", output_format="png")
        assert len(images) == 1 and images[0].predict_time is None
        assert sum(1 for _, _, path in api.requests if path.startswith("/files/")) == 1
        assert client._estimate.seconds <= 0.8  # the prior, untouched by a year-long claim
        # The next generation: created "starting", done at the first query, which the
        # schedule sends at the prior estimate (0.8 s), not a year later.
        api.creates.append(lambda: httpx.Response(201, json=_prediction("starting")))
        api.queries.append(_prediction("succeeded"))
        await client.generate("a boat", output_format="png")
    create_at, query_at = (t for t, method, path in api.requests[-3:-1])
    assert [m for _, m, _ in api.requests[-3:]] == ["POST", "GET", "GET"]
    assert query_at - create_at < 2.0


def test_one_slow_generation_moves_the_estimate_a_bounded_step() -> None:
    estimate = DurationEstimate()
    estimate.observe(0.8)
    estimate.observe(3600.0)  # one generation that claims (or took) an hour
    assert estimate.seconds <= 0.8 + 0.3 * 3.2  # at most max_step times the estimate counts
    for _ in range(3):
        estimate.observe(0.8)
    assert estimate.seconds < 1.2
    estimate.observe(float("nan"))
    estimate.observe(float("inf"))
    assert estimate.observations == 5


async def test_a_long_retry_after_is_reported_at_once_and_the_next_generation_runs_normally() -> (
    None
):
    api = _FakeAPI()
    throttled = httpx.Response(
        429, json={"detail": "Request was throttled."}, headers={"Retry-After": "86400"}
    )
    api.creates.append(lambda: throttled)
    async with _fake_client(api, timeout=20) as client:
        began = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            await client.generate("a boat", output_format="png")
        # Capped at 60 s, and past the 20 s deadline: reported, not slept.
        assert caught.value.retry_after == 60.0
        assert time.monotonic() - began < 5.0
        api.creates.append(lambda: httpx.Response(201, json=_prediction("succeeded")))
        images = await client.generate("a boat", output_format="png")
    assert len(images) == 1
    assert [m for _, m, _ in api.requests] == ["POST", "POST", "GET"]


async def test_server_values_in_json_that_are_not_numbers_are_ignored() -> None:
    api = _FakeAPI()
    weird = _prediction(
        "succeeded", created_at="2999-01-01T00:00:00Z", metrics={"predict_time": -5}
    )
    api.creates.append(lambda: httpx.Response(201, content=json.dumps(weird).encode()))
    async with _fake_client(api) as client:
        images = await client.generate("a boat", output_format="png")
    assert len(images) == 1 and images[0].predict_time is None
    assert client._estimate.observations == 0


async def test_the_studio_cancel_during_an_open_create_cancels_the_prediction(
    tmp_path: Path,
) -> None:
    from flux_widgets import PredictionCanceledError, PromptStudio

    config = MockConfig(generation_time=0.05, faults=FaultConfig(create_delay=1.0))
    client = FluxClient.mock(config=config, sync_wait=False)
    server = client._mock_server
    studio = PromptStudio(client, history_dir=tmp_path)
    studio.prompt = "[mock:stuck] a boat"
    waiting = asyncio.create_task(studio.generate())
    await _until(lambda: _creates(server) == 1)
    [row] = studio.jobs
    row.cancel_button.click()
    with pytest.raises(PredictionCanceledError):
        await waiting
    assert row.state == "cancelled" and _cancels(server) == []  # the create is still open
    await _until(lambda: len(_cancels(server)) == 1)
    assert _cancels(server) == list(server.state.predictions)
    await client.aclose()


# --- 2. redirects on output files ----------------------------------------------------------

KEY = "sk-faults-test-key-0123456789abcdefXYZ"


def _files_requested(server: MockServer) -> list[Any]:
    return [r for r in server.state.requests if r.path.startswith("/files/")]


async def test_an_output_url_answering_302_is_followed_without_the_key() -> None:
    # The input: the output URL answers 302 Location: <the real file URL>. The mock
    # serves files on the API's own origin, so the hop points at the API's host: still no key.
    config = MockConfig(generation_time=0.05, api_key=KEY, faults=FaultConfig(file_redirects=1))
    with MockServer(config) as server:
        async with FluxClient(api_key=KEY, base_url=server.url, sync_wait=False) as client:
            images = await client.generate("a boat", megapixels="0.25", num_outputs=2)
        files = _files_requested(server)
    assert len(images) == 2 and all(image.data[:4] == b"RIFF" for image in images)
    assert sorted(r.path for r in files) == sorted(
        [f"/files/{images[0].prediction_id}/out-{i}.webp" for i in (0, 0, 1, 1)]
    )
    assert not any(r.has_authorization for r in files)
    api = [r for r in server.state.requests if not r.path.startswith("/files/")]
    assert api and all(r.auth_scheme == "Bearer" for r in api)


async def test_more_than_five_redirects_are_refused(mock_server: MockServer) -> None:
    mock_server.state.faults = FaultConfig(file_redirects=6)
    async with FluxClient(base_url=mock_server.url, sync_wait=False) as client:
        with pytest.raises(DownloadError, match="redirected more than 5 times") as caught:
            await client.generate("a boat", megapixels="0.25")
    assert len(_files_requested(mock_server)) == 6  # the URL and five hops, no retry
    assert caught.value.prediction_id in mock_server.state.predictions


@pytest.mark.parametrize("location", ["ftp://files.example/out-0.png", "javascript:alert(1)", ""])
async def test_a_redirect_that_leaves_http_is_refused(location: str) -> None:
    api = _FakeAPI()
    api.creates.append(lambda: httpx.Response(201, json=_prediction("succeeded")))
    files: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/files/"):
            files.append(str(request.url))
            return httpx.Response(302, headers={"location": location} if location else {})
        return api(request)

    client = FluxClient(
        base_url="http://api.example", sync_wait=False, transport=httpx.MockTransport(handler)
    )
    async with client:
        with pytest.raises(DownloadError, match=r"not an http\(s\) URL; refused"):
            await client.generate("a boat", output_format="png")
    assert len(files) == 1


# --- 3. file-host status codes -------------------------------------------------------------


async def test_a_403_expired_signature_is_output_expired_described_as_xml(
    mock_server: MockServer,
) -> None:
    # The input: 403 with <Error><Code>AccessDenied</Code><Message>Request has expired.
    mock_server.state.faults = FaultConfig(expired_signatures=1)
    async with FluxClient(base_url=mock_server.url, sync_wait=False) as client:
        with pytest.raises(OutputExpiredError) as caught:
            await client.generate("a boat", megapixels="0.25", num_outputs=2)
    message = str(caught.value)
    assert "403: an XML error (AccessDenied: Request has expired)" in message
    assert "HTML" not in message and "key" not in message
    assert len(caught.value.images) == 1 and len(caught.value.urls) == 1  # the other is kept
    assert not isinstance(caught.value, AuthenticationError)


@pytest.mark.parametrize("status", [401, 403, 404, 410])
async def test_file_host_refusals_mean_the_output_is_gone_not_a_bad_key(status: int) -> None:
    api = _FakeAPI()
    api.creates.append(lambda: httpx.Response(201, json=_prediction("succeeded")))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/files/"):
            assert "authorization" not in request.headers
            return httpx.Response(status, text="denied", headers={"content-type": "text/plain"})
        return api(request)

    transport = httpx.MockTransport(handler)
    async with FluxClient(
        api_key=KEY, base_url="http://api.example", sync_wait=False, transport=transport
    ) as client:
        with pytest.raises(OutputExpiredError, match=rf"gone \({status}: denied\)"):
            await client.generate("a boat", output_format="png")


@pytest.mark.parametrize(
    ("content_type", "body", "described"),
    [
        ("application/xml", S3_EXPIRED, "an XML error (AccessDenied: Request has expired)"),
        (
            "text/html",
            "<html><title>Bad Gateway</title></html>",
            "an HTML page instead of JSON (titled 'Bad Gateway')",
        ),
        ("text/plain", "upstream timed out", "upstream timed out"),
        ("application/octet-stream", "\x00\x01", "a application/octet-stream instead of JSON"),
    ],
)
def test_non_json_error_bodies_are_described_by_their_real_type(
    content_type: str, body: str, described: str
) -> None:
    response = httpx.Response(502, text=body, headers={"content-type": content_type})
    assert described in str(error_from_response(response))


def test_output_files_past_the_size_cap_are_refused_by_content_length() -> None:
    async def run() -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=b"x", headers={"content-length": str(2**40)})

        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            await read_output(
                http, "http://files.example/a.png", timeout=httpx.Timeout(5), prediction_id="p"
            )

    with pytest.raises(ImageDecodeError, match="Content-Length"):
        asyncio.run(run())


# --- 4. no part of the key in any message --------------------------------------------------


def _leaks(text: str, key: str) -> bool:
    return any(key[i : i + SLICE] in text for i in range(len(key) - SLICE + 1))


async def test_a_401_plain_text_body_echoing_the_key_after_150_characters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The input: 150 'x' then " authorization=Bearer <key>" as text/plain.
    body = "x" * 150 + f" authorization=Bearer {KEY}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=body, headers={"content-type": "text/plain"})

    transport = httpx.MockTransport(handler)
    with caplog.at_level(logging.DEBUG):
        async with FluxClient(
            api_key=KEY, base_url="http://api.example", transport=transport
        ) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.generate("a boat")
        logging.getLogger("flux_widgets").warning("the server said %s", body)
    error = caught.value
    for text in (str(error), repr(error), str(error.detail), caplog.text):
        assert not _leaks(text, KEY), text
    assert "x" * 150 + " authorization=Bearer [redacted]" in str(error)


_SHAPES: dict[str, Callable[[str], tuple[str, str]]] = {
    "plain": lambda t: ("text/plain", t),
    "detail": lambda t: ("application/json", json.dumps({"detail": t})),
    "envelope": lambda t: ("application/json", json.dumps({"error": {"message": t, "code": t}})),
    "problem": lambda t: ("application/problem+json", json.dumps({"title": "T", "detail": t})),
    "list": lambda t: ("application/json", json.dumps([t, 1])),
    "string": lambda t: ("application/json", json.dumps(t)),
    "unknown": lambda t: ("application/json", json.dumps({"weird": {"nested": t}})),
    "fields": lambda t: ("application/json", json.dumps({"invalid_fields": [{"field": t}]})),
    "xml": lambda t: ("application/xml", f"<Error><Code>X</Code><Message>{t}</Message></Error>"),
    "html": lambda t: ("text/html", f"<html><title>{t}</title></html>"),
}
_KEYS = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=8, max_size=60)
_FILLER = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=_KEYS,
    before=_FILLER,
    after=_FILLER,
    cut=st.integers(min_value=0, max_value=60),
    whole=st.booleans(),
    shape=st.sampled_from(sorted(_SHAPES)),
    status=st.sampled_from([400, 401, 402, 403, 404, 409, 422, 429, 500, 502, 503, 200]),
)
def test_no_slice_of_the_key_reaches_an_error_or_a_log(
    key: str, before: str, after: str, cut: int, whole: bool, shape: str, status: int
) -> None:
    assume("redacted" not in key.lower())
    auth = BearerAuth(key, "http://api.example")  # what a client does with its key
    # The whole key, or a piece of it (at least a slice long), at any offset of the body.
    echoed = key if whole else key[min(cut, len(key) - SLICE) :]
    content_type, body = _SHAPES[shape](before + echoed + after)
    response = httpx.Response(
        status,
        content=body.encode(),
        headers={"content-type": content_type, "x-request-id": echoed},
        request=httpx.Request("POST", "http://api.example/v1/predictions"),
    )
    if status == 200:
        with pytest.raises(ProtocolError) as caught:
            parse_prediction(response)
        error: Exception = caught.value
    else:
        error = error_from_response(response, key if whole else None)
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("flux_widgets")
    logger.addHandler(handler)
    try:
        logger.warning("answer %s for %r", body, error)
    finally:
        logger.removeHandler(handler)
    texts = [str(error), repr(error), *records]
    texts += [str(getattr(error, name, "")) for name in ("detail", "request_id")]
    for text in texts:
        assert not _leaks(text, key), (shape, text)
    del auth  # the key is forgotten with the last thing holding it


def test_redaction_comes_before_truncation_in_prediction_messages() -> None:
    auth = BearerAuth(KEY, "http://api.example")
    response = httpx.Response(
        201,
        json=["y" * 60 + KEY],
        request=httpx.Request("POST", "http://api.example/v1/predictions"),
    )
    with pytest.raises(ProtocolError) as caught:
        parse_prediction(response)
    assert not _leaks(str(caught.value), KEY)
    assert "[redacted]" in str(caught.value)
    del auth


async def test_an_api_redirect_to_a_malformed_url_is_a_protocol_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "javascript:alert(1)"})

    transport = httpx.MockTransport(handler)
    async with FluxClient(base_url="http://api.example", transport=transport) as client:
        with pytest.raises(ProtocolError, match="redirect to a malformed URL"):
            await client.generate("a boat")


@pytest.mark.parametrize(
    ("proxy", "says"),
    [("ftp://127.0.0.1:21", "unsupported scheme 'ftp'"), ("http://host:port", "not a valid URL")],
)
async def test_an_unusable_proxy_in_the_environment_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, proxy: str, says: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    async with FluxClient(base_url="http://flux-api.example", sync_wait=False) as client:
        with pytest.raises(FluxConnectionError, match=says):
            await client.generate("a boat")


def test_key_whitespace_is_stripped_and_inner_whitespace_refused() -> None:
    from flux_widgets.providers.settings import resolve_settings

    assert resolve_settings(api_key="sk-abc123\n", environ={}).api_key == "sk-abc123"
    with pytest.raises(ValueError, match="whitespace or control characters"):
        resolve_settings(api_key="sk-abc\n123", environ={})


def test_httpx_and_httpcore_log_records_are_redacted() -> None:
    import logging

    from flux_widgets.transport.redaction import register_secret

    class Owner:
        pass

    owner = Owner()
    register_secret("sk-secretlogkey99", owner)
    for name in ("httpx", "httpcore.http11"):
        record = logging.LogRecord(
            name, logging.INFO, "x", 1, "reason %s", ("sk-secretlogkey99",), None
        )
        assert all(f.filter(record) for f in logging.getLogger(name).filters)
        assert "sk-secretlogkey99" not in record.getMessage()


def test_lone_surrogate_prompt_is_refused_naming_the_field() -> None:
    from flux_widgets.params import FluxParams

    with pytest.raises(ValueError, match=r"prompt holds an invalid character at position 1"):
        FluxParams(prompt="a\ud800b")


def test_one_slow_first_generation_does_not_make_the_next_ones_oversleep() -> None:
    # Found by a tester: a plausible 6 s first generation, then 0.8 s ones, left the next
    # generations sleeping 3.2 / 2.5 / 2.0 / 1.6 s before their first query.
    estimate = DurationEstimate()
    estimate.observe(6.0)
    assert estimate.seconds == 0.8  # the prior: the next generation's first query at 0.8 s
    for _ in range(4):
        estimate.observe(0.8)
        assert estimate.seconds == 0.8
    # A server that really slowed down is still learnt, within a few generations.
    for _ in range(3):
        estimate.observe(6.0)
    assert estimate.seconds > 1.5


async def test_a_generation_given_up_while_its_create_waits_out_a_429_sends_no_new_create() -> None:
    # Found by a tester: cancelled at +1 s while the create waited out "429, Retry-After: 3",
    # the background finisher sent a new create at +3.2 s, starting a paid prediction, only to
    # cancel it. Between tries no request is open, so nothing was started: send nothing more.
    faults = FaultConfig(rate_limit_creates=1, retry_after=2)
    with MockServer(MockConfig(generation_time=0.05, faults=faults)) as server:
        client = FluxClient(base_url=server.url, provider="cometapi")
        task = asyncio.create_task(client.generate("a boat"))
        await asyncio.sleep(0.5)  # the 429 is in; the client is waiting out its Retry-After
        assert [r.method for r in server.state.requests] == ["POST"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(2.5)  # past the Retry-After: a retry would have gone out by now
        creates = [r for r in server.state.requests if r.method == "POST"]
        assert len(creates) == 1  # the refused one only
        assert len(server.state.predictions) == 0
        await client.aclose()


async def test_a_job_that_succeeds_during_a_hold_cut_short_by_aclose_is_kept_unclaimed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Found by a tester: aclose() during a 3.5 s sync-wait hold; the prediction succeeded in
    # the hold, was paid for, and its outputs were dropped. Now they are kept and named.
    client = FluxClient.mock(config=MockConfig(), provider="replicate")
    server = client._mock_server
    task = asyncio.create_task(client.generate("[mock:slow=3.5] a boat"))
    await asyncio.sleep(1.0)
    with caplog.at_level(logging.WARNING, logger="flux_widgets"):
        await client.aclose()
    with pytest.raises(ClientClosedError):
        await task
    [(job_id, outputs)] = client.unclaimed_outputs
    assert server.state.predictions[job_id].outcome.status == "succeeded"
    assert [output.url for output in outputs] == [f"{server.url}/files/{job_id}/out-0.webp"]
    assert any(
        job_id in r.getMessage() and "unclaimed_outputs" in r.getMessage() for r in caplog.records
    )


def test_aclose_from_another_loop_cancels_a_generation_whose_thread_loop_then_ends() -> None:
    # Found by a tester: a thread runs asyncio.run(generate(...)) while the create is held;
    # aclose() from the main thread ended the generation, its loop ended with it, and the
    # background cancel died with that loop: the prediction ran on. A kernel subshell is such
    # a thread.
    import threading

    with MockServer(MockConfig(generation_time=0.05)) as server:
        client = FluxClient(base_url=server.url, provider="replicate")
        outcome: dict[str, BaseException] = {}

        def worker() -> None:
            async def run() -> None:
                try:
                    await client.generate("[mock:stuck] a boat")
                except BaseException as error:  # what the thread's generation ended with
                    outcome["error"] = error

            asyncio.run(run())

        thread = threading.Thread(target=worker)
        thread.start()
        deadline = time.monotonic() + 5
        while not server.state.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # the create is on the wire, held by Prefer: wait
        asyncio.run(client.aclose())
        thread.join(30)
        assert isinstance(outcome["error"], ClientClosedError)
        [prediction_id] = list(server.state.predictions)
        assert _cancels(server) == [prediction_id]


def test_a_prediction_id_that_echoes_the_key_is_redacted() -> None:
    from flux_widgets.errors import FluxError
    from flux_widgets.transport.redaction import register_secret

    class Owner:
        pass

    owner = Owner()
    register_secret("sk-echoedasanid42", owner)
    error = FluxError("failed", prediction_id="sk-echoedasanid42")
    assert "echoedasanid" not in str(error.prediction_id)
    error.prediction_id = "id-sk-echoedasanid42"  # as the client fills it in later
    assert "echoedasanid" not in str(error.prediction_id)
    assert error.prediction_id is not None and error.prediction_id.startswith("id-")
