"""Hugging Face's router against fakes written from docs/protocol.md's text (not the mock's code).

Each fake is an ``httpx.MockTransport`` handler answering as the section "Hugging Face Inference
Providers" says the router and the Hub answer, so a mistake shared by the provider and the
in-package mock cannot hide.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image

from flux_widgets import FluxClient
from flux_widgets.errors import (
    AuthenticationError,
    InsufficientCreditError,
    InvalidRequestError,
    ServerError,
)
from flux_widgets.providers.huggingface import (
    AUTO_FIELD_MAP,
    BILLING_URL,
    ROUTER_URL,
    HuggingFaceRouter,
    forget_discovered_routes,
)
from flux_widgets.transport.retry import Backoff

TOKEN = "hf_abcdefghijklmnopqrstuvwxyz0123"
HUB = "https://huggingface.co"


def image_bytes(fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1024, 1024), (40, 90, 160)).save(out, fmt)
    return out.getvalue()


PNG = image_bytes()
JPEG = image_bytes("JPEG")


class Fake:
    """The router and the Hub as docs/protocol.md describes them; records every request."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer
        self.mapping: list[dict[str, Any]] = [
            {"provider": "fal-ai", "providerId": "fal-ai/flux/schnell", "status": "live"}
        ]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = request.url
        if url.host == "cdn.fal.media":
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        if url.host == "huggingface.co" and url.path.startswith("/api/models/"):
            return httpx.Response(200, json={"inferenceProviderMapping": self.mapping})
        if self.answer is not None:
            return self.answer(request)
        return self.route(request)

    def route(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        path = request.url.path
        if path.startswith("/hf-inference/models/"):
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        if path.startswith(("/together/", "/nscale/")):
            encoded = base64.b64encode(JPEG if "/together/" in path else PNG).decode()
            return httpx.Response(200, json={"data": [{"b64_json": encoded}]})
        if path == "/fal-ai/fal-ai/flux/schnell":
            url = "https://cdn.fal.media/files/abc.png"
            return httpx.Response(200, json={"images": [{"url": url}], "seed": body["seed"]})
        return httpx.Response(404, json={"error": "Not Found"})

    def bodies(self, prefix: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path.startswith(prefix)]


@pytest.fixture(autouse=True)
def fresh_discovery() -> None:
    forget_discovered_routes()


def client(fake: Fake, route: str = "auto", **kwargs: Any) -> FluxClient:
    made = FluxClient(
        TOKEN,
        provider=HuggingFaceRouter(route),
        base_url=ROUTER_URL,
        transport=httpx.MockTransport(fake),
        **kwargs,
    )
    made._backoff = Backoff(base=0.01)
    return made


async def test_auto_asks_the_hub_once_and_takes_the_first_live_route_it_speaks() -> None:
    fake = Fake()
    fake.mapping = [
        {"provider": "wavespeed", "providerId": "x", "status": "live"},  # not spoken here
        {"provider": "together", "providerId": "t", "status": "staging"},  # not live
        {"provider": "nscale", "providerId": "black-forest-labs/FLUX.1-schnell", "status": "live"},
        {"provider": "fal-ai", "providerId": "fal-ai/flux/schnell", "status": "live"},
    ]
    async with client(fake) as flux:
        await flux.generate("a lighthouse")
        await flux.generate("a lighthouse")
    hub = [r for r in fake.requests if r.url.host == "huggingface.co"]
    assert len(hub) == 1
    assert hub[0].url.params["expand[]"] == "inferenceProviderMapping"
    assert len(fake.bodies("/nscale/v1/images/generations")) == 2


async def test_auto_reads_the_older_mapping_keyed_by_provider_name_too() -> None:
    fake = Fake()
    fake.mapping = {
        "hf-inference": {"providerId": "black-forest-labs/FLUX.1-schnell", "status": "live"}
    }  # type: ignore[assignment]
    async with client(fake) as flux:
        [image] = await flux.generate("a boat")
    assert image.format == "png"
    assert fake.requests[-1].url.path == "/hf-inference/models/black-forest-labs/FLUX.1-schnell"


async def test_num_outputs_on_a_one_image_route_makes_as_many_calls_with_consecutive_seeds() -> (
    None
):
    fake = Fake()
    async with client(fake, "hf-inference") as flux:
        images = await flux.generate("a fox", num_outputs=3, seed=41)
    bodies = fake.bodies("/hf-inference/")
    assert sorted(b["parameters"]["seed"] for b in bodies) == [41, 42, 43]
    assert [(i.index, i.seed) for i in images] == [(0, 41), (1, 42), (2, 43)]
    assert all(b["inputs"] == "a fox" for b in bodies)
    assert bodies[0]["parameters"]["width"] == 1024
    assert fake.requests[0].headers["accept"] == "image/png"


async def test_every_image_records_a_seed_even_when_none_was_given() -> None:
    fake = Fake()
    async with client(fake, "together") as flux:
        images = await flux.generate("a fox", num_outputs=2, output_format="jpg")
    sent = sorted(b["seed"] for b in fake.bodies("/together/"))
    assert sorted(i.seed for i in images) == sent and sent[1] == sent[0] + 1
    body = fake.bodies("/together/")[0]
    assert (body["n"], body["steps"], body["response_format"]) == (1, 4, "base64")
    assert body["model"] == "black-forest-labs/FLUX.1-schnell"


async def test_nscale_sends_a_size_and_no_steps_and_refuses_steps_before_any_request() -> None:
    fake = Fake()
    async with client(fake, "nscale") as flux:
        with pytest.raises(ValueError, match=r"nscale|num_inference_steps"):
            await flux.generate("a fox", num_inference_steps=2)
        assert fake.requests == []
        await flux.generate("a fox", aspect_ratio="16:9")
    body = fake.bodies("/nscale/")[0]
    assert body["size"] == "1344x768" and "steps" not in body and "num_inference_steps" not in body
    assert body["response_format"] == "b64_json"


async def test_the_key_goes_to_the_router_and_the_hub_but_never_to_the_file_host() -> None:
    fake = Fake()
    async with client(fake, "auto") as flux:
        [image] = await flux.generate("a fox", output_format="png")
    by_host = {r.url.host: r.headers.get("authorization") for r in fake.requests}
    assert by_host["router.huggingface.co"] == f"Bearer {TOKEN}"
    assert by_host["huggingface.co"] == f"Bearer {TOKEN}"
    assert by_host["cdn.fal.media"] is None
    assert image.url == "https://cdn.fal.media/files/abc.png"


async def test_a_loading_model_is_waited_out_within_the_deadline() -> None:
    calls: list[int] = []

    def loading_once(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            body = {"error": "Model is currently loading", "estimated_time": 0.05}
            return httpx.Response(503, json=body)
        return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})

    async with client(Fake(loading_once), "hf-inference") as flux:
        [image] = await flux.generate("a fox")
    assert len(calls) == 2 and image.format == "png"


async def test_a_model_loading_past_the_deadline_is_reported_not_slept() -> None:
    def loading(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": "loading", "estimated_time": 500.0})

    async with client(Fake(loading), "hf-inference", timeout=5) as flux:
        with pytest.raises(ServerError, match="loading") as caught:
            await flux.generate("a fox")
    assert caught.value.retry_after is not None


@pytest.mark.parametrize(
    ("status", "body", "headers", "error_type", "words"),
    [
        (402, {"error": "You have exceeded your monthly included credits"}, {}, InsufficientCreditError, BILLING_URL),  # noqa: E501
        (401, {"error": "Invalid credentials"}, {}, AuthenticationError, "Inference Providers"),
        (403, None, {"X-Error-Message": "token lacks permission"}, AuthenticationError, "token lacks permission"),  # noqa: E501
        (410, {"error": "api-inference is no longer supported"}, {}, InvalidRequestError, ROUTER_URL),  # noqa: E501
        (400, None, {"X-Error-Message": "width must be a multiple of 8", "X-Error-Code": "bad"}, InvalidRequestError, "multiple of 8"),  # noqa: E501
        (400, {"error": ["inputs is required", "width too large"]}, {}, InvalidRequestError, "inputs is required"),  # noqa: E501
    ],
)  # fmt: skip
async def test_hf_error_answers_become_typed_errors_in_hf_words(
    status: int, body: Any, headers: dict[str, str], error_type: type, words: str
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    async with client(Fake(refuse), "hf-inference") as flux:
        with pytest.raises(error_type) as caught:
            await flux.generate("a fox")
    assert words in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN[3:15] not in repr(caught.value.__dict__)


async def test_an_error_quoting_the_token_never_shows_it() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        said = f"bad token {request.headers['authorization']}"
        return httpx.Response(401, json={"error": said}, headers={"X-Error-Message": said})

    async with client(Fake(echo), "together") as flux:
        with pytest.raises(AuthenticationError) as caught:
            await flux.generate("a fox", output_format="jpg")
    assert TOKEN not in str(caught.value) and TOKEN not in str(caught.value.detail)


async def test_a_failed_call_returns_the_paid_images_of_the_others_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def second_fails(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["parameters"]["seed"] == 2:
            return httpx.Response(402, json={"error": "credits exhausted"})
        return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})

    async with client(Fake(second_fails), "hf-inference") as flux:
        images = await flux.generate("a fox", num_outputs=3, seed=1)
        # The two calls that made an image are paid for: they are the answer, in call order.
        assert [image.seed for image in images] == [1, 3]
        assert [image.index for image in images] == [0, 1]
        assert all(image.data == PNG for image in images)
        assert flux.unclaimed_outputs == []
    assert "made only 2 of 3 images" in caplog.text and "credits" in caplog.text


async def test_every_call_failing_raises_the_typed_error() -> None:
    def out_of_credits(request: httpx.Request) -> httpx.Response:
        return httpx.Response(402, json={"error": "credits exhausted"})

    async with client(Fake(out_of_credits), "hf-inference") as flux:
        with pytest.raises(InsufficientCreditError):
            await flux.generate("a fox", num_outputs=3, seed=1)
        assert flux.unclaimed_outputs == []


def test_auto_accepts_only_what_every_route_honours() -> None:
    auto = HuggingFaceRouter("auto")
    assert auto.field_map is AUTO_FIELD_MAP
    assert not auto.capabilities.supports("num_inference_steps")  # nscale drops steps
    assert auto.capabilities.allowed_choices("output_format") == ("png",)
    assert auto.defaults()["output_format"] == "png"
    assert HuggingFaceRouter("replicate").capabilities.supports("go_fast")


def test_the_route_comes_from_flux_hf_route_and_a_bad_one_is_refused() -> None:
    from flux_widgets.providers import resolve_settings

    settings = resolve_settings(
        provider="huggingface", environ={"HF_TOKEN": TOKEN, "FLUX_HF_ROUTE": "fal-ai"}
    )
    assert isinstance(settings.provider, HuggingFaceRouter)
    assert settings.provider.route == "fal-ai"
    with pytest.raises(ValueError, match="route must be one of"):
        resolve_settings(provider="huggingface", environ={"HF_TOKEN": TOKEN, "FLUX_HF_ROUTE": "x"})


def test_there_is_no_cancel_and_the_note_says_so() -> None:
    assert not HuggingFaceRouter("together").can_cancel
    assert "no server-side cancel" in HuggingFaceRouter().cancel_note
