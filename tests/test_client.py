"""FluxClient against a CometAPI- or Replicate-shaped server over loopback HTTP."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
from PIL import Image

from flux_widgets import (
    ASPECT_RATIOS,
    AuthenticationError,
    ContentFilteredError,
    FluxClient,
    FluxParams,
    FluxTimeoutError,
    MissingAPIKeyError,
    PredictionCanceledError,
)
from flux_widgets.mock import MockConfig, MockServer


def _client(server: MockServer, **kwargs: object) -> FluxClient:
    kwargs.setdefault("sync_wait", False)
    return FluxClient(base_url=server.url, **kwargs)  # type: ignore[arg-type]


def _paths(server: MockServer, method: str | None = None) -> list[str]:
    return [r.path for r in server.state.requests if method in (None, r.method)]


async def test_every_aspect_ratio_and_megapixel_setting_gives_exact_sizes(
    mock_server: MockServer,
) -> None:
    cases = [(ratio, mp) for ratio in ASPECT_RATIOS for mp in ("1", "0.25")]
    async with _client(mock_server, max_concurrency=8) as client:
        results = await asyncio.gather(
            *(
                client.generate(
                    "a paper boat", aspect_ratio=ratio, megapixels=mp, num_outputs=2, seed=1
                )
                for ratio, mp in cases
            )
        )
    for (ratio, mp), images in zip(cases, results, strict=True):
        expected = FluxParams(prompt="x", aspect_ratio=ratio, megapixels=mp).pixel_size()
        assert len(images) == 2
        for image in images:
            assert (image.width, image.height) == expected
            assert image.format == "webp"
            assert Image.open(io.BytesIO(image.data)).size == expected


@pytest.mark.parametrize(("fmt", "pil_format"), [("webp", "WEBP"), ("jpg", "JPEG"), ("png", "PNG")])
async def test_output_format_is_the_one_asked_for(
    mock_server: MockServer, fmt: str, pil_format: str
) -> None:
    async with _client(mock_server) as client:
        images = await client.generate("a fox", output_format=fmt, megapixels="0.25", num_outputs=3)
    assert len(images) == 3
    assert {Image.open(io.BytesIO(i.data)).format for i in images} == {pil_format}
    assert all(i.format == fmt for i in images)


async def test_same_seed_gives_same_bytes_and_other_seed_differs(mock_server: MockServer) -> None:
    async with _client(mock_server) as client:
        # go_fast off: only then does a seed repeat exactly (fp8 varies, on the mock too).
        exact = {"megapixels": "0.25", "go_fast": False}
        first = await client.generate("a lighthouse", seed=42, **exact)
        again = await client.generate("a lighthouse", seed=42, **exact)
        other = await client.generate("a lighthouse", seed=43, **exact)
    assert first[0].data == again[0].data
    assert first[0].data != other[0].data
    assert first[0].seed == 42


async def test_seed_chosen_by_server_is_read_from_logs(mock_server: MockServer) -> None:
    async with _client(mock_server) as client:
        (image,) = await client.generate("a lighthouse", megapixels="0.25")
    assert isinstance(image.seed, int)
    assert image.recipe.seed == image.seed
    assert image.prediction_id
    assert image.download_time is not None and image.predict_time is not None


async def test_urls_object_is_never_followed_and_key_never_reaches_file_host() -> None:
    config = MockConfig(generation_time=0.05, api_key="sk-test-secret-key-0001")
    with MockServer(config) as server:
        # Files on another host name, urls.* on a trap path: both loopback.
        server.config.files_base_url = f"http://localhost:{server.port}"
        server.config.urls_base_url = f"http://127.0.0.1:{server.port}/trap"
        async with _client(server, api_key="sk-test-secret-key-0001") as client:
            images = await client.generate("a boat", num_outputs=2, megapixels="0.25")
        requests = server.state.requests
    assert len(images) == 2
    assert not [r for r in requests if r.path.startswith("/trap")]
    files = [r for r in requests if r.path.startswith("/files/")]
    api = [r for r in requests if not r.path.startswith("/files/")]
    assert len(files) == 2 and all(r.host.startswith("localhost") for r in files)
    assert not any(r.has_authorization for r in files)
    assert api and all(r.auth_scheme == "Bearer" for r in api)


async def test_invalid_params_send_no_request(mock_server: MockServer) -> None:
    async with _client(mock_server) as client:
        for field, bad in (
            ("prompt", {"prompt": ""}),
            ("num_outputs", {"prompt": "x", "num_outputs": 5}),
            ("aspect_ratio", {"prompt": "x", "aspect_ratio": "7:3"}),
            ("num_inference_steps", {"prompt": "x", "num_inference_steps": 0}),
            ("output_quality", {"prompt": "x", "output_quality": 101}),
            ("megapixels", {"prompt": "x", "megapixels": "2"}),
            ("seed", {"prompt": "x", "seed": "7"}),
            ("go_fast", {"prompt": "x", "go_fast": "yes"}),
        ):
            with pytest.raises(ValueError, match=field):
                await client.generate(**bad)
    assert mock_server.state.requests == []


async def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUX_BASE_URL", raising=False)
    with pytest.raises(MissingAPIKeyError, match="COMETAPI_KEY"):
        FluxClient()
    with pytest.raises(MissingAPIKeyError, match="REPLICATE_API_TOKEN"):
        FluxClient(provider="replicate")


def test_key_comes_from_environment_in_documented_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUX_BASE_URL", raising=False)
    monkeypatch.setenv("FLUX_API_KEY", "sk-second")
    assert FluxClient()._settings.api_key == "sk-second"
    monkeypatch.setenv("COMETAPI_KEY", "sk-first")
    assert FluxClient()._settings.api_key == "sk-first"
    assert FluxClient(api_key="sk-arg")._settings.api_key == "sk-arg"
    assert FluxClient().base_url == "https://api.cometapi.com"


def test_key_is_not_in_repr() -> None:
    client = FluxClient(api_key="sk-very-secret-0123456789", base_url="http://127.0.0.1:9")
    assert "sk-very" not in repr(client) and "0123456789" not in str(client)
    assert "sk-very" not in repr(client._settings)


async def test_wrong_key_is_an_authentication_error_without_the_key() -> None:
    with MockServer(MockConfig(generation_time=0.05, api_key="sk-right")) as server:
        async with _client(server, api_key="sk-wrong-key-abcdef") as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.generate("a boat")
    assert "sk-wrong" not in str(caught.value) and "abcdef" not in repr(caught.value)
    assert caught.value.status_code == 401


async def test_replicate_provider_uses_sync_wait_and_does_not_poll(mock_server: MockServer) -> None:
    async with FluxClient(base_url=mock_server.url, provider="replicate") as client:
        images = await client.generate("a boat", megapixels="0.25")
    assert len(images) == 1
    creates = [r for r in mock_server.state.requests if r.method == "POST"]
    assert [r.path for r in creates] == ["/v1/models/black-forest-labs/flux-schnell/predictions"]
    assert creates[0].prefer is not None and creates[0].prefer.startswith("wait")
    assert not [p for p in _paths(mock_server, "GET") if p.startswith("/v1/predictions/")]


async def test_cometapi_without_sync_wait_polls_few_times() -> None:
    with MockServer(MockConfig(generation_time=0.8)) as server:
        async with _client(server) as client:
            await client.generate("warm up", megapixels="0.25")
            server.state.reset()
            await client.generate("a boat", megapixels="0.25")
        queries = [p for p in _paths(server, "GET") if p.startswith("/replicate/v1/predictions/")]
    assert 1 <= len(queries) <= 6


async def test_cancelling_the_task_cancels_the_prediction_on_the_server(
    mock_server: MockServer,
) -> None:
    statuses: list[str] = []
    processing = asyncio.Event()

    def on_status(status: str) -> None:
        statuses.append(status)
        if status == "processing":
            processing.set()

    async with _client(mock_server) as client:
        task = asyncio.create_task(client.generate("[mock:stuck] a boat", on_status=on_status))
        await processing.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    cancels = [p for p in _paths(mock_server, "POST") if p.endswith("/cancel")]
    assert len(cancels) == 1
    (prediction,) = mock_server.state.predictions.values()
    assert statuses[-1] == "canceled"
    assert cancels[0] == f"/replicate/v1/predictions/{prediction.id}/cancel"


async def test_deadline_raises_timeout_and_cancels(mock_server: MockServer) -> None:
    async with _client(mock_server, timeout=0.5) as client:
        with pytest.raises(FluxTimeoutError, match="deadline") as caught:
            await client.generate("[mock:stuck] a boat")
    assert caught.value.prediction_id
    assert [p for p in _paths(mock_server, "POST") if p.endswith("/cancel")]


async def test_failed_statuses_become_typed_errors(mock_server: MockServer) -> None:
    async with _client(mock_server) as client:
        with pytest.raises(ContentFilteredError, match="NSFW"):
            await client.generate("[mock:nsfw] a boat")
        with pytest.raises(PredictionCanceledError):
            await client.generate("[mock:cancel] a boat")


async def test_generate_many_yields_every_result_as_it_completes(mock_server: MockServer) -> None:
    prompts = ["one", "[mock:nsfw] two", "three", "four"]
    async with _client(mock_server, max_concurrency=2) as client:
        results = [r async for r in client.generate_many(prompts, megapixels="0.25")]
    assert sorted(r.index for r in results) == [0, 1, 2, 3]
    by_index = {r.index: r for r in results}
    assert isinstance(by_index[1].error, ContentFilteredError)
    assert all(by_index[i].ok and len(by_index[i].images) == 1 for i in (0, 2, 3))


async def test_generate_many_validates_everything_before_any_request(
    mock_server: MockServer,
) -> None:
    async with _client(mock_server) as client:
        with pytest.raises(ValueError, match="num_outputs"):
            [r async for r in client.generate_many(["ok", FluxParams(prompt="ok")], num_outputs=9)]
    assert mock_server.state.requests == []


async def test_concurrency_is_bounded_across_calls(mock_server: MockServer) -> None:
    mock_server.config.generation_time = 0.2
    async with _client(mock_server, max_concurrency=2) as client:
        await asyncio.gather(*(client.generate(f"p{i}", megapixels="0.25") for i in range(6)))
    creates = sorted(r.time for r in mock_server.state.requests if r.method == "POST")
    # At most two generations in flight: the third create waits for the first to finish.
    assert creates[2] - creates[0] >= 0.15


def test_client_works_on_two_event_loops_in_turn(mock_server: MockServer) -> None:
    client = _client(mock_server)

    async def generate_and_close(prompt: str) -> int:
        images = await client.generate(prompt, megapixels="0.25")
        await client.aclose()
        return len(images)

    assert asyncio.run(generate_and_close("a")) == asyncio.run(generate_and_close("b")) == 1


async def test_mock_client_needs_no_key_and_says_it_is_a_mock() -> None:
    async with FluxClient.mock(sync_wait=False) as client:
        assert client.is_mock
        images = await client.generate("a boat", megapixels="0.25")
    assert len(images) == 1


async def test_debug_logs_never_contain_the_key(caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-log-secret-9876543210"
    with (
        MockServer(MockConfig(generation_time=0.05, api_key=key)) as server,
        caplog.at_level(logging.DEBUG),
    ):
        async with _client(server, api_key=key) as client:
            await client.generate("a boat", megapixels="0.25")
    assert caplog.records
    assert key not in caplog.text and "9876543210" not in caplog.text


async def test_client_on_flux_base_url_learns_the_server_is_the_mock(
    session_mock: MockServer,
) -> None:
    async with FluxClient(sync_wait=False) as client:  # FLUX_BASE_URL points at the mock
        assert not client.is_mock
        await client.generate("a boat", megapixels="0.25")
        assert client.is_mock
