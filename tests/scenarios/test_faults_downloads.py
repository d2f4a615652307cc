"""Faults of output files and redirects (issue #9): redirects followed for files only and
without the key, file-host refusals meaning the output is gone, error bodies of every type,
files past the size cap.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from scenarios.fake_api import FakeAPI, prediction_json

from flux_widgets import (
    AuthenticationError,
    DownloadError,
    FluxClient,
    ImageDecodeError,
    OutputExpiredError,
    ProtocolError,
)
from flux_widgets.mock import FaultConfig, MockConfig, MockServer
from flux_widgets.mock.app import S3_EXPIRED
from flux_widgets.transport.downloads import read_output
from flux_widgets.transport.http_errors import error_from_response

pytestmark = pytest.mark.usefixtures("no_proxy_from_the_runner")

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
    api = FakeAPI()
    api.creates.append(lambda: httpx.Response(201, json=prediction_json("succeeded")))
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
    api = FakeAPI()
    api.creates.append(lambda: httpx.Response(201, json=prediction_json("succeeded")))

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


async def test_an_api_redirect_to_a_malformed_url_is_a_protocol_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "javascript:alert(1)"})

    transport = httpx.MockTransport(handler)
    async with FluxClient(base_url="http://api.example", transport=transport) as client:
        with pytest.raises(ProtocolError, match="redirect to a malformed URL"):
            await client.generate("a boat")
