"""The studio with templates, styles, batches, a budget and the usage view (on the mock)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from html_text import visible_text

from flux_widgets import BudgetExceededError, FluxClient
from flux_widgets.mock import MockConfig
from flux_widgets.prompts.templates import PromptOrigin
from flux_widgets.spending.prices import Price
from flux_widgets.widgets import PromptStudio
from flux_widgets.widgets._compat import is_shown

PRICES = {"cometapi": Price(per_image=0.003, source="test")}


@pytest.fixture
async def client() -> AsyncIterator[FluxClient]:
    client = FluxClient.mock(config=MockConfig(generation_time=0.02), prices=PRICES)
    yield client
    await client.aclose()


@pytest.fixture
async def studio(client: FluxClient, tmp_path: Path) -> AsyncIterator[PromptStudio]:
    studio = PromptStudio(
        client,
        history_dir=tmp_path / "history",
        save_dir=tmp_path / "saved",
        styles_dir=tmp_path / "styles",
        confirm_above=6,
    )
    studio.megapixels = "0.25"
    yield studio
    studio.cancel_all()
    await studio.wait()


def _live_widgets() -> int:
    from ipywidgets.widgets import widget as widget_module

    instances = getattr(widget_module, "_instances", None)
    return len(instances if instances is not None else widget_module.Widget.widgets)


async def test_count_and_cost_show_before_sending(studio: PromptStudio) -> None:
    studio.prompt = "a {red|green|blue} {car|bicycle}"
    studio.num_outputs = 2
    line = studio.explore.estimate.text
    assert line.startswith("6 generations · 12 images · about $0.0360 on cometapi"), line
    studio.prompt = "a {red|green"
    shown = visible_text(studio.explore.estimate.value)
    assert "{red|green" in shown and "TemplateError" not in shown


async def test_template_runs_as_one_batch_row_with_origins_in_the_history(
    studio: PromptStudio, tmp_path: Path
) -> None:
    studio.prompt = "a paper {boat|crane} at {dawn|dusk}"
    images = await studio.generate()
    assert len(images) == 4 and studio.jobs == []  # one batch row, no job row per item
    assert len(studio.explore.batch_rows) == 1
    shown = studio.explore.batch_rows[0].label.value
    assert "4/4 · 4 done · 0 failed ·" in shown and "running" not in shown  # it has ended
    assert sorted(i.params.prompt for i in images) == [
        "a paper boat at dawn",
        "a paper boat at dusk",
        "a paper crane at dawn",
        "a paper crane at dusk",
    ]
    assert len({i.seed for i in images}) == 1  # one seed: the variants are comparable
    assert all(i.origin == PromptOrigin("a paper {boat|crane} at {dawn|dusk}") for i in images)
    records = [json.loads(p.read_text()) for p in (tmp_path / "history").glob("*.json")]
    origins = {r["origin"]["template"] for r in records if "origin" in r}
    assert origins == {"a paper {boat|crane} at {dawn|dusk}"}
    assert len(studio.images) == 4


async def test_a_big_template_asks_first_and_never_builds_a_widget_per_prompt(
    studio: PromptStudio, client: FluxClient
) -> None:
    ten = "{" + "|".join(str(i) for i in range(10)) + "}"
    before = _live_widgets()
    studio.prompt = f"a {ten}{ten}{ten}{ten} fox"
    assert studio.explore.estimate.text.startswith("10,000 generations · 10,000 images")
    assert "asks before sending" in studio.explore.estimate.text
    assert studio.start() is None
    assert studio.explore.confirm.asking
    assert "Send 10,000 generations" in studio.explore.confirm.question.value
    assert _live_widgets() - before < 20
    studio.explore.confirm.cancel_button.click()
    assert client._mock_server.state.creates == 0
    with pytest.raises(ValueError, match="confirmed=True"):
        await studio.generate()


async def test_send_starts_the_batch_it_asked_about(studio: PromptStudio) -> None:
    studio.prompt = "a {cat|dog|cow|pig|hen|owl|fox} in a field"
    assert studio.start() is None
    studio.explore.confirm.send_button.click()
    await studio.wait()
    assert len(studio.images) == 7
    assert studio.explore.batch_rows[0].finished


async def test_style_sets_parameters_and_reuse_restores_template_and_style(
    studio: PromptStudio,
) -> None:
    studio.explore.styles.value = "diagram for slides"
    assert studio.aspect_ratio == "16:9" and studio.output_format == "png"
    studio.prompt = "the water cycle"
    [image] = await studio.generate()
    assert image.params.prompt.startswith("a clean flat vector diagram of the water cycle")
    assert image.origin is not None and image.origin.style == "diagram for slides"
    assert image.origin.template == "the water cycle"
    studio.explore.styles.value = None
    studio.prompt = "something else"
    studio.reuse(image)
    assert studio.prompt == "the water cycle"
    assert studio.explore.styles.value == "diagram for slides"
    assert "style diagram for slides" in studio.message.value


async def test_save_style_from_the_studio(studio: PromptStudio, tmp_path: Path) -> None:
    studio.prompt = "a chalkboard drawing of {prompt}"
    studio.explore.styles.name_box.value = "chalk"
    studio.explore.styles.save_button.click()
    saved = json.loads((tmp_path / "styles" / "chalk.json").read_text())
    assert saved["template"] == "a chalkboard drawing of {prompt}"
    assert saved["params"]["aspect_ratio"] == studio.aspect_ratio
    assert studio.explore.styles.value == "chalk"


async def test_budget_refuses_before_any_request(tmp_path: Path) -> None:
    client = FluxClient.mock(config=MockConfig(generation_time=0.02), prices=PRICES)
    studio = PromptStudio(
        client, history=False, budget=0.003 * 3, styles_dir=tmp_path, confirm_above=100
    )
    studio.megapixels = "0.25"
    studio.prompt = "a {red|green} {car|bicycle}"
    with pytest.raises(BudgetExceededError, match="batch of 4"):
        await studio.generate()
    assert client._mock_server.state.creates == 0
    # Said on the message line at Generate: no batch row is started to fail.
    assert "would pass the spending cap of $0.01" in studio.message.value
    assert studio.explore.batch_rows == []
    assert "BudgetExceededError" not in visible_text(studio.message.value)
    studio.prompt = "a red car"
    await studio.generate()
    assert client.spending_cap is not None
    assert client.spending_cap.spent == pytest.approx(0.003)
    await client.aclose()


async def test_usage_view_counts_generations_and_shows_the_key_quota(
    studio: PromptStudio,
) -> None:
    studio.prompt = "a {cat|dog}"
    await studio.generate()
    studio.explore.usage_box.selected_index = 0  # opening it refreshes and asks for the quota
    await studio.wait()
    report = studio.explore.usage.report
    assert report is not None
    assert report.session.generations == 2 and report.session.images == 2
    assert report.total is not None and report.total.images == 2
    assert report.quota is not None and report.quota.total_granted == 500_000
    assert "key quota" in studio.explore.usage.table.value
    assert not is_shown(studio.explore.confirm)


async def test_the_budget_is_one_cap_across_the_studios_clients(tmp_path: Path) -> None:
    client = FluxClient.mock(config=MockConfig(generation_time=0.02), prices=PRICES)
    studio = PromptStudio(client, history=False, budget=0.01, styles_dir=tmp_path)
    studio.megapixels = "0.25"
    studio.prompt = "a red car"
    await studio.generate()
    # A typed key makes a new client: it shares the studio's cap.
    studio.key_input.api_key = "sk-another-key-1234"  # what typing a key does
    assert studio.client is not client and studio.client is not None
    assert studio.client.spending_cap is studio.spending_cap
    assert studio.spending_cap is not None
    assert studio.spending_cap.spent == pytest.approx(0.003)
    await client.aclose()


async def test_the_estimate_says_when_a_prompt_would_pass_the_cap(tmp_path: Path) -> None:
    client = FluxClient.mock(config=MockConfig(generation_time=0.02), prices=PRICES)
    studio = PromptStudio(client, history=False, budget=0.01, styles_dir=tmp_path)
    studio.prompt = "a {red|green|blue|pink} car"
    assert studio.explore.estimate.text.endswith("over the spending cap ($0.0100 left)")
    studio.prompt = "a {red|green} car"
    assert "spending cap" not in studio.explore.estimate.text
    await client.aclose()


async def test_switching_provider_keeps_the_studio_budget_and_reprices(tmp_path: Path) -> None:
    client = FluxClient.mock(config=MockConfig(generation_time=0.02), prices=PRICES)
    studio = PromptStudio(client, history=False, budget=1.0, styles_dir=tmp_path)
    studio.prompt = "a {red|green} car"
    assert "on cometapi" in studio.explore.estimate.text
    studio.use_provider("replicate")
    assert studio.client is not None and studio.client.provider == "replicate"
    assert studio.client.spending_cap is studio.spending_cap
    assert "about $0.0060 on replicate" in studio.explore.estimate.text
    await client.aclose()


async def test_over_the_cap_generate_says_so_instead_of_asking_to_send(tmp_path: Path) -> None:
    client = FluxClient.mock(config=MockConfig(generation_time=0.02), prices=PRICES)
    studio = PromptStudio(client, history=False, budget=0.01, styles_dir=tmp_path, confirm_above=2)
    studio.prompt = "a {red|green|blue|pink} car"  # more than confirm_above: it would ask
    studio.generate_button.click()
    await studio.wait()
    assert not is_shown(studio.explore.confirm) and not studio.explore.confirm.asking
    assert "this batch of 4 generations (about $0.0120) was refused" in studio.message.value
    assert client._mock_server.state.creates == 0
    studio.prompt = "a {red|green|blue} car"  # fits: asked as before
    studio.generate_button.click()
    assert studio.explore.confirm.asking
    await client.aclose()


async def test_a_batch_stopped_on_a_provider_without_cancel_says_what_is_still_billed(
    tmp_path: Path,
) -> None:
    client = FluxClient.mock(config=MockConfig(generation_time=0.02), provider="together")
    studio = PromptStudio(client, history=False, styles_dir=tmp_path)
    studio.megapixels = "0.25"
    studio.prompt = "[mock:stuck] a {red|green} boat"
    studio.generate_button.click()
    await _until(lambda: studio.explore.batch_rows and "2 running" in _label(studio))
    studio.explore.batch_rows[0].cancel_button.click()
    await studio.wait()
    assert "stopped waiting (2 sent: still billed), 0 done, 0 not sent" in _label(studio)
    await client.aclose()


def _label(studio: PromptStudio) -> str:
    return str(studio.explore.batch_rows[0].label.value)


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_an_open_usage_view_follows_generations_providers_and_the_history(
    studio: PromptStudio,
) -> None:
    studio.explore.usage_box.selected_index = 0
    await studio.wait()
    first = studio.explore.usage.report
    assert first is not None and first.session.generations == 0
    studio.prompt = "a red car"
    await studio.generate()  # no "refresh usage" click from here on
    await studio.wait()
    report = studio.explore.usage.report
    assert report is not None and report.session.generations == 1
    studio.use_provider("replicate")
    await studio.wait()
    report = studio.explore.usage.report
    assert report is not None and "replicate" in report.title.lower()
    studio.clear_history()
    await studio.wait()
    report = studio.explore.usage.report
    assert report is not None and report.total is not None and report.total.images == 0


async def test_a_burst_of_usage_changes_rebuilds_the_view_once_not_100_times(
    studio: PromptStudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio.explore.usage_box.selected_index = 0
    await studio.wait()
    reads: list[int] = []
    read = studio.explore.usage_report
    monkeypatch.setattr(studio.explore, "usage_report", lambda: reads.append(1) or read())
    for _ in range(100):  # a batch of 100 ending, one by one
        studio.explore.usage_changed()
    await studio.wait()
    # One read: all 100 changes came before the refresh started, so it saw them all.
    assert len(reads) == 1


async def test_cancel_on_a_batch_row_stops_the_batch(
    studio: PromptStudio, client: FluxClient
) -> None:
    # As the tester found it: Cancel while images are being filed (history on) sent the rest.
    # Slow enough that the click lands mid-batch on a busy machine (at 0.1 s, all 12 could
    # finish before the click was handled: a race in the test, not a send after the cancel).
    client._mock_server.state.config.generation_time = 0.5
    studio.prompt = "a {a|b|c|d|e|f|g|h|i|j|k|l} boat"
    studio.generate_button.click()
    studio.explore.confirm.send_button.click()
    await _until(lambda: studio.explore.batch_rows and "2/12" in _label(studio))
    studio.explore.batch_rows[0].cancel_button.click()
    await studio.wait()
    state = client._mock_server.state
    sent = state.creates
    assert sent < 12  # none queued was sent
    await asyncio.sleep(1.0)  # two generations' time: still nothing more, the row stays
    assert state.creates == sent
    assert f"done, {12 - sent} not sent" in visible_text(_label(studio))
    assert "cancelled: " in visible_text(_label(studio))
    assert studio.explore.batch_rows[0].bar.bar_style == "danger"


async def test_a_batch_cancel_cancels_the_running_items_on_the_server(tmp_path: Path) -> None:
    client = FluxClient.mock(config=MockConfig(generation_time=0.02), max_concurrency=2)
    studio = PromptStudio(client, history=False, styles_dir=tmp_path, confirm_above=100)
    studio.megapixels = "0.25"
    studio.prompt = "[mock:stuck] a {a|b|c|d|e|f} boat"
    studio.generate_button.click()
    await _until(lambda: studio.explore.batch_rows and "2 running" in _label(studio))
    studio.controls_panel.cancel_all_button.click()
    await studio.wait()
    state = client._mock_server.state
    await _until(lambda: all(p.canceled_at for p in state.predictions.values()))
    assert state.creates == 2
    assert "cancelled: 0 done, 4 not sent" in visible_text(_label(studio))
    await client.aclose()


@pytest.mark.parametrize("prompt", ["{|}", "{ | }", "{prompt}", "a {red|green"])
async def test_the_line_refuses_what_generate_refuses_and_clearing_the_prompt_clears_it(
    studio: PromptStudio, client: FluxClient, prompt: str
) -> None:
    studio.prompt = prompt
    line = studio.explore.estimate.text
    assert "$" not in line and "generation" not in line, line
    studio.generate_button.click()  # refused too, in words on the message line
    assert studio.message.value and client._mock_server.state.creates == 0
    studio.prompt = ""
    assert studio.explore.estimate.text == "" and studio.explore.estimate.value == ""
    assert studio.message.value == ""  # the refusal went with the prompt
    studio.prompt = prompt
    studio.generate_button.click()
    assert studio.message.value
    # Cleared in the box, not yet synced: the front end sends the text being typed.
    shortcuts = studio.controls_panel.shortcuts
    shortcuts._on_front_end_message(shortcuts, {"event": "typing", "prompt": ""}, [])
    assert studio.explore.estimate.value == "" and studio.message.value == ""
