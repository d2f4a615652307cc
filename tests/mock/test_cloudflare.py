"""Cloudflare Workers AI in the mock (mock/cloudflare.py), over HTTP and through the client."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mock_support import Configure
from PIL import Image

from flux_widgets import FluxClient
from flux_widgets.errors import AllowanceExhaustedError, AuthenticationError
from flux_widgets.mock import FaultConfig, MockServer
from flux_widgets.mock.cloudflare import CLOUDFLARE, MODEL, neurons
from flux_widgets.spending.allowance import reset_session_allowances

RUN = f"/client/v4/accounts/acct123/ai/run/{MODEL}"


@pytest.fixture(autouse=True)
def fresh_count(module_server: MockServer) -> Iterator[None]:
    CLOUDFLARE.forget(module_server.state)
    reset_session_allowances()
    yield
    CLOUDFLARE.daily_neurons = 10_000.0
    CLOUDFLARE.forget(module_server.state)


def run(http: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("prompt", "a paper boat on calm water")
    return http.post(RUN, json=body)


def test_an_answer_is_the_v4_envelope_with_one_base64_jpeg_of_1024(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0.0)
    response = run(http, steps=4, seed=3)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["errors"] == [] and body["messages"] == []
    data = base64.b64decode(body["result"]["image"])
    assert data.startswith(b"\xff\xd8\xff")
    assert Image.open(io.BytesIO(data)).size == (1024, 1024)


@pytest.mark.parametrize(
    "body",
    [{"width": 512}, {"steps": 9}, {"steps": 0}, {"num_outputs": 2}, {"prompt": "x" * 2049}],
)
def test_what_the_models_schema_does_not_take_is_refused_with_3003(
    mock: Configure, http: httpx.Client, body: dict[str, Any]
) -> None:
    mock(generation_time=0.0)
    response = run(http, **body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == 3003


def test_eight_steps_are_accepted_as_the_model_allows(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0.0)
    assert run(http, steps=8).status_code == 200


def test_the_daily_allocation_is_counted_in_neurons_then_answered_3036(
    mock: Configure, module_server: MockServer, http: httpx.Client
) -> None:
    mock(generation_time=0.0)
    CLOUDFLARE.daily_neurons = neurons(4) * 2  # two images' worth
    assert run(http, steps=4).status_code == 200
    assert run(http, steps=4).status_code == 200
    used_up = run(http, steps=4)
    assert used_up.status_code == 429 and used_up.json()["errors"][0]["code"] == 3036
    # Another account has its own allocation.
    other = http.post(RUN.replace("acct123", "other"), json={"prompt": "x", "steps": 4})
    assert other.status_code == 200
    assert CLOUDFLARE.used(module_server.state, "acct123") == pytest.approx(neurons(4) * 2)


def test_a_default_day_buys_about_168_images_of_1_mp_at_4_steps() -> None:
    assert int(10_000 // neurons(4)) == 168


def test_errors_and_faults_use_the_v4_envelope(mock: Configure, http: httpx.Client) -> None:
    mock(api_key="cf-secret")
    refused = http.post(RUN, json={"prompt": "x"}, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and refused.json()["success"] is False
    mock(generation_time=0.0, faults=FaultConfig(rate_limit_creates=1))
    limited = run(http)
    assert limited.status_code == 429 and limited.json()["errors"][0]["code"] == 3040
    mock(generation_time=0.0)
    assert run(http, prompt="x [mock:abort]").json()["errors"][0]["code"] == 3040
    assert run(http, prompt="x [mock:daily-limit]").json()["errors"][0]["code"] == 3036


async def test_the_client_gets_several_images_through_the_mock_with_their_seeds(
    mock: Configure,
) -> None:
    server = mock(generation_time=0.05)
    async with FluxClient(provider="cloudflare", base_url=server.url) as client:
        images = await client.generate("three boats", num_outputs=3, seed=10)
    assert [image.seed for image in images] == [10, 11, 12]
    assert len({image.data for image in images}) == 3  # distinct seeds, distinct images
    runs = [r for r in server.state.requests if "/ai/run/" in r.path]
    assert len(runs) == 3  # one request per image: nothing the protocol does not force


async def test_the_client_raises_the_3036_at_once_and_counts_the_allowance_used_up(
    mock: Configure,
) -> None:
    server = mock(generation_time=0.0)
    async with FluxClient(provider="cloudflare", base_url=server.url) as client:
        with pytest.raises(AllowanceExhaustedError, match="00:00 UTC"):
            await client.generate("x [mock:daily-limit]")
        assert client.usage.allowance == "free today: used up (resets 00:00 UTC)"
    assert len([r for r in server.state.requests if "/ai/run/" in r.path]) == 1


async def test_a_wrong_token_is_an_authentication_error_without_the_token(
    mock: Configure,
) -> None:
    server = mock(api_key="cf-secret")
    async with FluxClient(
        api_key="cf-wrong-token-123", provider="cloudflare", base_url=server.url
    ) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.generate("x")
    assert "cf-wrong-token-123" not in str(caught.value)
