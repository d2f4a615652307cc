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
from flux_widgets.widgets import ParameterControls, PromptStudio
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
    controls.seed.value = 1234
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
    assert controls.seed.value == second  # shown after drawing

    controls.set("seed", 7)
    assert controls.next_params().seed == 7
    assert controls.next_params().seed == 7
    controls.randomize_seed.click()
    assert controls.seed.value != 7
    assert controls.lock_seed.value is True
    assert controls.next_params().seed == controls.seed.value


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
    assert len(studio._tasks) == 1
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
    assert studio.controls.seed.value == second.seed
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
    assert len(studio.history) == 0
    assert studio.images == [] and studio.gallery.tiles == []


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
    assert studio._repr_mimebundle_()["text/plain"] == "PromptStudio: 0 images (mock API)"
    studio.prompt = "a lantern"
    studio.num_outputs = 3
    await studio.generate()

    bundle = studio._repr_mimebundle_()
    assert bundle["text/plain"] == "PromptStudio: 3 images (mock API)"
    assert repr(studio) == bundle["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    with Image.open(io.BytesIO(bundle["image/png"])) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (3 * 160, 160)


def test_public_names_are_sorted_and_complete() -> None:
    assert widgets_package.__all__ == sorted(widgets_package.__all__)
    for name in widgets_package.__all__:
        assert isinstance(getattr(widgets_package, name), type)
    assert issubclass(PromptStudio, ipywidgets.VBox)
