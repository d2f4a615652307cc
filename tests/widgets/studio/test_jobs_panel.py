"""The studio's jobs panel: a generation per click or call, its row's states, cancel, errors shown
in the row, the client's concurrency, and rows that are dropped and closed.

Generations go to the in-package mock over loopback HTTP, steered by its ``[mock:...]`` prompt
directives; fixtures are in conftest.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from html_text import visible_text

from flux_widgets.client import FluxClient
from flux_widgets.errors import ContentFilteredError, PredictionCanceledError
from flux_widgets.mock import MockConfig
from flux_widgets.widgets import PromptStudio

FAST = MockConfig(generation_time=0.05, sync_wait_cometapi=True)


def _stop(client: FluxClient) -> None:
    """Stop a client's private mock (in-process: stopping it is a no-op kept for symmetry)."""
    server = getattr(client, "_mock_server", None)
    if server is not None:
        server.stop()


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_generate_from_code_returns_images_of_the_right_count_and_size(
    studio: PromptStudio,
) -> None:
    studio.prompt = "a paper boat on calm water"
    studio.num_outputs = 2
    studio.aspect_ratio = "16:9"

    images = await studio.generate()

    assert len(images) == 2
    assert all((image.width, image.height) == (672, 384) for image in images)
    assert studio.images == images
    [row] = studio.jobs
    assert row.state == "done"
    assert row.states[0] == "queued" and row.states[-1] == "done"
    assert studio.history is not None and len(studio.history) == 2
    assert studio.generate_button.description == "Generate"


async def test_a_click_starts_a_task_and_the_row_ends_done(studio: PromptStudio) -> None:
    studio.prompt = "a kite"
    studio.generate_button.click()
    assert len(studio.jobs_panel._tasks) == 1
    assert studio.generate_button.description == "Generate (1 running)"
    await studio.wait()
    assert [row.state for row in studio.jobs] == ["done"]
    assert len(studio.images) == 1


async def test_status_row_goes_through_every_state(
    polling_client: FluxClient, tmp_path: Path
) -> None:
    studio = PromptStudio(polling_client, history=False)
    studio.megapixels = "0.25"
    studio.prompt = "[mock:slow=1.0] a slow boat"
    await studio.generate()
    [row] = studio.jobs
    assert row.states == ["queued", "starting", "processing", "downloading", "done"]
    assert row.elapsed >= 1.0
    assert row._ticker is None  # the elapsed-time ticker stopped with the job
    assert "done" in row.label.value


async def test_cancel_of_a_stuck_generation_ends_cancelled(
    polling_client: FluxClient, tmp_path: Path
) -> None:
    studio = PromptStudio(polling_client, history_dir=tmp_path)
    studio.prompt = "[mock:stuck] a boat that never arrives"
    waiting = asyncio.create_task(studio.generate())
    await _until(lambda: studio.jobs and studio.jobs[0].state == "processing")
    [row] = studio.jobs
    row.cancel_button.click()
    with pytest.raises(PredictionCanceledError):
        await waiting
    assert row.state == "cancelled"
    assert row.states[-1] == "cancelled"
    assert studio.images == []
    assert studio.cancel_all_button.layout.display == "none"
    # The cancel reached the server, which ended the prediction.
    state = polling_client._mock_server.state
    assert any(r.method == "POST" and r.path.endswith("/cancel") for r in state.requests)
    assert [p.canceled_at is not None for p in state.predictions.values()] == [True]


async def test_cancel_all_cancels_every_running_generation(
    polling_client: FluxClient, tmp_path: Path
) -> None:
    studio = PromptStudio(polling_client, history=False)
    studio.prompt = "[mock:stuck] a boat"
    studio.generate_button.click()
    studio.generate_button.click()
    assert studio.generate_button.description == "Generate (2 running)"
    await asyncio.sleep(0.05)
    studio.cancel_all_button.click()
    await studio.wait()
    assert [row.state for row in studio.jobs] == ["cancelled", "cancelled"]


async def test_a_typed_error_is_shown_in_the_row_and_raised(studio: PromptStudio) -> None:
    studio.prompt = "[mock:nsfw] a boat"
    with pytest.raises(ContentFilteredError):
        await studio.generate()
    [row] = studio.jobs
    assert row.state == "failed"
    assert isinstance(row.error, ContentFilteredError)
    shown = visible_text(row.error_box.value)
    assert "safety" in shown and "ContentFilteredError" not in shown
    assert "NSFW content detected" in row.error_box.value
    assert row.error_box.layout.display != "none"


async def test_click_errors_are_shown_not_lost(studio: PromptStudio) -> None:
    studio.prompt = "[mock:fail] a boat"
    studio.generate_button.click()
    await studio.wait()
    [row] = studio.jobs
    assert row.state == "failed"
    assert "mock failure" in row.error_box.value


async def test_concurrency_is_bounded_by_the_client(tmp_path: Path) -> None:
    client = FluxClient.mock(config=FAST, timeout=30, max_concurrency=1)
    try:
        studio = PromptStudio(client, history=False)
        studio.megapixels = "0.25"
        studio.prompt = "[mock:slow=0.3] a boat"
        first, second = studio.start(), studio.start()
        await _until(lambda: studio.jobs[0].state == "starting")
        assert studio.jobs[1].state == "queued"
        await asyncio.gather(first, second)
        assert [row.state for row in studio.jobs] == ["done", "done"]
    finally:
        await client.aclose()
        _stop(client)


async def test_clear_finished_appears_once_a_generation_finishes(studio: PromptStudio) -> None:
    assert studio.job_list.clear_button.layout.display == "none"
    studio.prompt = "a lantern"
    await studio.generate()
    assert studio.job_list.clear_button.layout.display != "none"
    studio.job_list.clear_button.click()
    assert studio.job_list.rows == [] and studio.jobs == []
    assert studio.job_list.clear_button.layout.display == "none"


async def test_a_queued_job_says_why_and_its_place_in_line(tmp_path: Path) -> None:
    client = FluxClient.mock(config=FAST, timeout=30, max_concurrency=1)
    try:
        studio = PromptStudio(client, history=False)
        studio.megapixels = "0.25"
        studio.prompt = "[mock:slow=0.4] a boat"
        tasks = [studio.start() for _ in range(3)]
        await _until(lambda: studio.jobs[0].state != "queued")
        first, second, third = studio.jobs
        assert "in line" not in first.note  # it holds the slot
        assert second.note == "waiting for the one slot (busy here); #1 in line"
        assert third.note == "waiting for the one slot (busy here); #2 in line"
        assert "#2 in line" in third.label.value
        await _until(lambda: second.state != "queued")
        assert third.note == "waiting for the one slot (busy here); #1 in line"
        await asyncio.gather(*tasks)
        assert [row.note for row in studio.jobs] == ["", "", ""]
    finally:
        await client.aclose()
        _stop(client)


async def test_concurrency_the_query_rate_cap_cannot_feed_is_reported(tmp_path: Path) -> None:
    from flux_widgets.transport.polling import DEFAULT_MAX_QUERIES_PER_SECOND, useful_concurrency

    useful = useful_concurrency()
    assert useful == int(DEFAULT_MAX_QUERIES_PER_SECOND * 0.8 / 2)
    polling = FluxClient.mock(max_concurrency=useful + 10, sync_wait=False)
    studio = PromptStudio(polling, history=False)
    assert f"max_concurrency={useful + 10}" in studio.capacity_note.value
    assert f"about {useful} polled generations" in studio.capacity_note.value
    assert studio.capacity_note.layout.display != "none"
    fine = PromptStudio(FluxClient.mock(max_concurrency=useful, sync_wait=False), history=False)
    assert fine.capacity_warning() == "" and fine.capacity_note.layout.display == "none"


def _live_widget_count() -> int:
    from ipywidgets.widgets import widget as widget_module

    instances = getattr(widget_module, "_instances", None)
    return len(instances if instances is not None else widget_module.Widget.widgets)


async def test_more_generations_once_the_lists_are_full_add_no_widget_models(
    client: FluxClient, tmp_path: Path
) -> None:
    studio = PromptStudio(client, history=False)
    studio.megapixels = "0.25"
    studio.prompt = "a lantern"
    limit = studio.job_list.keep_finished
    page = studio.gallery.page_size
    for _ in range(max(limit, page) + 2):  # fill the job list and the gallery's page
        await studio.generate()
    await studio.wait()
    models = _live_widget_count()
    state = len(json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=True), default=str))

    for _ in range(50):
        await studio.generate()
    await studio.wait()

    assert _live_widget_count() == models
    after = len(json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=True), default=str))
    # The same widgets, with other seeds and thumbnails: a few bytes either way, no growth.
    assert after <= state * 1.02, (state, after)
    assert len(studio.job_list.rows) == limit == len(studio.jobs)
    assert all(row.comm is not None for row in studio.job_list.rows)


async def test_dropped_rows_are_closed_with_their_layouts_and_styles(studio: PromptStudio) -> None:
    studio.job_list.keep_finished = 1
    studio.prompt = "a lantern"
    await studio.generate()
    [old] = studio.jobs
    parts = [old, old.label, old.cancel_button, old.cancel_button.layout]
    parts += [old.cancel_button.style, old.error_box.layout, old.layout]
    await studio.generate()
    assert studio.jobs != [old]
    assert all(part.comm is None for part in parts)


async def test_a_start_the_provider_does_not_answer_says_what_may_hold_it(
    studio: PromptStudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux_widgets.widgets import jobs

    monkeypatch.setattr(jobs, "SLOW_START_SECONDS", 0.1)
    studio.prompt = "[mock:slow=0.8] a boat"  # the sync wait holds the create that long
    task = studio.start()
    row = studio.jobs[-1]
    await _until(lambda: row.state == "starting")
    assert "no answer yet" not in row.label.value
    await _until(lambda: "no answer yet" in row.label.value, timeout=2.0)
    assert "its rate limit" in row.label.value
    await task
    assert "no answer yet" not in row.label.value


@pytest.mark.parametrize(
    ("provider", "said"),
    [
        ("together", "stopped waiting (still billed)"),  # no server-side cancel
        ("cloudflare", "stopped waiting (still billed)"),
        ("replicate", "cancelled"),  # the server cancels the prediction
    ],
)
async def test_a_cancelled_row_says_whether_the_provider_still_bills_it(
    tmp_path: Path, provider: str, said: str
) -> None:
    client = FluxClient.mock(config=FAST, provider=provider, timeout=30, sync_wait=False)
    studio = PromptStudio(client, history=False, styles_dir=tmp_path)
    studio.megapixels = "1" if provider == "cloudflare" else "0.25"
    studio.prompt = "[mock:stuck] a boat"
    studio.generate_button.click()
    await _until(lambda: studio.jobs and studio.jobs[0].state in ("starting", "processing"))
    [row] = studio.jobs
    row.cancel_button.click()
    await studio.wait()
    assert row.state == "cancelled" and row.outcome == ("" if said == "cancelled" else said)
    assert f">{said}</span>" in row.label.value
    await client.aclose()


async def test_a_row_prices_its_job_as_the_estimate_line_and_the_cap_do(tmp_path: Path) -> None:
    from flux_widgets.spending.prices import Price

    # A price the client was given (not in the default table): the row used to say "unknown".
    prices = {"cometapi": Price(per_image=0.01, source="my invoice")}
    client = FluxClient.mock(config=FAST, prices=prices, timeout=30)
    studio = PromptStudio(client, history=False, styles_dir=tmp_path)
    studio.megapixels = "0.25"
    studio.prompt = "a boat"
    studio.num_outputs = 2
    assert "about $0.0200 on cometapi" in studio.explore.estimate.text
    await studio.generate()
    [row] = studio.jobs
    assert row.estimate == "≈ $0.02"
    await client.aclose()


async def test_a_cloudflare_row_and_the_estimate_line_show_the_same_price(tmp_path: Path) -> None:
    client = FluxClient.mock(config=FAST, provider="cloudflare", timeout=30)
    studio = PromptStudio(client, history=False, styles_dir=tmp_path)
    studio.prompt = "a boat"  # 1 MP, 4 steps: 4 tiles and 4 steps, about $0.00065
    await studio.generate()
    [row] = studio.jobs
    assert row.estimate == "≈ $0.00065"
    assert studio.explore.estimate.text.endswith("about $0.00065 on cloudflare")
    await client.aclose()
