"""Outputs in every shape, whole files only (issue #17, items 3 and 11).

``data:`` URIs among the outputs are decoded (strictly: base64, MIME type, size cap), never
sent to a file host; a file cut short by the network, in any format, is fetched again and at
last refused as a ``DownloadError`` (the other images kept), never stored to fail later in
``to_pil()``.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from PIL import Image
from scenarios.fake_api import FakeAPI, prediction_json

from flux_widgets import DownloadError, FluxClient, ImageDecodeError
from flux_widgets.images import missing_end
from flux_widgets.mock import FaultConfig, MockConfig, MockServer
from flux_widgets.mock.state import MockState
from flux_widgets.transport import downloads
from flux_widgets.transport.downloads import decode_data_uri
from flux_widgets.transport.retry import Backoff, CutShortError

pytestmark = pytest.mark.usefixtures("no_proxy_from_the_runner")

FORMATS = ["webp", "jpg", "png"]
_PIL = {"webp": "WEBP", "jpg": "JPEG", "png": "PNG"}
_MIME = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}


def encoded(fmt: str, size: tuple[int, int] = (64, 48), **options: Any) -> bytes:
    """A noisy image in ``fmt`` (noise: the entropy-coded data is not trivially short)."""
    buffer = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(buffer, _PIL[fmt], **options)
    return buffer.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _state(client: FluxClient) -> MockState:
    return client._mock_server.state  # type: ignore[no-any-return]


def _files(client: FluxClient) -> list[str]:
    return [r.path for r in _state(client).requests if r.path.startswith("/files/")]


# -- data: URIs ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["cometapi", "replicate"])
@pytest.mark.parametrize("fmt", FORMATS)
async def test_data_uri_outputs_are_decoded_and_never_fetched(provider: str, fmt: str) -> None:
    # The input: Replicate answers data:image/webp;base64,... for short-lived
    # predictions; today both paid predictions gave 0 images ("not a URL").
    config = MockConfig(generation_time=0.05, faults=FaultConfig(data_uri_outputs=True))
    client = FluxClient.mock(config=config, provider=provider, sync_wait=False)
    async with client:
        images = await client.generate(
            "a lighthouse", megapixels="0.25", num_outputs=2, output_format=fmt
        )
    assert [(image.index, image.format) for image in images] == [(0, fmt), (1, fmt)]
    assert all(image.url is None for image in images)
    assert all(image.to_pil().size == (image.width, image.height) for image in images)
    assert _files(client) == []  # nothing sent to any file host


async def test_a_replicate_sync_answer_with_data_uris_needs_no_request_at_all() -> None:
    config = MockConfig(generation_time=0.05, faults=FaultConfig(data_uri_outputs=True))
    client = FluxClient.mock(config=config, provider="replicate", sync_wait=True)
    async with client:
        [image] = await client.generate("a lighthouse", megapixels="0.25")
    assert image.format == "webp" and image.data[:4] == b"RIFF"
    assert [r.method for r in _state(client).requests] == ["POST"]


def test_the_mock_fal_queue_answers_data_uris_in_sync_mode() -> None:
    # docs/protocol.md: with sync_mode the result's image URLs are data: URIs.
    with (
        MockServer(MockConfig(generation_time=0.0)) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        body = {"prompt": "a lighthouse", "sync_mode": True, "output_format": "png"}
        request_id = http.post("/fal-ai/flux/schnell", json=body).json()["request_id"]
        result = http.get(f"/fal-ai/flux/requests/{request_id}").json()
    [image] = result["images"]
    assert image["url"].startswith("data:image/png;base64,")
    data = decode_data_uri(image["url"], prediction_id=request_id)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and missing_end(data) is None


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("data:image/png,not-base64", "not base64"),
        ("data:image/png;base64,@@@@", "not valid base64"),
        ("data:image/png;base64,aGVsbG8=", "not a webp, jpg or png"),
        (data_uri(encoded("jpg"), "image/png"), "says 'image/png' but holds jpg"),
        (data_uri(encoded("png"), "text/plain"), "says 'text/plain' but holds png"),
    ],
)
def test_a_bad_data_uri_is_the_same_typed_error_as_a_bad_download(uri: str, message: str) -> None:
    with pytest.raises(ImageDecodeError, match=message):
        decode_data_uri(uri, prediction_id="p1")


def test_a_data_uri_counts_against_the_download_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(downloads, "MAX_DOWNLOAD_BYTES", 1000)
    with pytest.raises(ImageDecodeError, match="over 0 MB"):
        decode_data_uri(data_uri(encoded("png", (128, 128)), "image/png"), prediction_id="p")


def test_a_cut_data_uri_is_refused_as_cut_short() -> None:
    data = encoded("png")
    with pytest.raises(CutShortError, match="IEND"):
        decode_data_uri(data_uri(data[:-20], "image/png"), prediction_id="p")


async def test_one_bad_data_uri_does_not_lose_the_other_paid_images() -> None:
    api = FakeAPI()
    good = data_uri(encoded("png"), "image/png")
    wrong = data_uri(encoded("jpg"), "image/png")
    done = prediction_json("succeeded", output=[good, wrong, "http://files.example/files/a/x.png"])
    api.creates.append(lambda: httpx.Response(201, json=done))
    client = FluxClient(api_key="r8_test", provider="replicate", transport=httpx.MockTransport(api))
    async with client:
        with pytest.raises(DownloadError) as caught:
            await client.generate("x", num_outputs=3, output_format="png")
    error = caught.value
    assert sorted(image.index for image in error.images) == [0, 2]
    assert error.urls == ("an image inside the answer",)
    assert [path for _, _, path in api.requests if path.startswith("/files/")] == ["/files/a/x.png"]


# -- whole files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("png", {}),
        ("jpg", {}),
        ("jpg", {"progressive": True}),
        ("jpg", {"restart_marker_blocks": 1}),
        ("webp", {}),
        ("webp", {"lossless": True}),
    ],
)
def test_every_cut_of_a_file_shows_and_the_whole_file_does_not(
    fmt: str, options: dict[str, Any]
) -> None:
    data = encoded(fmt, **options)
    assert missing_end(data) is None
    # From the first 16 bytes on (fewer do not say which format: probe_image refuses them).
    step = max(1, len(data) // 300)
    missed = [cut for cut in range(16, len(data), step) if missing_end(data[:cut]) is None]
    assert missed == []


def test_a_jpeg_cut_right_after_its_exif_thumbnail_shows() -> None:
    # The thumbnail inside APP1 ends in FFD9 too: the last two bytes alone would pass it.
    thumbnail = encoded("jpg", (16, 16))
    exif = Image.Exif()
    full = io.BytesIO()
    Image.effect_noise((64, 48), 40).convert("RGB").save(full, "JPEG", exif=exif.tobytes())
    data = full.getvalue()
    app1 = b"\xff\xe1" + (len(thumbnail) + 2).to_bytes(2, "big") + thumbnail
    with_thumbnail = data[:2] + app1 + data[2:]
    cut = with_thumbnail[: 2 + len(app1)]
    assert cut.endswith(b"\xff\xd9")
    assert missing_end(with_thumbnail) is None and missing_end(cut) is not None


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_file_cut_short_once_is_fetched_again(fmt: str) -> None:
    config = MockConfig(generation_time=0.05, faults=FaultConfig(truncated_files=1))
    client = FluxClient.mock(config=config, sync_wait=False)
    async with client:
        [image] = await client.generate("a lighthouse", megapixels="0.25", output_format=fmt)
    assert image.format == fmt and missing_end(image.data) is None
    image.to_pil()  # decodes: the whole file
    assert len(_files(client)) == 2  # the cut copy, then the whole one


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fault", ["truncated_files", "short_bodies"])
async def test_a_file_cut_short_on_every_try_is_a_download_error(fmt: str, fault: str) -> None:
    config = MockConfig(generation_time=0.05, faults=FaultConfig(**{fault: 3}))
    client = FluxClient.mock(config=config, sync_wait=False, max_retries=2)
    client._backoff = Backoff(base=0.01)
    async with client:
        with pytest.raises(DownloadError, match="cut short") as caught:
            await client.generate("a lighthouse", megapixels="0.25", output_format=fmt)
    assert caught.value.images == [] and len(caught.value.urls) == 1
    assert len(_files(client)) == 3  # three tries, each cut short


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fault", ["truncated_files", "short_bodies"])
async def test_a_file_cut_short_on_its_last_try_does_not_lose_the_others(
    fmt: str, fault: str
) -> None:
    # No retries: of two outputs, one arrives cut short (refused), the other whole (kept).
    config = MockConfig(generation_time=0.05, faults=FaultConfig(**{fault: 1}))
    client = FluxClient.mock(config=config, sync_wait=False, max_retries=0)
    async with client:
        with pytest.raises(DownloadError, match="cut short") as caught:
            await client.generate(
                "a lighthouse", megapixels="0.25", num_outputs=2, output_format=fmt
            )
    error = caught.value
    assert len(error.images) == 1 and len(error.urls) == 1
    assert missing_end(error.images[0].data) is None
    error.images[0].to_pil()


async def test_a_body_shorter_than_its_content_length_over_real_http_is_fetched_again() -> None:
    # Over a socket the server cannot send less than it declared: it drops the connection.
    config = MockConfig(generation_time=0.05, faults=FaultConfig(short_bodies=1))
    with MockServer(config) as server:
        async with FluxClient(base_url=server.url, sync_wait=False) as client:
            [image] = await client.generate("a lighthouse", megapixels="0.25")
        files = [r for r in server.state.requests if r.path.startswith("/files/")]
    assert missing_end(image.data) is None and len(files) == 2


async def test_a_cut_image_inside_a_together_answer_is_refused_and_the_other_kept() -> None:
    # Together's b64_json is bytes already: it gets the same whole-file check, once (an answer
    # is not fetched again).
    whole, cut = encoded("png"), encoded("png")[:-30]
    data = [
        {"index": i, "b64_json": base64.b64encode(d).decode()} for i, d in enumerate((whole, cut))
    ]

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "g1", "data": data})

    client = FluxClient(
        api_key="tg-test", provider="together", transport=httpx.MockTransport(handle)
    )
    async with client:
        with pytest.raises(DownloadError, match="cut short") as caught:
            await client.generate("x", num_outputs=2, output_format="png")
    assert [image.data for image in caught.value.images] == [whole]
    assert caught.value.urls == ("an image inside the answer",)
