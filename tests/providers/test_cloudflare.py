"""Cloudflare Workers AI (providers/cloudflare.py) against a fake written from docs/protocol.md.

The fake below is built from the text of docs/protocol.md ("Cloudflare Workers AI"), not from
the mock's code, so a misreading shared by the provider and the mock cannot hide here.
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

from flux_widgets import FluxClient, FluxParams
from flux_widgets.errors import (
    AllowanceExhaustedError,
    AuthenticationError,
    InvalidRequestError,
    MissingAPIKeyError,
    RateLimitError,
    ServerError,
)
from flux_widgets.providers import PROVIDERS, resolve_settings
from flux_widgets.providers.cloudflare import CLOUDFLARE, MODEL
from flux_widgets.spending.allowance import reset_session_allowances
from flux_widgets.transport.retry import Backoff

TOKEN = "cf-token-0123456789abcdef"
ACCOUNT = "0123456789abcdef0123456789abcdef"
RUN_URL = f"https://api.cloudflare.com/client/v4/accounts/{ACCOUNT}/ai/run/{MODEL}"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1024, 1024), "orange").save(out, "JPEG")
    return out.getvalue()


def success() -> httpx.Response:
    image = base64.b64encode(jpeg()).decode()
    body = {"result": {"image": image}, "success": True, "errors": [], "messages": []}
    return httpx.Response(200, json=body)


def failure(status: int, code: int, message: str) -> httpx.Response:
    body = {"result": None, "success": False, "errors": [{"code": code, "message": message}]}
    return httpx.Response(status, json=body)


class Fake:
    """Workers AI as docs/protocol.md describes it: records every request it receives."""

    def __init__(self, answer: Callable[[dict[str, Any]], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []
        self.answer = answer or (lambda body: success())

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.method == "POST" and str(request.url) == RUN_URL
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        body = json.loads(request.content)
        # The model's schema: prompt and steps (1-8); seed as Cloudflare's own example passes.
        assert set(body) <= {"prompt", "steps", "seed"}, body
        assert 1 <= body["steps"] <= 8
        self.bodies.append(body)
        return self.answer(body)


@pytest.fixture(autouse=True)
def fresh_allowances() -> None:
    reset_session_allowances()  # the session's counters are per process


@pytest.fixture
def cloudflare_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLUX_BASE_URL", "FLUX_WIDGETS_MOCK", "FLUX_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)


def client_for(fake: Fake) -> FluxClient:
    client = FluxClient(provider="cloudflare", transport=httpx.MockTransport(fake))
    client._backoff = Backoff(base=0.01, cap=0.02)
    return client


@pytest.mark.usefixtures("cloudflare_env")
async def test_one_image_is_one_post_with_prompt_steps_and_the_clients_seed() -> None:
    fake = Fake()
    async with client_for(fake) as client:
        images = await client.generate("a lighthouse at dawn")
    assert len(fake.requests) == 1
    body = fake.bodies[0]
    assert body["prompt"] == "a lighthouse at dawn" and body["steps"] == 4
    assert isinstance(body["seed"], int)  # sent by the client: the answer does not say it
    assert images[0].seed == body["seed"]
    assert images[0].data.startswith(b"\xff\xd8\xff")
    assert images[0].params.output_format == "jpg"


@pytest.mark.usefixtures("cloudflare_env")
async def test_num_outputs_makes_one_call_per_image_with_distinct_seeds() -> None:
    fake = Fake()
    async with client_for(fake) as client:
        images = await client.generate("three foxes", num_outputs=3, seed=41)
    assert sorted(body["seed"] for body in fake.bodies) == [41, 42, 43]
    assert [image.seed for image in images] == [41, 42, 43]
    assert [image.index for image in images] == [0, 1, 2]


@pytest.mark.usefixtures("cloudflare_env")
async def test_seeds_of_several_calls_wrap_within_the_random_seed_range() -> None:
    fake = Fake()
    async with client_for(fake) as client:
        images = await client.generate("edge", num_outputs=2, seed=2**32 - 1)
    assert [image.seed for image in images] == [2**32 - 1, 0]


@pytest.mark.usefixtures("cloudflare_env")
async def test_the_daily_allocation_429_is_raised_at_once_and_says_when_it_resets() -> None:
    fake = Fake(lambda body: failure(429, 3036, "daily free allocation of 10,000 neurons used up"))
    async with client_for(fake) as client:
        with pytest.raises(AllowanceExhaustedError) as caught:
            await client.generate("one more")
        assert "00:00 UTC" in str(caught.value) and " h " in str(caught.value)
        assert caught.value.resets_at is not None and caught.value.resets_at.hour == 0
        assert len(fake.requests) == 1  # never retried
        assert "used up" in (client.usage.allowance or "")


@pytest.mark.usefixtures("cloudflare_env")
async def test_out_of_capacity_429_is_retried_like_a_rate_limit() -> None:
    answers = iter([failure(429, 3040, "Capacity temporarily exceeded"), success()])
    fake = Fake(lambda body: next(answers))
    async with client_for(fake) as client:
        images = await client.generate("busy day")
    assert len(fake.requests) == 2 and len(images) == 1


@pytest.mark.usefixtures("cloudflare_env")
async def test_capacity_that_never_comes_back_is_a_rate_limit_error() -> None:
    fake = Fake(lambda body: failure(429, 3040, "Capacity temporarily exceeded"))
    async with client_for(fake) as client:
        with pytest.raises(RateLimitError, match="out of capacity"):
            await client.generate("busy day")


@pytest.mark.parametrize(
    ("status", "code", "error", "words"),
    [
        (408, 3007, ServerError, "timed out"),
        (413, 3006, InvalidRequestError, "too large"),
        (400, 5007, InvalidRequestError, "no model"),
        (400, 3003, InvalidRequestError, "incomplete"),
        (403, 3023, AuthenticationError, "Workers AI"),
        (401, 10000, AuthenticationError, "permission"),
    ],
)
@pytest.mark.usefixtures("cloudflare_env")
async def test_each_documented_error_code_is_a_typed_error_naming_the_code(
    status: int, code: int, error: type[Exception], words: str
) -> None:
    fake = Fake(lambda body: failure(status, code, f"cloudflare says {code}"))
    async with client_for(fake) as client:
        with pytest.raises(error) as caught:
            await client.generate("x")
    assert words in str(caught.value) and f"code {code}" in str(caught.value)
    assert len(fake.requests) == 1  # none of these is worth another paid try


@pytest.mark.usefixtures("cloudflare_env")
async def test_a_token_echoed_in_an_error_never_reaches_the_message() -> None:
    fake = Fake(lambda body: failure(401, 10000, f"bad token {TOKEN}"))
    async with client_for(fake) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.generate("x")
    assert TOKEN not in str(caught.value) and TOKEN[:8] not in repr(caught.value.__dict__)


@pytest.mark.parametrize(
    "values",
    [
        {"output_format": "png"},
        {"output_format": "webp"},
        {"aspect_ratio": "16:9"},
        {"megapixels": "0.25"},
        {"go_fast": False},
    ],
)
@pytest.mark.usefixtures("cloudflare_env")
async def test_what_workers_ai_cannot_honour_is_refused_before_any_request(
    values: dict[str, Any],
) -> None:
    fake = Fake()
    async with client_for(fake) as client:
        with pytest.raises(ValueError, match="cloudflare"):
            await client.generate("x", **values)
    assert fake.requests == []


def test_the_refusal_of_a_size_or_format_names_the_way_out() -> None:
    with pytest.raises(ValueError, match=r"output_format='jpg'.*image\.save"):
        CLOUDFLARE.prepare(FluxParams(prompt="x", output_format="png"))


def test_steps_go_up_to_the_models_eight_only_where_the_schema_allows() -> None:
    low, high = CLOUDFLARE.capabilities.allowed_bounds("num_inference_steps") or (0, 0)
    assert low == 1 and high <= 8


def test_the_default_format_is_jpeg_the_only_one_it_returns() -> None:
    assert CLOUDFLARE.defaults() == {"output_format": "jpg"}


def test_a_missing_account_id_names_where_to_find_it() -> None:
    env = {"CLOUDFLARE_API_TOKEN": TOKEN}
    with pytest.raises(MissingAPIKeyError, match=r"CLOUDFLARE_ACCOUNT_ID.*Workers AI page"):
        resolve_settings(provider="cloudflare", environ=env)


def test_a_missing_token_names_the_token_variable() -> None:
    with pytest.raises(MissingAPIKeyError, match="CLOUDFLARE_API_TOKEN"):
        resolve_settings(provider="cloudflare", environ={"CLOUDFLARE_ACCOUNT_ID": ACCOUNT})


def test_an_account_id_that_could_change_the_path_is_refused() -> None:
    env = {"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_ACCOUNT_ID": "../../zones"}
    with pytest.raises(ValueError, match="account id"):
        resolve_settings(provider="cloudflare", environ=env)


def test_the_token_is_sent_only_to_cloudflares_api_origin() -> None:
    settings = resolve_settings(
        provider="cloudflare",
        environ={"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_ACCOUNT_ID": ACCOUNT},
    )
    assert settings.provider.key_origin(settings.base_url) == "https://api.cloudflare.com"
    auth = settings.provider.auth(TOKEN, settings.base_url)
    elsewhere = httpx.Request("GET", "https://files.example.com/image.jpg")
    assert "authorization" not in next(auth.auth_flow(elsewhere)).headers
    own = httpx.Request("POST", RUN_URL)
    assert next(auth.auth_flow(own)).headers["authorization"] == f"Bearer {TOKEN}"


def test_the_price_is_per_tile_and_per_step() -> None:
    price = CLOUDFLARE.price
    one_mp = FluxParams(prompt="x", output_format="jpg")
    # docs/protocol.md: 4 tiles x $0.000053 + 4 steps x $0.00011, about $0.00065.
    assert price.per_output(one_mp) == pytest.approx(4 * 0.000053 + 4 * 0.00011)
    two_steps = one_mp.replace(num_inference_steps=2)
    assert price.per_output(two_steps) == pytest.approx(4 * 0.000053 + 2 * 0.00011)
    assert "per 512x512 tile" in price.describe() and "per step" in price.describe()
    assert "e-" not in price.describe() and price.as_of


def test_the_free_allowance_buys_about_168_images_a_day() -> None:
    allowance = CLOUDFLARE.free_allowance
    assert allowance is not None and allowance.period == "day"
    per_image = allowance.units_for(CLOUDFLARE.price.per_output(FluxParams(prompt="x")))
    assert per_image is not None and int(allowance.amount // per_image) == 168


def test_cloudflare_is_registered() -> None:
    assert PROVIDERS["cloudflare"] is CLOUDFLARE
