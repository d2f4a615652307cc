"""Output downloads under the real protocol's faults, rehearsed against the mock over loopback
HTTP: what arrived is kept, what did not is named, bad bytes are typed errors, and the key
stays with the API's own origin (never the file host, an error or a log).
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image, ImageFile
from scenarios.mock_records import (
    CREATE,
    SMALL,
    fast_client,
    file_downloads,
    set_faults,
)

from flux_widgets import (
    AuthenticationError,
    DownloadError,
    FluxClient,
    FluxError,
    ImageDecodeError,
    OutputExpiredError,
)
from flux_widgets.mock import FaultConfig, MockConfig, MockServer


async def test_transient_file_errors_are_retried(mock_server: MockServer) -> None:
    set_faults(mock_server, file_errors=2)
    async with fast_client(mock_server) as client:
        images = await client.generate("a boat", **SMALL)
    assert len(images) == 1 and len(file_downloads(mock_server)) == 3


async def test_bytes_that_are_not_an_image_are_an_image_decode_error(
    mock_server: MockServer,
) -> None:
    set_faults(mock_server, corrupt_images=True)
    async with fast_client(mock_server) as client:
        with pytest.raises(ImageDecodeError, match="not a webp, jpg or png"):
            await client.generate("a boat", **SMALL)
    assert len(file_downloads(mock_server)) == 1  # the same bytes would come again: no retry


async def test_an_image_of_another_format_is_refused(mock_server: MockServer) -> None:
    set_faults(mock_server, huge_image=False)
    async with fast_client(mock_server) as client:
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
    set_faults(mock_server, huge_image=True)
    async with fast_client(mock_server) as client:
        began = time.monotonic()
        with pytest.raises(ImageDecodeError, match="100000x100000 pixels") as caught:
            await client.generate("a boat", output_format="png", **SMALL)
    assert time.monotonic() - began < 1.0
    assert "refused before decoding" in str(caught.value)
    assert not isinstance(caught.value.__cause__, Image.DecompressionBombError)


async def test_expired_files_say_outputs_expire_after_about_an_hour(
    mock_server: MockServer,
) -> None:
    set_faults(mock_server, missing_files=True)
    async with fast_client(mock_server) as client:
        with pytest.raises(OutputExpiredError, match="about an hour after generation") as caught:
            await client.generate("a boat", **SMALL)
    assert len(file_downloads(mock_server)) == 1  # a 404 is final: no retry
    assert caught.value.images == [] and len(caught.value.urls) == 1


async def test_one_failed_file_of_four_keeps_the_three_good_images(
    mock_server: MockServer,
) -> None:
    set_faults(mock_server, expired_files=1)
    async with fast_client(mock_server) as client:
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
    set_faults(mock_server, expired_files=1)
    async with fast_client(mock_server) as client:
        (result,) = [r async for r in client.generate_many(["a boat"], num_outputs=2, **SMALL)]
    assert isinstance(result.error, DownloadError) and len(result.images) == 1


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
        async with fast_client(server, api_key=key, max_retries=1) as client:
            images = await client.generate("a boat", num_outputs=2, **SMALL)
            for faults in (
                FaultConfig(create_errors=1),
                FaultConfig(html_errors=True),
                FaultConfig(missing_files=True),
                FaultConfig(corrupt_images=True),
                FaultConfig(prompt_directives=True),
            ):
                set_faults(server, **faults.to_dict())
                prompt = "[mock:nsfw] a boat" if faults == FaultConfig() else "a boat"
                with pytest.raises(FluxError) as caught:
                    await client.generate(prompt, **SMALL)
                errors.append(caught.value)
            texts = [repr(client), str(client), repr(client._settings), repr(client._auth)]
        async with fast_client(server, api_key="sk-wrong-" + key) as wrong:
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
    file_requests = [r for r in requests if r.path.startswith("/files/")]
    assert file_requests and all(r.host.startswith("localhost") for r in file_requests)
    assert not any(r.has_authorization for r in file_requests)
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
