"""The studio and its parts, driven without a front end (ipywidgets' comm-less mode).

``button.click()`` fires the callbacks in plain pytest; under pytest-asyncio the running loop
is the test's, so a click starts a task the studio keeps (``await studio.wait()``). Generations
go to the in-package mock over loopback HTTP, steered by its ``[mock:...]`` prompt directives.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from PIL import Image

import flux_widgets.widgets as widgets_package
from flux_widgets.client import FluxClient
from flux_widgets.errors import ContentFilteredError, PredictionCanceledError
from flux_widgets.mock import MockConfig
from flux_widgets.params import FIELD_NAMES, FluxParams
from flux_widgets.widgets import JobRow, ParameterControls, PromptStudio
from flux_widgets.widgets.studio import MOCK_BANNER

FAST = MockConfig(generation_time=0.05, sync_wait_cometapi=True)
KEY = "sk-studio-test-key-5678abcdEFGH"


def _server(client: FluxClient) -> Any:
    return client._mock_server


def _stop(client: FluxClient) -> None:
    server = getattr(client, "_mock_server", None)
    if server is not None and server is not _shared_server():
        server.stop()


def _shared_server() -> Any:
    from flux_widgets.mock.server import shared_server

    return shared_server()


@pytest.fixture
async def client() -> AsyncIterator[FluxClient]:
    client = FluxClient.mock(config=FAST, timeout=30)
    yield client
    await client.aclose()
    _stop(client)


@pytest.fixture
async def polling_client() -> AsyncIterator[FluxClient]:
    """A client that polls (no sync wait), so "processing" is seen and cancels reach the server."""
    client = FluxClient.mock(config=FAST, timeout=30, sync_wait=False)
    yield client
    await client.aclose()
    _stop(client)


@pytest.fixture
async def studio(client: FluxClient, tmp_path: Path) -> AsyncIterator[PromptStudio]:
    studio = PromptStudio(client, history_dir=tmp_path / "history", save_dir=tmp_path / "saved")
    studio.megapixels = "0.25"  # small images keep the tests fast
    yield studio
    studio.cancel_all()
    await studio.wait()


def _all_widget_states() -> Iterator[str]:
    from ipywidgets.widgets import widget as widget_module

    # ipywidgets 8 keeps live widgets in a module dict (Widget.widgets warns); 7 on the class.
    instances = getattr(widget_module, "_instances", None)
    if instances is None:
        instances = widget_module.Widget.widgets
    assert instances, "no live widgets found: the check would pass vacuously"
    for widget in list(instances.values()):
        state = widget.get_state()
        for value in state.values():
            if isinstance(value, bytes | memoryview):
                yield bytes(value).decode("latin-1")
            else:
                yield json.dumps(value, default=repr)


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


# -- controls -------------------------------------------------------------------------------


def test_every_field_has_a_control_that_maps_to_its_param() -> None:
    controls = ParameterControls()
    assert set(controls.field_widgets) == set(FIELD_NAMES)
    controls.prompt.value = "  a red kite over the dunes "
    controls.aspect_ratio.value = "16:9"
    controls.num_outputs.value = 3
    controls.num_inference_steps.value = 2
    controls.seed.value = "1234"
    controls.lock_seed.value = True
    controls.output_format.value = "png"
    controls.output_quality.value = 55
    controls.megapixels.value = "0.25"
    controls.go_fast.value = False
    controls.disable_safety_checker.value = True

    assert controls.params() == FluxParams(
        prompt="a red kite over the dunes",
        aspect_ratio="16:9",
        num_outputs=3,
        num_inference_steps=2,
        seed=1234,
        output_format="png",
        output_quality=55,
        megapixels="0.25",
        go_fast=False,
        disable_safety_checker=True,
    )


def test_set_params_round_trips_and_a_seed_locks() -> None:
    params = FluxParams(
        prompt="a lighthouse",
        aspect_ratio="9:21",
        num_outputs=4,
        num_inference_steps=1,
        seed=99,
        output_format="jpg",
        output_quality=12,
        megapixels="0.25",
        go_fast=False,
        disable_safety_checker=True,
    )
    controls = ParameterControls()
    controls.set_params(params)
    assert controls.params() == params
    assert controls.lock_seed.value is True

    controls.set_params(params.replace(seed=None))
    assert controls.lock_seed.value is False
    assert controls.params().seed is None


def test_aspect_ratio_labels_show_pixel_sizes_for_the_megapixels() -> None:
    controls = ParameterControls()
    controls.aspect_ratio.value = "16:9"
    assert "16:9 · 1344×768" in controls.aspect_ratio.options[1][0]
    controls.megapixels.value = "0.25"
    assert controls.aspect_ratio.options[1][0] == "16:9 · 672×384"
    assert controls.aspect_ratio.value == "16:9"


def test_quality_is_disabled_for_png_and_go_fast_warns() -> None:
    controls = ParameterControls()
    assert not controls.output_quality.disabled
    controls.output_format.value = "png"
    assert controls.output_quality.disabled
    controls.output_format.value = "jpg"
    assert not controls.output_quality.disabled
    assert "not deterministic" in controls.go_fast_note.value
    assert controls.prompt.continuous_update is False


def test_setting_from_code_refuses_what_the_schema_refuses() -> None:
    controls = ParameterControls()
    with pytest.raises(ValueError, match="num_outputs"):
        controls.set("num_outputs", 7)  # a slider would silently clamp it to 4
    with pytest.raises(ValueError, match="aspect_ratio"):
        controls.set("aspect_ratio", "7:5")
    with pytest.raises(AttributeError, match="no parameter"):
        controls.set("guidance", 3)
    assert controls.num_outputs.value == 1


def test_empty_prompt_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="prompt"):
        ParameterControls().params()


def test_seed_unlocked_draws_a_fresh_one_each_time_locked_reuses() -> None:
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    first, second = controls.next_params().seed, controls.next_params().seed
    assert first != second
    assert controls.seed.value == str(second)  # shown after drawing

    controls.set("seed", 7)
    assert controls.next_params().seed == 7
    assert controls.next_params().seed == 7
    controls.randomize_seed.click()
    assert controls.seed.value != "7"
    assert controls.lock_seed.value is True
    assert controls.next_params().seed == int(controls.seed.value)


# -- generation -----------------------------------------------------------------------------


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


async def test_invalid_values_never_reach_the_client(
    studio: PromptStudio, client: FluxClient
) -> None:
    studio.prompt = "   "
    studio.generate_button.click()
    assert "prompt must not be empty" in studio.message.value
    with pytest.raises(ValueError, match="prompt"):
        await studio.generate()
    with pytest.raises(ValueError, match="num_outputs"):
        await studio.generate(prompt="a boat", num_outputs=9)
    assert "num_outputs" in studio.message.value
    assert studio.jobs == []
    assert _server(client).state.requests == []


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
    state = _server(polling_client).state
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
    assert "ContentFilteredError" in row.error_box.value
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


# -- seeds, gallery and viewer --------------------------------------------------------------


async def test_unlocked_seed_is_fresh_and_shown_under_each_thumbnail(studio: PromptStudio) -> None:
    studio.prompt = "a fox in snow"
    [first] = await studio.generate()
    [second] = await studio.generate()
    assert first.seed != second.seed
    assert studio.controls.seed.value == str(second.seed)
    assert studio.seed is None  # still unlocked
    labels = [tile.open_button.description for tile in studio.gallery.tiles]
    assert labels == [f"open · seed {second.seed}", f"open · seed {first.seed}"]


async def test_locked_seed_is_reused(studio: PromptStudio) -> None:
    studio.prompt = "a fox in snow"
    studio.seed = 4242
    images = [*(await studio.generate()), *(await studio.generate())]
    assert [image.seed for image in images] == [4242, 4242]
    assert studio.seed == 4242


async def test_thumbnails_sent_to_the_browser_are_far_smaller(studio: PromptStudio) -> None:
    studio.prompt = "a detailed city at night"
    studio.megapixels = "1"
    studio.output_format = "png"
    [image] = await studio.generate()
    [tile] = studio.gallery.tiles
    thumb = bytes(tile.thumbnail.value)
    assert thumb != image.data
    assert len(thumb) * 5 < len(image.data)
    with Image.open(io.BytesIO(thumb)) as decoded:
        assert max(decoded.size) <= 256
    viewer = studio.gallery.viewer
    assert viewer.image_a == b"" and viewer.image_b == b""  # nothing full-size until opened
    assert not viewer.is_open


def _front_end(viewer: Any, **content: Any) -> None:
    """What the viewer's buttons and keys send from the browser (viewer.js)."""
    viewer._handle_custom_msg(content, [])


async def test_open_shows_full_image_recipe_and_downloads(
    studio: PromptStudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux_widgets.recipes import read_recipe

    studio.prompt = "a <b>bold</b> heron"
    [image] = await studio.generate()
    [tile] = studio.gallery.tiles
    tile.open_button.click()
    viewer = studio.gallery.viewer
    assert viewer.is_open and viewer.mode == "single"
    assert viewer.image_a == image.data and viewer.mime_a == "image/webp"
    assert f"seed {image.seed}" in viewer.title
    values = {row["key"]: row["a"] for row in viewer.rows}
    assert values["size"] == "512×512" and values["output_format"] == "webp"
    # Raw text: viewer.js writes it with textContent, so markup in a prompt stays text.
    assert values["prompt"] == "a <b>bold</b> heron"

    sent: list[tuple[Any, Any]] = []
    monkeypatch.setattr(viewer, "send", lambda msg, buffers=None: sent.append((msg, buffers)))
    _front_end(viewer, event="download", request="r1")
    await studio.wait()
    [(content, buffers)] = sent
    assert content["request"] == "r1" and content["mime"] == "image/webp"
    assert content["name"].endswith(".webp")
    assert read_recipe(bytes(buffers[0])) == image.recipe  # the file, recipe embedded

    _front_end(viewer, event="close")
    assert viewer.image_a == b"" and not viewer.is_open


async def test_reuse_puts_every_parameter_back(studio: PromptStudio) -> None:
    studio.prompt = "a heron"
    studio.aspect_ratio = "3:2"
    studio.num_inference_steps = 2
    studio.output_format = "jpg"
    [image] = await studio.generate()
    studio.controls.set_params(FluxParams(prompt="something else"))

    studio.gallery.tiles[0].open_button.click()
    _front_end(studio.gallery.viewer, event="reuse")

    assert studio.params() == image.recipe
    assert studio.seed == image.seed


async def test_save_writes_the_file_with_its_recipe(studio: PromptStudio, tmp_path: Path) -> None:
    from flux_widgets.recipes import read_recipe

    studio.prompt = "a heron at dawn"
    [image] = await studio.generate()
    studio.gallery.open_image(image)
    viewer = studio.gallery.viewer
    _front_end(viewer, event="save")
    await studio.wait()
    [saved] = (tmp_path / "saved").iterdir()
    assert saved.suffix == ".webp"
    assert read_recipe(saved) == image.recipe
    assert viewer.message == f"saved to {saved.resolve()}"  # the absolute path


async def test_copy_as_code_has_the_snippet_ready(studio: PromptStudio) -> None:
    studio.prompt = "a heron at dusk"
    [image] = await studio.generate()
    studio.gallery.open_image(image)
    viewer = studio.gallery.viewer
    # Sent with the image, so the click copies at once (the clipboard wants a user gesture).
    assert "FluxClient" in viewer.code
    assert "a heron at dusk" in viewer.code
    assert f"seed={image.seed}" in viewer.code


# -- history --------------------------------------------------------------------------------


async def test_a_second_studio_on_the_same_folder_shows_earlier_images(
    studio: PromptStudio, client: FluxClient, tmp_path: Path
) -> None:
    studio.prompt = "a lantern"
    studio.num_outputs = 2
    images = await studio.generate()

    again = PromptStudio(client, history_dir=tmp_path / "history")
    await again.wait()
    assert [image.seed for image in again.images] == [image.seed for image in images]
    assert len(again.gallery.tiles) == 2
    assert all(tile.thumbnail.value for tile in again.gallery.tiles)

    again.prompt = "a second lantern"
    [new] = await again.generate()
    assert again.images[-1] is new and len(again.images) == 3


async def test_clear_history_asks_first_then_deletes(studio: PromptStudio) -> None:
    studio.prompt = "a lantern"
    await studio.generate()
    studio.clear_history_button.click()
    assert studio.confirm_clear_button.layout.display != "none"
    assert studio.confirm_clear_button.description == "delete 1 image"
    studio.keep_history_button.click()
    assert studio.history is not None and len(studio.history) == 1

    studio.clear_history_button.click()
    studio.confirm_clear_button.click()
    await studio.wait()  # the files move to the trash in a worker thread
    assert len(studio.history) == 0
    assert studio.images == [] and studio.gallery.tiles == []


async def test_history_counts_follow_a_delete_and_its_undo_in_the_browser(
    studio: PromptStudio,
) -> None:
    studio.prompt = "a lantern"
    studio.num_outputs = 3
    await studio.generate()
    assert studio.history_section.get_title(0) == "History (3 images)"
    studio.history_section.selected_index = 0  # opens the browser
    await studio.wait()
    browser = studio.history_browser
    assert browser is not None
    await browser.wait()
    browser.cards[0].delete_button.click()
    await browser.wait()
    assert studio.history_section.get_title(0) == "History (2 images)"
    assert "2 images in the history" in studio.history_label.value
    assert "2 images" in browser.status.value
    browser.undo_button.click()
    await browser.wait()
    assert studio.history_section.get_title(0) == "History (3 images)"
    assert "3 images in the history" in studio.history_label.value


async def test_history_off_writes_nothing(client: FluxClient, tmp_path: Path) -> None:
    studio = PromptStudio(client, history=False)
    studio.megapixels = "0.25"
    studio.prompt = "a lantern"
    await studio.generate()
    assert studio.history is None
    assert len(studio.images) == 1


# -- banner, key and static output ----------------------------------------------------------


async def test_mock_banner_and_typing_a_key_switches_to_the_real_api(tmp_path: Path) -> None:
    studio = PromptStudio(FluxClient.mock(), history=False)
    assert MOCK_BANNER in studio.banner.value
    assert studio.key_input.layout.display != "none"

    studio.key_input.field.value = KEY

    assert studio.client is not None and not studio.client.is_mock
    assert studio.client.has_api_key
    assert studio.banner.value == ""
    assert "sk-...EFGH" in studio.key_input.status.value
    assert not any(KEY in state for state in _all_widget_states())

    studio.key_input.forget.click()
    assert studio.client is not None and studio.client.is_mock


async def test_static_output_has_a_contact_sheet_and_stable_text(studio: PromptStudio) -> None:
    live_text = "PromptStudio (mock API): its newest images are in the picture below"
    assert studio._repr_mimebundle_()["text/plain"] == live_text
    assert repr(studio) == "PromptStudio: 0 images (mock API)"
    studio.prompt = "a lantern"
    studio.num_outputs = 3
    await studio.generate()

    bundle = studio._repr_mimebundle_()
    # Saved as it is at display time, the live output's text names no count that the picture
    # below (kept up to date) would contradict.
    assert bundle["text/plain"] == live_text
    assert repr(studio) == "PromptStudio: 3 images (mock API)"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    # Live, the picture is not in the studio's own output but in the one displayed under it.
    assert "image/png" not in bundle
    picture = studio._picture.bundle()
    assert picture["text/plain"] == "PromptStudio: 3 images (mock API)"
    view = picture["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == studio._picture.anchor.model_id
    with Image.open(io.BytesIO(picture["image/png"])) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (3 * 160, 160)


def test_public_names_are_sorted_and_complete() -> None:
    assert widgets_package.__all__ == sorted(widgets_package.__all__)
    for name in widgets_package.__all__:
        assert isinstance(getattr(widgets_package, name), type)
    assert issubclass(PromptStudio, ipywidgets.VBox)


# -- the seed trap --------------------------------------------------------------------------


def test_typing_a_seed_locks_it_and_next_params_never_replaces_it() -> None:
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    assert controls.seed_state.value == "<span>random seed</span>"
    drawn = controls.next_params().seed
    assert controls.lock_seed.value is False  # a drawn seed is shown, not locked
    assert controls.seed.value == str(drawn)

    controls.seed.value = "1234"  # what the browser sends when a person types 1234
    assert controls.lock_seed.value is True
    assert controls.seed_text() == "seed 1234, locked"
    assert "1234" in controls.seed_state.value and "locked" in controls.seed_state.value
    assert [controls.next_params().seed for _ in range(3)] == [1234, 1234, 1234]
    assert controls.seed.value == "1234"


@pytest.mark.parametrize(
    ("typed", "refusal"),
    [
        ("1e3", "whole number"),
        ("12.0", "whole number"),
        ("seven", "whole number"),
        ("99999999999999999999999", "from -9223372036854775808 to 9223372036854775807"),
        ("9223372036854775808", "from -9223372036854775808"),
    ],
)
def test_a_typed_seed_that_is_not_a_64_bit_integer_is_refused_as_typed(
    typed: str, refusal: str
) -> None:
    # The tester's strings: an IntText read "1e3" as 1 and rounded above 2**53, silently.
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    controls.seed.value = typed
    assert controls.lock_seed.value is True
    assert refusal in controls.seed_state.value  # said at once, next to Generate
    assert "⚠" in controls.seed.description
    assert refusal in controls.seed_text()
    with pytest.raises(ValueError, match="seed"):
        controls.params()
    with pytest.raises(ValueError, match="seed"):
        controls.next_params()  # never replaced by a random or rounded seed


@pytest.mark.parametrize(
    ("typed", "seed"),
    [
        ("9007199254740993", 9007199254740993),  # 2**53 + 1: a JS Number would say ...992
        (" 1000 ", 1000),
        ("-5", -5),
        ("9223372036854775807", 2**63 - 1),
        (str(2**60 + 1), 2**60 + 1),
    ],
)
def test_a_typed_seed_is_used_exactly_never_rounded(typed: str, seed: int) -> None:
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    controls.seed.value = typed
    assert controls.next_params().seed == seed
    assert controls.seed_text() == f"seed {seed}, locked"
    assert f"<b>{seed}</b>" in controls.seed_state.value
    assert controls.seed.description == "Seed"


def test_a_seed_set_from_code_is_shown_exactly_in_the_box() -> None:
    controls = ParameterControls()
    controls.set("seed", 2**60 + 1)
    assert controls.seed.value == "1152921504606846977"
    assert controls.seed_text() == "seed 1152921504606846977, locked"


def test_emptying_the_seed_box_means_a_random_seed() -> None:
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    controls.seed.value = "42"
    controls.seed.value = "  "
    assert controls.lock_seed.value is False and controls.seed_text() == "random seed"
    assert controls.next_params().seed is not None


def test_the_seed_switch_next_to_generate_unlocks_and_locks() -> None:
    controls = ParameterControls()
    controls.set("seed", 77)
    assert controls.seed_switch.description == "unlock"
    assert controls.lock_seed.description == "unlock seed"  # the same word in Advanced
    controls.seed_switch.click()
    assert controls.lock_seed.value is False and controls.seed_text() == "random seed"
    assert controls.seed_switch.description == "lock"
    assert controls.lock_seed.description == "lock seed"
    controls.seed_switch.click()  # keeps the seed shown (the last one used)
    assert controls.get("seed") == 77 and controls.seed_text() == "seed 77, locked"


def test_new_seed_button_has_a_label_and_keeps_the_seed_it_draws() -> None:
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    assert controls.randomize_seed.description == "new seed"  # not an emoji-only button
    assert controls.randomize_seed.icon == "random"
    controls.randomize_seed.click()
    shown = int(controls.seed.value)
    assert controls.lock_seed.value is True
    assert controls.next_params().seed == shown


async def test_the_studio_shows_the_seed_state_next_to_generate(studio: PromptStudio) -> None:
    row = next(
        child
        for child in studio.controls_panel.children
        if isinstance(child, ipywidgets.HBox) and studio.generate_button in child.children
    )
    assert studio.controls.seed_state in row.children
    assert studio.controls.seed_switch in row.children
    studio.seed = 1234  # the notebook's cell
    assert "seed <b>1234</b>, locked" in studio.controls.seed_state.value
    studio.seed = None
    assert "random seed" in studio.controls.seed_state.value


async def test_generate_click_warns_before_an_exact_repeat_with_go_fast_off(
    studio: PromptStudio,
) -> None:
    studio.prompt = "a lighthouse"
    studio.go_fast = False
    studio.seed = 99
    [first] = await studio.generate()

    studio.generate_button.click()
    assert "repeats a finished generation exactly" in studio.message.value
    assert studio.jobs[-1].state == "done" and len(studio.jobs) == 1  # nothing started
    studio.generate_button.click()  # the second click means it
    await studio.wait()
    assert len(studio.jobs) == 2
    assert [image.seed for image in studio.images] == [99, 99]

    studio.go_fast = True  # fp8 is not deterministic: a repeat makes different images
    studio.generate_button.click()
    await studio.wait()
    assert len(studio.jobs) == 3
    assert "repeats" not in studio.message.value
    assert studio.is_repeat(first.params) is True
    assert studio.is_repeat(first.params.replace(seed=100)) is False


async def test_reuse_says_what_it_changed_and_brings_the_controls_into_view(
    studio: PromptStudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio.prompt = "a heron"
    studio.aspect_ratio = "3:2"
    studio.num_inference_steps = 2
    [image] = await studio.generate()
    studio.controls.set_params(FluxParams(prompt="something else"))
    from flux_widgets.widgets.studio import controls_panel

    focused: list[Any] = []
    monkeypatch.setattr(controls_panel, "focus", focused.append)

    studio.reuse(image)

    message = studio.message.value
    assert f"seed {image.seed} (locked)" in message
    assert "aspect ratio 1:1 → 3:2" in message
    assert "num inference steps 4 → 2" in message
    assert "prompt" in message
    assert focused == [studio.controls.prompt]
    assert studio.controls.advanced.selected_index == 0  # steps changed: Advanced opens
    assert studio.params() == image.recipe

    studio.controls.advanced.selected_index = None
    studio.seed = None
    studio.reuse(image)  # only the seed differs: its state is next to Generate
    assert studio.message.value == (
        f"<span class='flux-reuse'>reuse: seed {image.seed} (locked)</span>"
    )
    assert studio.controls.advanced.selected_index is None


def test_focus_asks_the_front_end_to_focus_where_ipywidgets_can() -> None:
    from flux_widgets.widgets._compat import focus

    box = ipywidgets.Textarea()
    sent: list[Any] = []
    box.send = sent.append  # what goes to the front end as a custom message
    focus(box)
    # ipywidgets 8 has a focus message (the browser scrolls the field into view); 7 has none.
    assert sent == ([{"do": "focus"}] if hasattr(box, "focus") else [])


# -- job rows -------------------------------------------------------------------------------


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
        assert second.note == "waiting for one of 1 slot (all 1 busy here); #1 in line"
        assert third.note == "waiting for one of 1 slot (all 1 busy here); #2 in line"
        assert "#2 in line" in third.label.value
        await _until(lambda: second.state != "queued")
        assert third.note == "waiting for one of 1 slot (all 1 busy here); #1 in line"
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


async def test_grid_uses_one_random_seed_range_and_says_cancelled(
    polling_client: FluxClient,
) -> None:
    client = polling_client  # no held create request left open at the server when cancelled
    from flux_widgets.mock import predictions
    from flux_widgets.params import RANDOM_SEED_RANGE, random_seed
    from flux_widgets.widgets import controls as controls_module
    from flux_widgets.widgets.grid import PromptGrid

    assert predictions.random_seed is random_seed  # the mock draws from the same function
    assert controls_module.random_seed is random_seed
    low, high = RANDOM_SEED_RANGE
    grid = PromptGrid(client, rows=("prompt", ["a"]), columns=("num_inference_steps", [1, 2]))
    assert low <= grid.base["seed"] <= high
    assert all(low <= random_seed() <= high for _ in range(200))

    stuck = PromptGrid(
        client,
        rows=("prompt", ["[mock:stuck] a"]),
        columns=("num_inference_steps", [1, 2]),
    )
    stuck.generate_button.click()
    await asyncio.sleep(0.2)
    stuck.cancel()
    await stuck.wait()
    assert "cancelled" in stuck.progress.value
    assert "canceled" not in stuck.progress.value


# -- the static fallback in a saved notebook ------------------------------------------------

FALLBACK_CELLS = [
    "from flux_widgets import FluxClient, PromptStudio\n"
    "studio = PromptStudio(FluxClient.mock(), history=False)\nstudio.megapixels = '0.25'\nstudio",
    "studio.prompt = 'a lantern'\nstudio.num_outputs = 3\nimages = await studio.generate()",
    "import hashlib\nprint(hashlib.sha256(studio.contact_sheet()).hexdigest())",
]


@pytest.mark.slow
def test_a_notebook_executed_by_nbclient_saves_a_contact_sheet_of_the_new_images(
    tmp_path: Path,
) -> None:
    import base64
    import hashlib

    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in FALLBACK_CELLS]
    NotebookClient(notebook, timeout=120).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)
    saved = nbformat.read(path, as_version=4)

    outputs = saved.cells[0].outputs
    live_text = "PromptStudio (mock API): its newest images are in the picture below"
    assert outputs[0]["data"]["text/plain"] == live_text
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 1
    assert pictures[0]["data"]["text/plain"] == "PromptStudio: 3 images (mock API)"
    png = base64.b64decode(pictures[0]["data"]["image/png"])
    expected = saved.cells[2].outputs[0]["text"].strip()
    assert hashlib.sha256(png).hexdigest() == expected  # the studio's sheet of those 3 images
    with Image.open(io.BytesIO(png)) as sheet:
        assert sheet.size == (3 * 160, 160)


async def test_a_studio_reopened_on_a_history_has_its_picture_once_the_records_are_read(
    studio: PromptStudio, client: FluxClient, tmp_path: Path
) -> None:
    studio.prompt = "a lantern"
    studio.num_outputs = 2
    images = await studio.generate()

    again = PromptStudio(client, history_dir=tmp_path / "history")
    # The history is read off the event loop (a studio on 100,000 images opens at once); once
    # it is, the static picture shows the same sheet as the studio that made the images.
    await again.wait()
    picture = again._picture.bundle()
    assert picture["text/plain"] == "PromptStudio: 2 images (mock API)"
    assert picture["image/png"] == studio.contact_sheet()
    assert [image.seed for image in again.images] == [image.seed for image in images]


async def test_a_closed_studio_leaves_no_live_widget_models(
    client: FluxClient, tmp_path: Path
) -> None:
    from ipywidgets.widgets import widget as widget_module

    instances = getattr(widget_module, "_instances", None)
    live = instances if instances is not None else widget_module.Widget.widgets
    before = set(live)
    studio = PromptStudio(client, history_dir=tmp_path / "history")
    studio.megapixels = "0.25"
    studio.prompt = "a lantern"
    await studio.generate()
    studio.gallery.open_image(studio.images[0])
    await studio.wait()
    assert len(set(live) - before) > 50
    studio.close()
    assert set(live) - before == set()


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


def test_queue_places_are_counted_per_client_and_event_loop() -> None:
    from types import SimpleNamespace

    from flux_widgets.widgets.jobs import explain_queue

    # ipykernel 7 may run a click's callback on another event loop than a cell's, and the
    # client keeps one semaphore per loop: each loop's rows queue for their own slots.
    loop_a, loop_b = object(), object()
    client = SimpleNamespace(max_concurrency=1)
    rows = [JobRow(FluxParams(prompt="x")) for _ in range(3)]
    for row, loop in zip(rows, (loop_a, loop_a, loop_b), strict=True):
        row._task = SimpleNamespace(get_loop=lambda loop=loop: loop)
    rows[0]._enter("processing")
    explain_queue(rows, lambda row: client)
    assert rows[0].note == ""
    assert rows[1].note == "waiting for one of 1 slot (all 1 busy here); #1 in line"
    assert rows[2].note == (
        "waiting for one of 1 slot (0 busy here, the rest by other work on this client); #1 in line"
    )


async def test_a_click_from_another_threads_loop_runs_on_the_studios_loop(
    studio: PromptStudio,
) -> None:
    import threading

    # What JupyterLab 4.4+ with ipykernel 7 does: widget messages handled on a subshell thread
    # with its own event loop. The generation must still start on the studio's (the cell's)
    # loop, where the client's slots and the studio's locks live.
    studio.prompt = "a lantern"
    home = asyncio.get_running_loop()

    def click_from_a_subshell() -> None:
        asyncio.run(_click(studio))

    thread = threading.Thread(target=click_from_a_subshell)
    thread.start()
    await asyncio.to_thread(thread.join)
    await _until(lambda: len(studio.jobs) == 1)
    [row] = studio.jobs
    assert row.loop is home
    await studio.wait()
    assert row.state == "done"


async def _click(studio: PromptStudio) -> None:
    studio.generate_button.click()


def test_a_queued_rows_cancel_button_keeps_its_width_beside_a_long_line() -> None:
    row = JobRow(FluxParams(prompt="x"))
    assert row.cancel_button.layout.flex == "0 0 auto"  # never shrunk to "Can…"
    assert row.cancel_button.layout.width == "90px"
    assert row.label.layout.flex == "1 1 auto" and row.label.layout.min_width == "0"


def test_the_thumbnail_label_wraps_so_a_long_seed_stays_readable() -> None:
    from flux_widgets.widgets._html import STUDIO_CSS

    rule = STUDIO_CSS.split(".flux-studio .flux-open", 1)[1].split("}", 1)[0]
    assert "white-space: normal" in rule and "height: auto" in rule


async def test_an_empty_prompt_is_said_in_words_and_the_message_goes_once_one_is_typed(
    studio: PromptStudio,
) -> None:
    studio.controls.prompt.value = "   "
    studio.generate_button.click()
    assert "prompt must not be empty" in studio.message.value
    assert "ValueError" not in studio.message.value
    assert studio.jobs == []
    studio.controls.prompt.value = "a fox"
    assert studio.message.value == ""
