"""The price table: per image, per megapixel (rounded up), unknown stays unknown, overrides."""

from __future__ import annotations

import pytest

from flux_widgets import FluxParams
from flux_widgets.spending.prices import DEFAULT_PRICES, Price, dollars, estimate_cost, price_table


def test_per_image_price_counts_every_output() -> None:
    params = FluxParams(prompt="x", num_outputs=3)
    assert estimate_cost("replicate", params) == pytest.approx(3 * 0.003)


def test_per_megapixel_price_counts_1024x1024_as_one_and_rounds_up() -> None:
    # Every 1 MP size of the pixel table is at most 1024x1024 pixels: one billed megapixel.
    for ratio in ("1:1", "16:9", "21:9", "9:21", "4:5"):
        params = FluxParams(prompt="x", aspect_ratio=ratio)
        assert estimate_cost("fal", params) == pytest.approx(0.003), ratio
    # A quarter megapixel is rounded up to one, never under-counted.
    small = FluxParams(prompt="x", megapixels="0.25")
    assert estimate_cost("fal", small) == pytest.approx(0.003)
    two = FluxParams(prompt="x", num_outputs=2)
    assert estimate_cost("fal", two) == pytest.approx(0.006)


def test_unknown_price_is_none_not_zero() -> None:
    assert estimate_cost("cometapi", FluxParams(prompt="x")) is None
    assert estimate_cost("no-such-provider", FluxParams(prompt="x")) is None


def test_every_default_names_its_source() -> None:
    for name, price in DEFAULT_PRICES.items():
        assert price.source, name
        assert price.as_of or not price.known, name


def test_environment_and_arguments_override_in_that_order() -> None:
    env = {"FLUX_PRICES": '{"cometapi": {"per_image": 0.004, "source": "my invoice"}}'}
    table = price_table(environ=env)
    assert table["cometapi"].per_image == 0.004
    assert table["cometapi"].source == "my invoice"
    table = price_table({"cometapi": Price(per_image=0.001)}, environ=env)
    assert table["cometapi"].per_image == 0.001


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1]", '{"x": 3}', '{"x": {"per_image": "cheap"}}', '{"x": {"cost": 1}}'],
)
def test_bad_env_prices_raise_a_clear_error(raw: str) -> None:
    with pytest.raises(ValueError, match=r"FLUX_PRICES|price"):
        price_table(environ={"FLUX_PRICES": raw})


@pytest.mark.parametrize(
    "kwargs",
    [{"per_image": -1.0}, {"per_image": float("nan")}, {"per_image": 1, "per_megapixel": 1}],
)
def test_invalid_prices_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Price(**kwargs)


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0.072, "$0.0720"), (0.0013, "$0.0013"), (0.00065, "$0.00065"), (0.000053, "$0.000053")],
)
def test_dollars_keep_the_digits_that_tell_a_tiny_price_apart(amount: float, text: str) -> None:
    assert dollars(amount) == text


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (120.0, "$120.00"),
        (1.0, "$1.00"),
        (1234.5, "$1,234.50"),
        (0.9999, "$0.9999"),
        (0.0, "$0.0000"),
    ],
)
def test_dollars_from_one_up_are_cents(amount: float, text: str) -> None:
    # "$120.0000" read as a price to the hundredth of a cent: large amounts are cents.
    assert dollars(amount) == text
