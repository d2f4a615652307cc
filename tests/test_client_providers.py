"""FluxClient(provider="fal" | "together") against the mock's fal queue and images endpoint.

The same client code runs every provider: sizes, formats and seeds, values refused before any
request, typed errors, cancel reaching fal, no key on a file host, retries that never pay twice,
deadlines. Shapes the mock never sends go through ``httpx.MockTransport`` fakes at the end.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from flux_widgets import (
    AuthenticationError,
    ContentFilteredError,
    FluxClient,
    FluxConnectionError,
    FluxParams,
    FluxTimeoutError,
    InvalidRequestError,
    PredictionFailedError,
    RateLimitError,
    ServerError,
)
from flux_widgets.mock import FaultConfig, MockConfig, MockServer
from flux_widgets.providers import OpenAIImages
from flux_widgets.transport.retry import Backoff

FAL_KEY = "fal-test-key-1234"
TOGETHER_KEY = "together-test-key-1234"
SUBMIT = "/fal-ai/flux/schnell"
IMAGES = "/v1/images/generations"


@pytest.fixture
def server(module_server: MockServer) -> Iterator[MockServer]:
    module_server.state.reset(MockConfig(generation_time=0.05))
    yield module_server


def configure(server: MockServer, **settings: Any) -> MockServer:
    settings.setdefault("generation_time", 0.05)
    server.state.reset(MockConfig(**settings))
    return server


def client(server: MockServer, provider: Any, key: str | None = None, **kwargs: Any) -> FluxClient:
    made = FluxClient(api_key=key, base_url=server.url, provider=provider, **kwargs)
    made._backoff = Backoff(base=0.01, cap=0.05)  # fast retries; the rules stay the same
    return made


def requests(server: MockServer, method: str | None = None, path: str = "") -> list[Any]:
    return [
        r
        for r in server.state.requests
        if (method is None or r.method == method) and r.path.startswith(path)
    ]


# --- fal --------------------------------------------------------------------------------------


async def test_fal_sizes_format_seed_and_the_key_only_on_the_queue(server: MockServer) -> None:
    configure(server, api_key=FAL_KEY)
    async with client(server, "fal", FAL_KEY) as fal:
        images = await fal.generate("a paper boat", aspect_ratio="16:9", num_outputs=2, seed=5)
    assert [(i.width, i.height, i.format, i.seed) for i in images] == [(1344, 768, "jpg", 5)] * 2
    assert Image.open(io.BytesIO(images[0].data)).format == "JPEG"
    api = [r for r in server.state.requests if not r.path.startswith("/files/")]
    files = requests(server, "GET", "/files/")
    assert {r.auth_scheme for r in api} == {"Key"}
    assert len(files) == 2 and not any(r.has_authorization for r in files)
    assert all("/schnell/requests" not in r.path for r in api)


async def test_fal_seed_chosen_by_the_server_comes_from_the_result(server: MockServer) -> None:
    async with client(server, "fal") as fal:
        (image,) = await fal.generate("a lighthouse", output_format="png", megapixels="0.25")
    (prediction,) = server.state.predictions.values()
    assert image.seed == prediction.seed and image.prediction_id == prediction.id
    assert (image.width, image.height, image.format) == (512, 512, "png")
    assert image.recipe.seed == prediction.seed


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"output_format": "webp"}, "fal cannot give output_format='webp'"),
        ({"go_fast": False}, "fal has no go_fast"),
        ({"num_outputs": 5}, "num_outputs must be from 1 to 4"),
    ],
)
async def test_fal_values_it_cannot_honour_are_refused_before_any_request(
    server: MockServer, values: dict[str, Any], message: str
) -> None:
    async with client(server, "fal") as fal:
        with pytest.raises(ValueError, match=message):
            await fal.generate("x", **values)
        with pytest.raises(ValueError, match="fal cannot give output_format='webp'"):
            await fal.generate(FluxParams(prompt="x"))  # an explicit webp stays webp: refused
    assert server.state.requests == []


async def test_fal_queue_position_and_logs_are_the_jobs_detail(server: MockServer) -> None:
    # Queued 0.3 s, then running until 1.5 s: the first poll (about 0.8 s in) sees it running.
    configure(server, generation_time=1.5, start_delay=0.3)
    statuses: list[str] = []
    details: list[str] = []
    async with client(server, "fal") as fal:
        await fal.generate("x", on_status=statuses.append, on_detail=details.append)
    assert statuses == ["starting", "processing", "downloading", "succeeded"]
    assert details[0] == "next in queue"
    (prediction,) = server.state.predictions.values()
    assert f"Using seed: {prediction.seed}" in details


async def test_cancelling_a_fal_generation_cancels_the_request_on_fal(server: MockServer) -> None:
    configure(server, generation_time=30.0, start_delay=10.0)
    async with client(server, "fal") as fal:
        task = asyncio.create_task(fal.generate("x"))
        await asyncio.sleep(0.3)  # submitted, and queued for 10 s
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    (prediction,) = server.state.predictions.values()
    cancels = requests(server, "PUT")
    assert [r.path for r in cancels] == [f"/fal-ai/flux/requests/{prediction.id}/cancel"]
    assert prediction.canceled_at is not None


async def test_fal_deadline_cancels_and_raises_a_timeout(server: MockServer) -> None:
    async with client(server, "fal", timeout=0.5) as fal:
        with pytest.raises(FluxTimeoutError) as caught:
            await fal.generate("x [mock:stuck]")
    (prediction,) = server.state.predictions.values()
    assert caught.value.prediction_id == prediction.id
    assert prediction.canceled_at is not None and len(requests(server, "PUT")) == 1


async def test_fal_nsfw_and_failures_are_typed(server: MockServer) -> None:
    async with client(server, "fal") as fal:
        with pytest.raises(ContentFilteredError):
            await fal.generate("x [mock:nsfw]", num_outputs=2)
        with pytest.raises(PredictionFailedError, match="crashed") as failed:
            await fal.generate("x [mock:fail]")
    assert failed.value.prediction_id is not None
    assert requests(server, "GET", "/files/") == []  # black NSFW images are never fetched


async def test_fal_submit_retries_only_what_was_refused(server: MockServer) -> None:
    configure(server, faults=FaultConfig(rate_limit_creates=1, retry_after=0, query_errors=2))
    async with client(server, "fal") as fal:
        images = await fal.generate("x")
    assert len(images) == 1
    assert len(requests(server, "POST", SUBMIT)) == 2 and server.state.creates == 1


async def test_fal_submit_that_times_out_is_never_sent_twice(server: MockServer) -> None:
    configure(server, faults=FaultConfig(create_delay=2.0))
    fal = client(server, "fal", timeout=10)
    fal._timeouts = dataclass_replace(fal._timeouts, create=0.3)
    async with fal:
        with pytest.raises(FluxConnectionError, match="paid twice"):
            await fal.generate("x")
    assert server.state.creates == 1 and len(requests(server, "POST", SUBMIT)) == 1


def dataclass_replace(value: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(value, **changes)


# --- Together -----------------------------------------------------------------------------------


async def test_together_base64_images_sizes_and_no_second_download(server: MockServer) -> None:
    configure(server, api_key=TOGETHER_KEY)
    async with client(server, "together", TOGETHER_KEY) as together:
        images = await together.generate(
            "a paper boat", aspect_ratio="9:16", num_outputs=2, seed=11, num_inference_steps=2
        )
    assert [(i.width, i.height, i.format, i.seed) for i in images] == [(768, 1344, "jpg", 11)] * 2
    (prediction,) = server.state.predictions.values()
    assert prediction.params.num_inference_steps == 2  # steps were sent
    assert [r.path for r in server.state.requests] == [IMAGES]  # one call, no file download
    assert server.state.requests[0].auth_scheme == "Bearer"


async def test_together_records_the_seed_the_client_picked(server: MockServer) -> None:
    async with client(server, "together") as together:
        (image,) = await together.generate("x", output_format="png")
    (prediction,) = server.state.predictions.values()
    assert image.seed is not None and image.seed == prediction.seed
    assert image.recipe.seed == image.seed and image.format == "png"


async def test_together_refuses_what_it_cannot_honour_before_any_request(
    server: MockServer,
) -> None:
    async with client(server, "together") as together:
        with pytest.raises(ValueError, match="together cannot give output_format='webp'"):
            await together.generate("x", output_format="webp")
        with pytest.raises(ValueError, match="together has no disable_safety_checker"):
            await together.generate("x", disable_safety_checker=True)
    assert server.state.requests == []


async def test_together_create_retries_a_refusal_never_a_possibly_billed_answer(
    server: MockServer,
) -> None:
    configure(server, faults=FaultConfig(create_unavailable=1, rate_limit_creates=1, retry_after=0))
    async with client(server, "together") as together:
        assert len(await together.generate("x")) == 1
    assert len(requests(server, "POST")) == 3 and server.state.creates == 1
    configure(server)
    async with client(server, "together") as together:
        with pytest.raises(ServerError):  # a 500 after the model ran: not retried
            await together.generate("x [mock:fail]")
    assert len(requests(server, "POST")) == 1


async def test_together_create_that_times_out_is_never_sent_twice(server: MockServer) -> None:
    configure(server, faults=FaultConfig(create_delay=3.0))
    async with client(server, "together", timeout=1.0) as together:
        with pytest.raises(FluxTimeoutError):
            await together.generate("x")
    assert len(requests(server, "POST")) == 1 and server.state.creates == 1


async def test_cancelling_together_sends_no_cancel_request(server: MockServer) -> None:
    configure(server, generation_time=5.0)
    async with client(server, "together") as together:
        task = asyncio.create_task(together.generate("x"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [r.method for r in server.state.requests] == ["POST"]
    for prediction in server.state.predictions.values():
        prediction.cancel(server.state.now())  # ends the mock's held answer: a clean shutdown


async def test_together_errors_are_typed(server: MockServer) -> None:
    configure(server, api_key=TOGETHER_KEY)
    async with client(server, "together", "wrong-key-5678") as together:
        with pytest.raises(AuthenticationError) as caught:
            await together.generate("x")
    assert "wrong-key-5678" not in str(caught.value)
    configure(server, faults=FaultConfig(rate_limit_creates=10, retry_after=0))
    async with client(server, "together", max_retries=1) as together:
        with pytest.raises(RateLimitError):
            await together.generate("x")
    assert server.state.creates == 0


async def test_url_results_are_downloaded_with_a_user_agent_and_no_key(server: MockServer) -> None:
    configure(server, api_key=TOGETHER_KEY)
    urls = OpenAIImages(
        "together-urls",
        title="Together AI (URLs)",
        default_base_url="https://api.together.xyz",
        key_env_vars=("TOGETHER_API_KEY",),
        console="https://api.together.ai/settings/api-keys",
        model="black-forest-labs/FLUX.1-schnell",
        response_format="url",
    )
    async with client(server, urls, TOGETHER_KEY) as together:
        images = await together.generate("x", num_outputs=2, seed=3)
    files = requests(server, "GET", "/files/")
    assert len(images) == 2 and len(files) == 2  # the CDN answers 403 without a User-Agent
    assert not any(r.has_authorization for r in files)


# --- shapes the mock never sends (fakes from the providers' docs) ------------------------------

PNG = base64.b64encode(
    (lambda b: (Image.new("RGB", (64, 48), "red").save(b, "PNG"), b.getvalue())[1])(io.BytesIO())
).decode()


def fal_fake(result: httpx.Response, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if request.method == "POST" and path == SUBMIT:
            return httpx.Response(200, json={"request_id": "r1", "status": "IN_QUEUE"})
        if path.endswith("/status"):
            return httpx.Response(200, json={"status": "COMPLETED", "logs": []})
        if path == "/fal-ai/flux/requests/r1":
            return result
        if request.url.host == "v3.fal.media":
            data = base64.b64decode(PNG)
            return httpx.Response(200, content=data, headers={"content-type": "image/png"})
        return httpx.Response(404, json={"detail": "Not Found"})

    return httpx.MockTransport(handle)


async def test_fal_partial_nsfw_keeps_the_clean_images_and_data_uris_decode() -> None:
    seen: list[httpx.Request] = []
    result = httpx.Response(
        200,
        json={
            "images": [
                {"url": "https://v3.fal.media/files/a.png"},
                {"url": "https://v3.fal.media/files/b.png"},
                {"url": f"data:image/png;base64,{PNG}"},
            ],
            "seed": 77,
            "has_nsfw_concepts": [True, False, False],
        },
    )
    fal = FluxClient(
        api_key=FAL_KEY,
        provider="fal",
        base_url="https://queue.fal.run",
        transport=fal_fake(result, seen),
    )
    async with fal:
        images = await fal.generate("x", num_outputs=3, output_format="png")
    assert [(i.seed, i.width, i.index) for i in images] == [(77, 64, 0), (77, 64, 1)]
    cdn = [r for r in seen if r.url.host == "v3.fal.media"]
    assert [r.url.path for r in cdn] == ["/files/b.png"]
    assert all("authorization" not in r.headers for r in cdn)
    assert all(r.headers["authorization"] == f"Key {FAL_KEY}" for r in seen if r not in cdn)


async def test_fal_validation_error_from_the_result_is_an_invalid_request() -> None:
    body = {"detail": [{"loc": ["body", "image_size"], "msg": "too large", "type": "value_error"}]}
    fal = FluxClient(
        api_key=FAL_KEY,
        provider="fal",
        base_url="https://queue.fal.run",
        transport=fal_fake(httpx.Response(422, json=body), []),
    )
    async with fal:
        with pytest.raises(InvalidRequestError) as caught:
            await fal.generate("x")
    assert caught.value.invalid_fields == ("image_size",)


async def test_together_body_sent_is_the_documented_shape() -> None:
    seen: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        data = [{"index": 0, "b64_json": PNG}]
        return httpx.Response(200, json={"id": "g1", "object": "list", "data": data})

    together = FluxClient(
        api_key=TOGETHER_KEY,
        provider="together",
        base_url="https://api.together.xyz",
        transport=httpx.MockTransport(handle),
    )
    async with together:
        (image,) = await together.generate("x", output_format="png", seed=9, megapixels="0.25")
    assert seen == [
        {
            "model": "black-forest-labs/FLUX.1-schnell",
            "prompt": "x",
            "width": 512,
            "height": 512,
            "steps": 4,
            "n": 1,
            "response_format": "base64",
            "output_format": "png",
            "seed": 9,
        }
    ]
    assert (image.seed, image.prediction_id, image.width) == (9, "g1", 64)
