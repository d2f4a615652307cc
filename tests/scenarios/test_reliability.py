"""Every failure of the real protocol, rehearsed against the mock over loopback HTTP.

Each test switches one fault on and checks that the generation ends in images or a clear typed
error, that nothing paid for is lost (one accepted create per generation, downloaded images
kept), and that nothing leaks (the key stays with the API's own origin).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image, ImageFile

from flux_widgets import (
    AuthenticationError,
    ContentFilteredError,
    DownloadError,
    FluxClient,
    FluxConnectionError,
    FluxError,
    FluxTimeoutError,
    ImageDecodeError,
    InsufficientCreditError,
    InvalidRequestError,
    OutputExpiredError,
    PredictionAbortedError,
    PredictionCanceledError,
    PredictionFailedError,
    ProtocolError,
    ServerError,
)
from flux_widgets.mock import FaultConfig, MockConfig, MockServer
from flux_widgets.mock.faults import GENERIC_ERROR, NSFW_ERROR
from flux_widgets.transport.retry import Backoff
from flux_widgets.transport.sending import Timeouts

CREATE = "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"
QUERY = "/replicate/v1/predictions/"
SMALL: dict[str, Any] = {"megapixels": "0.25"}


def _client(server: MockServer, **kwargs: Any) -> FluxClient:
    kwargs.setdefault("sync_wait", False)
    client = FluxClient(base_url=server.url, **kwargs)
    client._backoff = Backoff(base=0.01, cap=0.05)  # fast retries; the rules stay the same
    return client


def _requests(server: MockServer, method: str, prefix: str) -> list[Any]:
    return [r for r in server.state.requests if r.method == method and r.path.startswith(prefix)]


def _creates(server: MockServer) -> list[Any]:
    return _requests(server, "POST", CREATE)


def _queries(server: MockServer) -> list[Any]:
    return [r for r in _requests(server, "GET", QUERY) if not r.path.endswith("/cancel")]


def _cancels(server: MockServer) -> list[Any]:
    return [r for r in _requests(server, "POST", QUERY) if r.path.endswith("/cancel")]


def _files(server: MockServer) -> list[Any]:
    return _requests(server, "GET", "/files/")


def _faults(server: MockServer, **faults: Any) -> None:
    server.state.faults = FaultConfig(**faults)


async def _when(condition: Callable[[], bool], then: Callable[[], None]) -> None:
    """Run ``then`` as soon as ``condition`` holds (to change faults between two requests)."""
    # The condition is the server thread's state: no event to wait on, so look often.
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    then()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- retry rules: the create ---------------------------------------------------------------


async def test_create_retries_429_after_retry_after_and_creates_exactly_once(
    mock_server: MockServer,
) -> None:
    _faults(mock_server, rate_limit_creates=2, retry_after=0.1)
    async with _client(mock_server) as client:
        images = await client.generate("a boat", **SMALL)
    posts = _creates(mock_server)
    assert len(images) == 1
    assert len(posts) == 3 and mock_server.state.creates == 1
    # Each 429 said "Retry-After: 0.1": the client waited at least that before each retry.
    assert posts[1].time - posts[0].time >= 0.1 and posts[2].time - posts[1].time >= 0.1


async def test_create_retries_503_where_no_prediction_started(mock_server: MockServer) -> None:
    _faults(mock_server, create_unavailable=2)
    async with _client(mock_server) as client:
        images = await client.generate("a boat", **SMALL)
    assert len(images) == 1
    assert len(_creates(mock_server)) == 3 and mock_server.state.creates == 1


async def test_create_500_invalid_request_is_not_retried(mock_server: MockServer) -> None:
    _faults(mock_server, create_errors=3)
    async with _client(mock_server) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.generate("a boat", **SMALL)
    assert caught.value.status_code == 500 and "invalid request" in str(caught.value)
    assert len(_creates(mock_server)) == 1 and mock_server.state.creates == 0


async def test_create_502_html_page_is_not_retried_and_says_html(mock_server: MockServer) -> None:
    # A 502 may come after the prediction started: a second create could be paid twice.
    _faults(mock_server, html_errors=True)
    async with _client(mock_server) as client:
        with pytest.raises(ServerError, match="HTML page") as caught:
            await client.generate("a boat", **SMALL)
    assert caught.value.status_code == 502
    assert len(_creates(mock_server)) == 1


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
        async with _client(server, api_key="sk-some-other-key") as client:
            with pytest.raises(error_type) as caught:
                await client.generate("a boat", **SMALL)
        assert len(_creates(server)) == 1 and server.state.creates == 0
    assert getattr(caught.value, "status_code", None) == status


async def test_create_read_timeout_never_sends_a_second_create(mock_server: MockServer) -> None:
    _faults(mock_server, create_delay=1.0)
    client = _client(mock_server)
    client._timeouts = Timeouts(create=0.2)
    began = time.monotonic()
    async with client:
        with pytest.raises(FluxConnectionError, match="not sent again") as caught:
            await client.generate("a boat", **SMALL)
    assert time.monotonic() - began < 0.9
    assert "paid twice" in str(caught.value) and mock_server.url in str(caught.value)
    assert len(_creates(mock_server)) == 1 and mock_server.state.creates == 1


class _CountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return await super().handle_async_request(request)


async def test_connection_refused_is_retried_then_names_the_base_url_not_the_key() -> None:
    key = "sk-refused-secret-4242"
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    transport = _CountingTransport()
    client = FluxClient(api_key=key, base_url=url, max_retries=3, transport=transport)
    client._backoff = Backoff(base=0.01, cap=0.05)
    async with client:
        with pytest.raises(FluxConnectionError) as caught:
            await client.generate("a boat")
    assert transport.attempts == 4  # connection refused: nothing was sent, so safe to retry
    assert url in str(caught.value)
    assert key not in str(caught.value) and key not in repr(caught.value)


# --- retry rules: queries ------------------------------------------------------------------


async def test_queries_retry_500_502_503_and_succeed(mock_server: MockServer) -> None:
    _faults(mock_server, query_errors=3)
    async with _client(mock_server) as client:
        images = await client.generate("a boat", **SMALL)
    assert len(images) == 1
    assert len(_queries(mock_server)) >= 4 and mock_server.state.creates == 1


async def test_query_read_timeout_is_retried_and_recovers(mock_server: MockServer) -> None:
    _faults(mock_server, query_delay=1.0)
    client = _client(mock_server)
    client._timeouts = Timeouts(query=0.2)
    async with client:
        # The server recovers once the first (slow) query arrived.
        recover = asyncio.create_task(
            _when(lambda: bool(_queries(mock_server)), lambda: _faults(mock_server))
        )
        images = await client.generate("a boat", **SMALL)
        await recover
    assert len(images) == 1 and len(_queries(mock_server)) >= 2


async def test_queries_that_keep_timing_out_end_in_a_connection_error(
    mock_server: MockServer,
) -> None:
    _faults(mock_server, query_delay=1.0)
    client = _client(mock_server, max_retries=2)
    client._timeouts = Timeouts(query=0.1)
    async with client:
        with pytest.raises(FluxConnectionError, match="did not answer in time") as caught:
            await client.generate("a boat", **SMALL)
    assert len(_queries(mock_server)) == 3
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
    async with _client(mock_server, max_retries=2) as client:
        watch = asyncio.create_task(
            _when(
                lambda: mock_server.state.creates == 1,
                lambda: _faults(mock_server, **{fault: True}),
            )
        )
        with pytest.raises(error_type, match=message):
            await client.generate("a boat", **SMALL)
        await watch
    assert len(_queries(mock_server)) == queries


# --- deadline and cancellation -------------------------------------------------------------


async def test_deadline_cancels_and_tolerates_a_missing_cancel_route(
    mock_server: MockServer,
) -> None:
    _faults(mock_server, cancel_missing=True)
    began = time.monotonic()
    async with _client(mock_server, timeout=0.5) as client:
        with pytest.raises(FluxTimeoutError, match=r"0\.5 s deadline") as caught:
            await client.generate("[mock:stuck] a boat", **SMALL)
    assert 0.5 <= time.monotonic() - began < 1.5
    assert len(_cancels(mock_server)) == 1
    assert caught.value.prediction_id in mock_server.state.predictions


async def test_cancelling_the_task_with_a_missing_cancel_route_still_cancels(
    mock_server: MockServer,
) -> None:
    _faults(mock_server, cancel_missing=True)
    statuses: list[str] = []
    async with _client(mock_server) as client:
        task = asyncio.create_task(
            client.generate("[mock:stuck] a boat", on_status=statuses.append)
        )
        await _when(lambda: "processing" in statuses, lambda: None)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(_cancels(mock_server)) == 1 and statuses[-1] == "canceled"


async def test_slow_queries_cannot_outlast_the_deadline(mock_server: MockServer) -> None:
    _faults(mock_server, query_delay=5.0)
    began = time.monotonic()
    async with _client(mock_server, timeout=0.6) as client:
        with pytest.raises(FluxTimeoutError):
            await client.generate("a boat", **SMALL)
    assert time.monotonic() - began < 1.6
    assert len(_cancels(mock_server)) == 1


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
    _faults(mock_server, file_delay=5.0)
    began = time.monotonic()
    async with _client(mock_server, timeout=1.0) as client:
        with pytest.raises(FluxTimeoutError, match="while downloading") as caught:
            await client.generate("a boat", num_outputs=2, **SMALL)
    assert time.monotonic() - began < 2.0
    (prediction_id,) = mock_server.state.predictions
    assert caught.value.prediction_id == prediction_id
    assert len(caught.value.urls) == 2 and all(prediction_id in u for u in caught.value.urls)
    assert caught.value.images == []
    assert _cancels(mock_server) == []  # it succeeded: nothing to cancel


# --- every final status --------------------------------------------------------------------


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
    async with _client(mock_server) as client:
        with pytest.raises(error_type) as caught:
            await client.generate(f"{directive} a boat", **SMALL)
    assert type(caught.value) is error_type
    assert caught.value.prediction_id in mock_server.state.predictions
    if provider_message is not None:
        assert isinstance(caught.value, PredictionFailedError)
        assert caught.value.provider_message == provider_message
        assert provider_message in str(caught.value)
    assert _files(mock_server) == []


async def test_unknown_status_is_pending_until_it_succeeds(mock_server: MockServer) -> None:
    async with _client(mock_server) as client:
        images = await client.generate("[mock:unknown-status][mock:slow=0.3] a boat", **SMALL)
    assert len(images) == 1 and len(_queries(mock_server)) >= 1


async def test_unknown_status_is_pending_until_the_deadline(mock_server: MockServer) -> None:
    async with _client(mock_server, timeout=0.5) as client:
        with pytest.raises(FluxTimeoutError):
            await client.generate("[mock:unknown-status][mock:slow=30] a boat", **SMALL)
    assert len(_cancels(mock_server)) == 1


# --- downloads -----------------------------------------------------------------------------


async def test_transient_file_errors_are_retried(mock_server: MockServer) -> None:
    _faults(mock_server, file_errors=2)
    async with _client(mock_server) as client:
        images = await client.generate("a boat", **SMALL)
    assert len(images) == 1 and len(_files(mock_server)) == 3


async def test_bytes_that_are_not_an_image_are_an_image_decode_error(
    mock_server: MockServer,
) -> None:
    _faults(mock_server, corrupt_images=True)
    async with _client(mock_server) as client:
        with pytest.raises(ImageDecodeError, match="not a webp, jpg or png"):
            await client.generate("a boat", **SMALL)
    assert len(_files(mock_server)) == 1  # the same bytes would come again: no retry


async def test_an_image_of_another_format_is_refused(mock_server: MockServer) -> None:
    _faults(mock_server, huge_image=False)
    async with _client(mock_server) as client:
        (image,) = await client.generate("a boat", output_format="png", **SMALL)
    from flux_widgets.images import probe_image

    with pytest.raises(ImageDecodeError, match="reported a webp image but sent png"):
        probe_image(image.data, "webp")


async def test_a_huge_header_is_refused_before_any_decoding(
    mock_server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # Pillow's own bomb check is off
    _faults(mock_server, huge_image=True)
    async with _client(mock_server) as client:
        began = time.monotonic()
        with pytest.raises(ImageDecodeError, match="100000x100000 pixels") as caught:
            await client.generate("a boat", output_format="png", **SMALL)
    assert time.monotonic() - began < 1.0
    assert "refused before decoding" in str(caught.value)
    assert not isinstance(caught.value.__cause__, Image.DecompressionBombError)


async def test_expired_files_say_outputs_expire_after_about_an_hour(
    mock_server: MockServer,
) -> None:
    _faults(mock_server, missing_files=True)
    async with _client(mock_server) as client:
        with pytest.raises(OutputExpiredError, match="about an hour after generation") as caught:
            await client.generate("a boat", **SMALL)
    assert len(_files(mock_server)) == 1  # a 404 is final: no retry
    assert caught.value.images == [] and len(caught.value.urls) == 1


async def test_one_failed_file_of_four_keeps_the_three_good_images(
    mock_server: MockServer,
) -> None:
    _faults(mock_server, expired_files=1)
    async with _client(mock_server) as client:
        with pytest.raises(DownloadError) as caught:
            await client.generate("a boat", num_outputs=4, **SMALL)
    error = caught.value
    assert len(error.images) == 3 and len(error.urls) == 1
    assert {i.index for i in error.images} | {int(error.urls[0][-6])} == {0, 1, 2, 3}
    assert all(Image.open(io.BytesIO(i.data)).size == (512, 512) for i in error.images)
    assert error.prediction_id == next(iter(mock_server.state.predictions))
    assert "in error.images" in str(error)


async def test_generate_many_keeps_partial_images_of_a_failed_item(
    mock_server: MockServer,
) -> None:
    _faults(mock_server, expired_files=1)
    async with _client(mock_server) as client:
        (result,) = [r async for r in client.generate_many(["a boat"], num_outputs=2, **SMALL)]
    assert isinstance(result.error, DownloadError) and len(result.images) == 1


# --- secrets -------------------------------------------------------------------------------


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    for name in ("httpx", "httpcore", "flux_widgets"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


async def test_the_key_never_appears_in_errors_logs_or_the_file_host(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    key = "sk-never-leak-this-31337"
    config = MockConfig(generation_time=0.05, api_key=key)
    errors: list[BaseException] = []
    with MockServer(config) as server:
        server.config.files_base_url = f"http://localhost:{server.port}"  # another origin
        async with _client(server, api_key=key, max_retries=1) as client:
            images = await client.generate("a boat", num_outputs=2, **SMALL)
            for faults in (
                FaultConfig(create_errors=1),
                FaultConfig(html_errors=True),
                FaultConfig(missing_files=True),
                FaultConfig(corrupt_images=True),
                FaultConfig(prompt_directives=True),
            ):
                _faults(server, **faults.to_dict())
                prompt = "[mock:nsfw] a boat" if faults == FaultConfig() else "a boat"
                with pytest.raises(FluxError) as caught:
                    await client.generate(prompt, **SMALL)
                errors.append(caught.value)
            texts = [repr(client), str(client), repr(client._settings), repr(client._auth)]
        async with _client(server, api_key="sk-wrong-" + key) as wrong:
            with pytest.raises(AuthenticationError) as caught:
                await wrong.generate("a boat", **SMALL)
            errors.append(caught.value)
        requests = server.state.requests
    assert len(images) == 2
    for error in errors:
        texts += [str(error), repr(error), json.dumps(vars(error), default=str)]
    texts.append(debug_logs.text)
    assert debug_logs.records
    assert not [t for t in texts if key in t or "31337" in t]
    files = [r for r in requests if r.path.startswith("/files/")]
    assert files and all(r.host.startswith("localhost") for r in files)
    assert not any(r.has_authorization for r in files)
    assert all(r.has_authorization for r in requests if not r.path.startswith("/files/"))


async def test_the_key_is_attached_only_to_the_api_origin() -> None:
    seen: list[tuple[str, str | None]] = []
    pid = "p1"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        if request.url.path.endswith("/predictions"):
            outputs = [
                "https://api.example.test:8443/files/a.webp",  # same host, other port
                "http://api.example.test/files/b.webp",  # same host, other scheme
                "https://files.example.test/c.webp",  # another host
                "https://API.example.test/files/d.webp",  # the API's origin (host case differs)
            ]
            body = {"id": pid, "status": "succeeded", "output": outputs}
            return httpx.Response(201, json=body)
        out = io.BytesIO()
        Image.new("RGB", (8, 8)).save(out, "WEBP")
        return httpx.Response(200, content=out.getvalue())

    client = FluxClient(
        api_key="sk-origin-check",
        base_url="https://api.example.test",
        transport=httpx.MockTransport(handler),
        sync_wait=False,
    )
    async with client:
        images = await client.generate("a boat", num_outputs=4)
        # Even a request the client builds by mistake for another origin gets no key.
        http = client._resources().http
        await http.get("https://elsewhere.test/x", auth=client._auth)
        await http.get(
            f"https://API.example.test/replicate/v1/predictions/{pid}", auth=client._auth
        )
    assert len(images) == 4
    auth = dict(seen)
    assert auth[f"https://api.example.test{CREATE}"] == "Bearer sk-origin-check"
    assert auth["https://api.example.test:8443/files/a.webp"] is None
    assert auth["http://api.example.test/files/b.webp"] is None
    assert auth["https://files.example.test/c.webp"] is None
    assert auth["https://api.example.test/files/d.webp"] is None  # downloads never send it
    assert auth["https://elsewhere.test/x"] is None
    assert auth[f"https://api.example.test/replicate/v1/predictions/{pid}"] is not None


# --- fault switches: Python, HTTP and the command line -------------------------------------


async def test_faults_can_be_switched_over_http(mock_server: MockServer) -> None:
    async with httpx.AsyncClient(base_url=mock_server.url) as http:
        answer = await http.put(
            "/mock/faults", json={"cancel_missing": True, "create_delay": 0.2, "expired_files": 1}
        )
    assert answer.status_code == 200 and answer.json()["create_delay"] == 0.2
    async with _client(mock_server, timeout=0.6) as client:
        with pytest.raises(FluxTimeoutError):
            await client.generate("[mock:stuck] a boat", **SMALL)
    assert len(_cancels(mock_server)) == 1 and mock_server.state.faults.expired_files == 1


@pytest.mark.slow
async def test_command_line_fault_flags_reach_the_client() -> None:
    port = _free_port()
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
