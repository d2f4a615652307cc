"""The mock's Hugging Face family: the Hub's mapping, each route's shape, loading and credits."""

from __future__ import annotations

import pytest

from flux_widgets import FluxClient
from flux_widgets.errors import AuthenticationError, InsufficientCreditError
from flux_widgets.mock import MockConfig
from flux_widgets.mock.huggingface import MAPPING
from flux_widgets.providers.huggingface import HuggingFaceRouter, forget_discovered_routes
from flux_widgets.transport.retry import Backoff


@pytest.fixture(autouse=True)
def fresh_discovery() -> None:
    forget_discovered_routes()


def mock_client(route: str = "auto", **config: object) -> FluxClient:
    client = FluxClient.mock(
        config=MockConfig(generation_time=0.0, **config),  # type: ignore[arg-type]
        provider=HuggingFaceRouter(route),
    )
    client._backoff = Backoff(base=0.01)
    return client


def test_the_mapping_lists_routes_the_client_must_skip_before_the_first_it_speaks() -> None:
    assert MAPPING[0]["provider"] not in ("hf-inference", "together", "nscale", "fal-ai")
    assert MAPPING[1]["status"] != "live"


@pytest.mark.parametrize("route", ["auto", "hf-inference", "together", "nscale", "fal-ai"])
async def test_every_route_makes_one_image_per_call_with_its_seed(route: str) -> None:
    fmt = "jpg" if route in ("together", "fal-ai") else "png"
    async with mock_client(route) as flux:
        images = await flux.generate("a kite", num_outputs=2, seed=10, output_format=fmt)
    assert [(i.seed, i.format) for i in images] == [(10, fmt), (11, fmt)]


async def test_the_replicate_route_is_served_with_the_replicate_protocol() -> None:
    async with mock_client("replicate") as flux:
        [image] = await flux.generate("a kite", seed=3)
    assert image.seed == 3


async def test_a_loading_model_answers_503_once_and_the_client_waits_it_out() -> None:
    async with mock_client("hf-inference") as flux:
        [image] = await flux.generate("a kite [mock:loading]")
    assert image.format == "png"


async def test_used_up_credits_are_a_typed_error_naming_the_billing_page() -> None:
    async with mock_client("together") as flux:
        with pytest.raises(InsufficientCreditError, match="settings/billing"):
            await flux.generate("a kite [mock:credits]", output_format="jpg")


async def test_a_wrong_token_is_refused_in_hf_words() -> None:
    client = FluxClient.mock(
        config=MockConfig(api_key="hf_right"),
        provider=HuggingFaceRouter("hf-inference"),
        api_key="hf_wrong",
    )
    async with client as flux:
        with pytest.raises(AuthenticationError, match="Inference Providers"):
            await flux.generate("a kite")
