"""A spending cap on a provider without a price: said at once, with a price box and priced
providers that work; nothing is sent unpriced while the cap is set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flux_widgets import BudgetExceededError, FluxClient
from flux_widgets.mock import MockConfig
from flux_widgets.widgets import PromptStudio
from flux_widgets.widgets._compat import is_shown
from flux_widgets.widgets.studio.unpriced_cap import price_unknown_under_cap


@pytest.fixture
async def studio(tmp_path: Path) -> AsyncIterator[PromptStudio]:
    # The README's PromptStudio(budget=0.50) on the default provider, CometAPI (no price).
    client = FluxClient.mock(config=MockConfig(generation_time=0.02))
    assert client.provider == "cometapi"
    studio = PromptStudio(client, history=False, budget=0.50, styles_dir=tmp_path)
    studio.megapixels = "0.25"
    yield studio
    studio.cancel_all()
    await studio.wait()
    await client.aclose()


def _creates(studio: PromptStudio) -> int:
    return studio.client._mock_server.state.creates  # type: ignore[union-attr]


async def test_a_cap_on_an_unpriced_provider_is_said_at_once_with_the_ways_out(
    studio: PromptStudio,
) -> None:
    row = studio.provider_panel.unpriced_cap
    assert is_shown(row)
    assert (
        "CometAPI's price per image is not known, so the $0.50 spending cap can't be checked"
        in row.message.value
    )
    offered = [button.description for button in row.providers.children]
    assert "use Replicate" in offered and "use CometAPI" not in offered
    studio.prompt = "a red car"
    assert "the $0.50 cap can't check it: set a price or pick a priced provider" in (
        studio.explore.estimate.text
    )
    assert "over the spending cap" not in studio.explore.estimate.text


async def test_generate_under_a_cap_with_an_unknown_price_sends_nothing_and_says_why(
    studio: PromptStudio,
) -> None:
    studio.prompt = "a red car"
    studio.generate_button.click()
    await studio.wait()
    assert _creates(studio) == 0 and studio.jobs == []
    assert "price is unknown" in studio.message.value
    assert "pick a provider with a published price" in studio.message.value


async def test_a_price_typed_in_the_row_lets_the_cap_count_and_generate(
    studio: PromptStudio,
) -> None:
    row = studio.provider_panel.unpriced_cap
    row.price_box.value = "abc"
    row.use_price.click()
    assert "Type a price in US dollars per image" in row.error.value and is_shown(row)
    studio.prompt = "a {red|green} car"
    assert "price not published" in studio.provider_picker.info.value
    row.price_box.value = "0.004"
    row.use_price.click()
    assert not is_shown(row) and row.error.value == ""
    info = studio.provider_picker.info.value
    assert "your price: $0.004 per image" in info and "not published" not in info
    assert "about $0.0080 on cometapi" in studio.explore.estimate.text
    assert "can't check" not in studio.explore.estimate.text
    images = await studio.generate()
    assert [image.price for image in images] == [0.004, 0.004]
    assert studio.spending_cap is not None
    assert studio.spending_cap.spent == pytest.approx(0.008)


@pytest.mark.parametrize("typed", ["0", "$0", "-0.003", "0.0", "inf", "nan"])
async def test_a_price_of_zero_or_less_is_refused_and_the_cap_stays_on(
    studio: PromptStudio, typed: str
) -> None:
    # A price of 0 counted every image as free: the cap notice went away, the cap was off.
    row = studio.provider_panel.unpriced_cap
    studio.prompt = "a red car"
    row.price_box.value = typed
    row.use_price.click()
    assert "above $0" in row.error.value and is_shown(row)
    assert studio.client is not None and price_unknown_under_cap(studio.client)
    assert "the $0.50 cap can't check it" in studio.explore.estimate.text
    for value in (0, -0.003, float("inf"), float("nan")):
        with pytest.raises(ValueError, match=r"more than \$0"):
            studio.client.set_price(value)


async def test_a_priced_provider_button_switches_and_the_cap_then_counts(
    studio: PromptStudio,
) -> None:
    row = studio.provider_panel.unpriced_cap
    [replicate] = [b for b in row.providers.children if b.description == "use Replicate"]
    replicate.click()
    assert studio.client is not None and studio.client.provider == "replicate"
    assert not is_shown(row)
    studio.prompt = "a red car"
    await studio.generate()
    assert studio.spending_cap is not None
    assert studio.spending_cap.spent == pytest.approx(0.003)


async def test_without_a_cap_an_unpriced_provider_shows_no_row(tmp_path: Path) -> None:
    async with FluxClient.mock(config=MockConfig(generation_time=0.02)) as client:
        studio = PromptStudio(client, history=False, styles_dir=tmp_path)
        assert not is_shown(studio.provider_panel.unpriced_cap)
        studio.close()


async def test_the_client_itself_refuses_unpriced_under_a_cap(studio: PromptStudio) -> None:
    assert studio.client is not None
    with pytest.raises(BudgetExceededError, match="price is unknown"):
        await studio.client.generate("a red car")
    assert _creates(studio) == 0
