"""Not paying twice: an exact repeat of a deterministic recipe is served from the history (no
request, no money, labelled "from history"), "make again" pays; a batch is split."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flux_widgets import FluxClient
from flux_widgets.mock import MockConfig
from flux_widgets.spending.prices import Price
from flux_widgets.widgets import PromptStudio
from flux_widgets.widgets._compat import is_shown

PRICES = {"cometapi": Price(per_image=0.003, source="test")}
FAST = MockConfig(generation_time=0.02, sync_wait_cometapi=True)


def _creates(client: FluxClient) -> int:
    """Create requests the mock received (each one paid on a real provider)."""
    requests = client._mock_server.state.requests
    return sum(1 for r in requests if r.method == "POST" and not r.path.endswith("/cancel"))


@pytest.fixture
async def client() -> AsyncIterator[FluxClient]:
    client = FluxClient.mock(config=FAST, prices=PRICES, timeout=30)
    yield client
    await client.aclose()


def _studio(client: FluxClient, tmp_path: Path, **kwargs: object) -> PromptStudio:
    studio = PromptStudio(
        client,
        history_dir=tmp_path / "history",
        save_dir=tmp_path / "saved",
        confirm_above=4,
        **kwargs,  # type: ignore[arg-type]
    )
    studio.megapixels = "0.25"  # small images keep the tests fast
    return studio


@pytest.fixture
async def studio(client: FluxClient, tmp_path: Path) -> AsyncIterator[PromptStudio]:
    studio = _studio(client, tmp_path, budget=1.0)
    yield studio
    studio.cancel_all()
    await studio.wait()
    studio.close()


async def test_an_exact_repeat_is_served_from_the_history_without_a_request_or_money(
    studio: PromptStudio, client: FluxClient
) -> None:
    made = await studio.generate(prompt="a lighthouse", go_fast=False, seed=99, num_outputs=2)
    assert _creates(client) == 1
    cap = studio.spending_cap
    assert cap is not None
    spent, usage = cap.spent, client.usage_report([]).session
    history_count = len(studio.history)

    studio.generate_button.click()  # the same recipe, from the controls
    await studio.wait()

    assert _creates(client) == 1  # no request reached the API
    assert cap.spent == spent and cap.remaining == pytest.approx(1.0 - spent)
    assert client.usage_report([]).session == usage
    assert len(studio.history) == history_count  # nothing stored twice
    row = studio.jobs[-1]
    assert row.state == "done" and row.from_history and row.image_count == 2
    assert "from history" in row.label.value and "no cost" in row.label.value
    served = studio.images[-2:]
    assert [image.stem for image in served] == [image.stem for image in made]  # type: ignore[attr-defined]
    labels = [tile.open_button.description for tile in studio.gallery.tiles[:2]]
    assert all(label.endswith("· from history") for label in labels), labels
    studio.gallery.open_image(served[-1])
    assert studio.gallery.viewer.title.endswith("· from history")
    assert studio.message.value == ""  # no warning, no question: it is simply shown


async def test_make_again_pays_for_a_fresh_generation(
    studio: PromptStudio, client: FluxClient
) -> None:
    await studio.generate(prompt="a heron", go_fast=False, seed=7)
    served = await studio.generate()
    assert _creates(client) == 1 and studio.jobs[-1].from_history
    row = studio.jobs[-1]
    button = row.make_again_button
    assert button is not None and is_shown(button)

    button.click()
    await studio.wait()
    assert button.disabled  # one click, one paid generation
    assert _creates(client) == 2
    fresh = studio.jobs[-1]
    assert fresh is not row and fresh.state == "done" and not fresh.from_history
    assert studio.spending_cap is not None and studio.spending_cap.spent == pytest.approx(0.006)
    # ... and directly, from code: make_again=True skips the history.
    [again] = await studio.generate(make_again=True)
    assert _creates(client) == 3
    assert again.stem != served[0].stem  # type: ignore[attr-defined]
    assert again.to_pil().tobytes() == served[0].to_pil().tobytes()  # the same picture, paid again


@pytest.mark.parametrize(
    "change",
    [
        {"go_fast": True},  # fp8: not deterministic even with a seed
        {"seed": None},  # a random seed each time
        {"num_inference_steps": 3},  # another recipe
        {"output_format": "png"},
        {"aspect_ratio": "3:2"},
    ],
)
async def test_what_is_not_an_exact_deterministic_repeat_is_made_and_paid(
    studio: PromptStudio, client: FluxClient, change: dict[str, object]
) -> None:
    params = {"prompt": "a kite", "go_fast": False, "seed": 11}
    await studio.generate(**params)
    await studio.generate(**{**params, **change})
    assert _creates(client) == 2
    if change in ({"go_fast": True}, {"seed": None}):
        await studio.generate(**{**params, **change})  # the same recipe again: still paid
        assert _creates(client) == 3
    assert not any(row.from_history for row in studio.jobs)


async def test_another_provider_makes_its_own_images(
    studio: PromptStudio, client: FluxClient
) -> None:
    await studio.generate(prompt="a kite", go_fast=False, seed=11)
    studio.use_provider("replicate")  # no key here: the mock's Replicate
    assert studio.client is not None and studio.client is not client
    await studio.generate()
    assert not studio.jobs[-1].from_history
    assert studio.client._mock_server.state.requests[-1].method == "GET"  # its download
    studio.use_provider("cometapi")
    await studio.generate()
    assert studio.jobs[-1].from_history  # cometapi's own image, made first


async def test_a_deleted_image_is_made_again(studio: PromptStudio, client: FluxClient) -> None:
    [image] = await studio.generate(prompt="a kite", go_fast=False, seed=11)
    assert studio.history is not None
    studio.history.delete(image.stem)  # type: ignore[attr-defined]
    await studio.generate()
    assert _creates(client) == 2 and not studio.jobs[-1].from_history


async def test_a_new_studio_on_the_same_folder_serves_the_repeat(
    client: FluxClient, tmp_path: Path
) -> None:
    first = _studio(client, tmp_path)
    await first.generate(prompt="a barn owl", go_fast=False, seed=5)
    first.close()
    # Another kernel: a new client (its own mock, no request seen yet) and a new studio.
    other = FluxClient.mock(config=FAST, prices=PRICES)
    try:
        second = _studio(other, tmp_path)
        await second.wait()
        [image] = await second.generate(prompt="a barn owl", go_fast=False, seed=5)
        assert _creates(other) == 0
        assert second.jobs[-1].from_history and image.seed == 5
        second.close()
    finally:
        await other.aclose()


async def test_a_batch_serves_what_the_history_holds_and_makes_the_rest(
    studio: PromptStudio, client: FluxClient
) -> None:
    await studio.generate(prompt="a {red|green|blue} car", go_fast=False, seed=3)
    assert _creates(client) == 3
    creates = _creates(client)

    studio.prompt = "a {red|green|blue|white|black|pink|grey|gold} car"
    studio.generate_button.click()  # 8 generations: above confirm_above, so it asks
    question = studio.explore.confirm.question.value
    assert "3 of 8 from history, 5 to make: send 5 generations · 5 images" in question
    assert "about $0.0150 on cometapi" in question
    assert "3 of 8 from history (no cost), 5 to make" in studio.message.value
    assert _creates(client) == creates  # nothing sent before the answer
    studio.explore.confirm.send_button.click()
    await studio.wait()
    assert _creates(client) == creates + 5
    labels = [tile.open_button.description for tile in studio.gallery.tiles]
    assert sum(label.endswith("from history") for label in labels) == 3

    images = await studio.generate(prompt="a {red|green} car")  # all served: nothing to make
    assert _creates(client) == creates + 5
    assert [image.params.prompt for image in images] == ["a red car", "a green car"]
    assert studio.message.value == "2 of 2 from history: nothing to make, no cost"

    made = await studio.generate(prompt="a {red|green} car", make_again=True)
    assert _creates(client) == creates + 7 and len(made) == 2


async def test_a_history_that_cannot_answer_means_the_images_are_made(
    studio: PromptStudio, client: FluxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux_widgets.history.index import HistoryIndex

    await studio.generate(prompt="a kite", go_fast=False, seed=11)

    def locked(self: HistoryIndex, keys: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(HistoryIndex, "with_recipes", locked)
    [image] = await studio.generate()  # one generation
    assert _creates(client) == 2 and not studio.jobs[-1].from_history and image.seed == 11
    await studio.generate(prompt="a {red|blue} kite")  # a batch
    assert _creates(client) == 4


async def test_the_line_says_a_repeat_comes_from_the_history_at_no_cost(
    studio: PromptStudio, client: FluxClient
) -> None:
    studio.go_fast = False
    studio.seed = 777  # locks the seed
    studio.num_outputs = 2
    studio.prompt = "a kite"
    await studio.wait()
    assert studio.explore.estimate.text == "1 generation · 2 images · about $0.0060 on cometapi"
    studio.generate_button.click()
    await studio.wait()  # made and kept: the line follows the history, nothing typed
    assert studio.explore.estimate.text == "1 generation · 2 images from history, no cost"
    studio.generate_button.click()  # and Generate does what the line said
    await studio.wait()
    assert _creates(client) == 1 and studio.jobs[-1].from_history
    studio.go_fast = True  # fp8 is not deterministic: made again, and paid
    await studio.wait()
    assert studio.explore.estimate.text == "1 generation · 2 images · about $0.0060 on cometapi"


async def test_the_line_splits_a_batch_and_asks_only_when_generate_asks(
    studio: PromptStudio, client: FluxClient
) -> None:
    studio.go_fast = False
    studio.seed = 777
    studio.prompt = "a kite {red|blue|green}"
    studio.generate_button.click()  # 3: under confirm_above (4), sent at once
    await studio.wait()
    assert _creates(client) == 3
    assert studio.explore.estimate.text == "3 generations · 3 images from history, no cost"
    # 6 items, 3 served: 3 to make, not above 4, so Generate sends them without asking.
    studio.prompt = "a kite {red|blue|green|a|b|c}"
    await studio.wait()
    line = studio.explore.estimate.text
    assert line == (
        "3 of 6 from history (no cost) · to make: 3 generations · 3 images · "
        "about $0.0090 on cometapi"
    ), line
    # 12 items, 3 served: 9 to make, above 4: the line and Generate both ask.
    studio.prompt = "a kite {red|blue|green|a|b|c|d|e|f|g|h|i}"
    await studio.wait()
    line = studio.explore.estimate.text
    assert line.startswith("3 of 12 from history (no cost) · to make: 9 generations"), line
    assert "about $0.0270 on cometapi · asks before sending" in line
    studio.generate_button.click()
    assert studio.explore.confirm.asking
    studio.explore.confirm.cancel_button.click()
    studio.prompt = "a kite {red|blue|green|a|b|c}"  # the 6 again: sent without a question
    await studio.wait()
    studio.generate_button.click()
    await studio.wait()
    assert not studio.explore.confirm.asking and _creates(client) == 6


async def test_a_late_history_answer_never_replaces_a_newer_line(
    studio: PromptStudio, client: FluxClient
) -> None:
    await studio.generate(prompt="a kite", go_fast=False, seed=777)
    studio.prompt = "a boat"  # the kite's lookup had no time to answer
    studio.prompt = "a kite"
    studio.prompt = "a boat"
    await studio.wait()
    assert studio.explore.estimate.text == "1 generation · 1 image · about $0.0030 on cometapi"
