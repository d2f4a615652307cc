"""The viewer, the gallery around it and the keyboard shortcuts, without a front end.

What viewer.js and shortcuts.js send is replayed with ``_handle_custom_msg`` (what the comm
calls when a front-end message arrives); what reaches the browser is read from the synced
traits and from ipywidgets' saved widget state; tests/browser/test_studio.py drives the same
in a page.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from PIL import Image

from flux_widgets.client import FluxClient
from flux_widgets.images import GeneratedImage
from flux_widgets.mock import MockConfig
from flux_widgets.params import FluxParams
from flux_widgets.recipes import code_snippet
from flux_widgets.widgets import Gallery, PromptStudio, Shortcuts, Viewer
from flux_widgets.widgets import viewer as viewer_module
from flux_widgets.widgets.viewer import RECIPE_ROWS, differing_fields, recipe_values

VIEWER_JS = Path(viewer_module.__file__).with_name("viewer.js")


def _image(seed: int, *, color: str = "red", size: tuple[int, int] = (64, 48), **params: Any):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    recipe = FluxParams(prompt=params.pop("prompt", "a red square"), output_format="png", **params)
    return GeneratedImage.from_bytes(out.getvalue(), recipe, seed=seed)


def _front_end(widget: Any, **content: Any) -> None:
    """A message as viewer.js / shortcuts.js send it."""
    widget._handle_custom_msg(content, [])


def _live_widgets() -> dict[str, Any]:
    from ipywidgets.widgets import widget as widget_module

    instances = getattr(widget_module, "_instances", None)  # ipywidgets 8; 7 keeps it on the class
    return dict(instances if instances is not None else widget_module.Widget.widgets)


def _saved_buffer_bytes(widget: Any) -> int:
    """Bytes of binary buffers the widget's model adds to a saved notebook's widget state."""
    state = ipywidgets.Widget.get_manager_state(widgets=[widget])["state"][widget.model_id]
    return sum(len(buffer["data"]) for buffer in state.get("buffers", []))


@pytest.fixture
def images() -> list[GeneratedImage]:
    """Five images, oldest first (seeds 1..5)."""
    return [
        _image(seed, color=color)
        for seed, color in enumerate(["red", "green", "blue", "gray", "tan"], 1)
    ]


@pytest.fixture
def gallery(images: list[GeneratedImage], tmp_path: Path) -> Iterator[Gallery]:
    gallery = Gallery(save_dir=tmp_path / "saved", page_size=2)
    gallery.load_now(images)
    yield gallery
    gallery.close()


# -- opening, moving, closing -----------------------------------------------------------------


def test_open_sends_the_full_image_recipe_and_code(gallery: Gallery, images: list[Any]) -> None:
    viewer = gallery.viewer
    gallery.tiles[0].open_button.click()  # the newest
    newest = images[-1]
    assert viewer.is_open and viewer.mode == "single"
    assert viewer.image_a == newest.data and viewer.mime_a == "image/png"
    assert viewer.image_b == b""
    assert viewer.title == "seed 5 · 1 of 5"
    rows = {row["key"]: row for row in viewer.rows}
    assert rows["seed"]["a"] == "5" and rows["size"]["a"] == "64×48"
    assert rows["go_fast"]["a"] == "on" and rows["prompt"]["a"] == "a red square"
    assert not any(row["differs"] for row in viewer.rows)
    assert viewer.code == code_snippet(newest)  # ready before the click: no round trip
    assert (viewer.has_previous, viewer.has_next) == (False, True)


def test_arrow_keys_move_through_every_image_newest_first(
    gallery: Gallery, images: list[Any]
) -> None:
    viewer = gallery.viewer
    gallery.open_image(images[-1])
    seen = [viewer.image]
    for _ in range(6):  # one more than there is: the last press stays on the oldest
        _front_end(viewer, event="move", step=1)
        seen.append(viewer.image)
    # Past the page on screen (2 tiles): the viewer walks the whole gallery.
    assert seen == [*reversed(images), images[0], images[0]]
    assert viewer.title == "seed 1 · 5 of 5"
    assert (viewer.has_previous, viewer.has_next) == (True, False)
    _front_end(viewer, event="move", step=-1)
    assert viewer.image is images[1] and viewer.image_a == images[1].data


def test_escape_closes_and_the_saved_state_holds_no_image(
    gallery: Gallery, images: list[Any]
) -> None:
    viewer = gallery.viewer
    gallery.open_image(images[2])
    assert _saved_buffer_bytes(viewer) >= len(images[2].data)  # while open, it is there
    _front_end(viewer, event="close")
    assert not viewer.is_open and viewer.image is None
    assert viewer.image_a == b"" and viewer.image_b == b"" and viewer.code == ""
    assert _saved_buffer_bytes(viewer) == 0


# -- compare ----------------------------------------------------------------------------------


def test_compare_highlights_exactly_the_parameters_that_differ(tmp_path: Path) -> None:
    one_step = _image(7, num_inference_steps=1, go_fast=True)
    four_steps = _image(8, num_inference_steps=4, go_fast=False)
    gallery = Gallery(save_dir=tmp_path)
    gallery.load_now([one_step, four_steps])
    gallery.compare(one_step, four_steps)
    viewer = gallery.viewer
    assert viewer.mode == "compare"
    assert viewer.image_a == one_step.data and viewer.image_b == four_steps.data
    differs = {row["key"]: (row["a"], row["b"]) for row in viewer.rows if row["differs"]}
    assert differs == {
        "seed": ("7", "8"),
        "num_inference_steps": ("1", "4"),
        "go_fast": ("on", "off"),
    }
    assert differing_fields(one_step, four_steps) == ["seed", "num_inference_steps", "go_fast"]
    assert "A: seed 7" in viewer.title and "B: seed 8" in viewer.title
    gallery.close()


def test_the_safety_checker_row_says_whether_the_checker_ran() -> None:
    # "safety checker off | off" was a double negative.
    checked, unchecked = _image(1), _image(2, disable_safety_checker=True)
    labels = dict(RECIPE_ROWS)
    assert labels["disable_safety_checker"] == "safety checker"
    assert recipe_values(checked)["disable_safety_checker"] == "on"
    assert recipe_values(unchecked)["disable_safety_checker"] == "off"


def test_the_recipe_names_the_style_an_image_was_made_with(gallery: Gallery) -> None:
    import dataclasses

    from flux_widgets.params import PromptOrigin

    plain = _image(1)
    origin = PromptOrigin("a lighthouse", style="watercolor", style_template="w of {prompt}")
    styled = dataclasses.replace(_image(2, prompt="w of a lighthouse"), origin=origin)
    assert recipe_values(styled)["style"] == 'watercolor, on "a lighthouse"'
    gallery.open_image(styled)
    rows = {row["key"]: row["a"] for row in gallery.viewer.rows}
    assert rows["style"] == 'watercolor, on "a lighthouse"'
    assert [key for key, _ in RECIPE_ROWS][:2] == ["prompt", "style"]  # read with the prompt
    gallery.open_image(plain)  # no style: no empty row
    assert "style" not in {row["key"] for row in gallery.viewer.rows}
    assert "style" in differing_fields(plain, styled)


def test_compare_button_pins_the_image_and_arrows_move_the_other(
    gallery: Gallery, images: list[Any]
) -> None:
    viewer = gallery.viewer
    gallery.open_image(images[-1])
    _front_end(viewer, event="compare")
    assert viewer.mode == "compare"
    assert viewer.pinned is images[-1] and viewer.image is images[-2]
    _front_end(viewer, event="move", step=1)
    assert viewer.pinned is images[-1] and viewer.image is images[-3]
    assert viewer.image_a == images[-1].data and viewer.image_b == images[-3].data
    # A tile's open button while comparing picks the right-hand image.
    gallery.open_image(images[0])
    assert viewer.pinned is images[-1] and viewer.image is images[0]
    _front_end(viewer, event="compare_view", view="side-by-side")
    assert viewer.compare_view == "side-by-side"
    _front_end(viewer, event="compare_view", view="<script>")  # not a view: ignored
    assert viewer.compare_view == "side-by-side"
    _front_end(viewer, event="compare")  # back to one image: the one being browsed
    assert viewer.mode == "single" and viewer.pinned is None and viewer.image is images[0]
    assert viewer.image_b == b""


def test_in_compare_the_actions_say_they_act_on_b(gallery: Gallery, images: list[Any]) -> None:
    viewer = gallery.viewer
    gallery.open_image(images[-1])
    assert viewer.acts_on == ""  # one image: "reuse", "save", ... need no letter
    _front_end(viewer, event="compare")
    # The arrows move B; reuse, save, download and copy act on it, and the buttons say so.
    assert viewer.acts_on == "B" and viewer.image is images[-2]
    assert viewer.title.startswith(f"A: seed {images[-1].seed}  vs  B: seed {images[-2].seed}")
    assert viewer.download_bytes()[:8] == images[-2].data[:8]
    _front_end(viewer, event="compare")
    assert viewer.acts_on == ""
    _front_end(viewer, event="compare")
    _front_end(viewer, event="close")
    assert viewer.acts_on == ""
    source = VIEWER_JS.read_text()
    # viewer.js writes the letter into every action button it draws.
    for action in ("reuse", "copy", "download", "save"):
        assert f'data-action="{action}"' in source
    assert 'model.get("acts_on")' in source and "change:acts_on" in source


def test_reuse_closes_the_viewer_over_the_controls(images: list[Any], tmp_path: Path) -> None:
    reused: list[GeneratedImage] = []
    gallery = Gallery(save_dir=tmp_path, on_reuse=reused.append)
    gallery.load_now(images)
    viewer = gallery.viewer
    gallery.open_image(images[-1])
    _front_end(viewer, event="reuse")
    assert reused == [images[-1]]
    # Closed, full image dropped: the controls it filled are under it.
    assert not viewer.is_open and viewer.image_a == b""
    gallery.open_image(images[-1])  # and it opens again, Esc closing it as before
    assert viewer.is_open
    _front_end(viewer, event="close")
    assert not viewer.is_open
    gallery.close()


def test_reuse_without_a_studio_says_so_and_stays_open(gallery: Gallery, images: list[Any]) -> None:
    viewer = gallery.viewer
    gallery.open_image(images[-1])
    _front_end(viewer, event="reuse")
    assert viewer.is_open and viewer.message_kind == "error" and "studio" in viewer.message


def test_escape_closes_the_modal_wherever_the_focus_went() -> None:
    # Reuse focuses the prompt under the modal; Esc there must still close the viewer (a
    # listener on the page, not only on the viewer's own element). Proven in a browser by
    # tests/browser/test_studio.py.
    source = VIEWER_JS.read_text()
    assert 'document.addEventListener("keydown", onPageKey, true)' in source
    assert 'document.removeEventListener("keydown", onPageKey, true)' in source


def test_compare_with_a_single_image_says_why_not(tmp_path: Path) -> None:
    only = _image(3)
    gallery = Gallery(save_dir=tmp_path)
    gallery.load_now([only])
    gallery.open_image(only)
    _front_end(gallery.viewer, event="compare")
    assert gallery.viewer.mode == "single"
    assert gallery.viewer.message_kind == "error"
    assert "second image" in gallery.viewer.message
    gallery.close()


# -- save, copy, repr -----------------------------------------------------------------------


async def test_save_uses_the_typed_folder_and_reports_the_absolute_path(
    gallery: Gallery, images: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux_widgets.recipes import read_recipe

    monkeypatch.chdir(tmp_path)
    viewer = gallery.viewer
    gallery.open_image(images[0])
    _front_end(viewer, event="save", folder="picked")  # relative, as typed
    await gallery.wait()
    [saved] = (tmp_path / "picked").iterdir()
    assert viewer.save_dir == "picked"
    assert viewer.message == f"saved to {saved}" and Path(viewer.message[9:]).is_absolute()
    assert viewer.message_kind == "info"
    assert read_recipe(saved) == images[0].recipe


async def test_save_into_a_file_shows_the_error(
    gallery: Gallery, images: list[Any], tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x")
    gallery.open_image(images[0])
    _front_end(gallery.viewer, event="save", folder=str(not_a_folder))
    await gallery.wait()
    assert gallery.viewer.message_kind == "error"
    assert "Error" in gallery.viewer.message  # FileExistsError / NotADirectoryError, by name


def test_reprs_stay_small_with_an_image_open(gallery: Gallery, images: list[Any]) -> None:
    big = _image(9, size=(900, 900))
    big_data_len = len(big.data)
    gallery.load_now([*images, big])
    gallery.open_image(big)
    assert big_data_len > 2_000
    for text in (repr(gallery), repr(gallery.viewer)):
        assert len(text) < 200, text
        assert "data:" not in text and "image_a" not in text
    assert repr(gallery.viewer) == "<Viewer seed 9, 900x900>"


def test_the_front_end_ships_in_the_package_without_a_cdn() -> None:
    folder = Path(__import__("flux_widgets.widgets.viewer").widgets.viewer.__file__).parent
    for name in ("viewer.js", "viewer.css", "shortcuts.js"):
        text = (folder / name).read_text()
        assert "http://" not in text and "https://" not in text, name
        assert "import " not in text or name.endswith(".css"), name  # no module fetched
    assert "export default" in str(Viewer._esm) and ".flux-viewer" in str(Viewer._css)


# -- widgets closed when dropped --------------------------------------------------------------


async def test_opening_closing_and_paging_leave_no_widgets_behind(
    images: list[Any], tmp_path: Path
) -> None:
    many = [_image(seed) for seed in range(40)]
    gallery = Gallery(save_dir=tmp_path, page_size=4)
    gallery.load_now(many)
    await gallery.show_more()
    gallery.open_image(many[-1])
    gallery.viewer.close_image()
    baseline = len(_live_widgets())
    for image in many[::2]:
        gallery.open_image(image)
        _front_end(gallery.viewer, event="move", step=1)
        _front_end(gallery.viewer, event="compare")
        _front_end(gallery.viewer, event="close")
    for _ in range(3):
        await gallery.show_more()
    await gallery.load(many[:8])  # back to one page: the extra tiles are closed
    await gallery.show_more()
    assert len(_live_widgets()) == baseline
    owned = _ids_of(gallery)
    assert len(owned) > 4 * 5  # gallery, viewer, grid, button, 4 tiles of 3 widgets + layouts
    gallery.close()
    # Everything the gallery made is closed with it: tiles, viewer, layouts and styles.
    assert owned & set(_live_widgets()) == set()


async def test_a_full_page_reuses_its_tiles_in_place(tmp_path: Path) -> None:
    gallery = Gallery(save_dir=tmp_path, page_size=3)
    first = [_image(seed) for seed in range(3)]
    await gallery.add(first)
    children = gallery.grid.children
    widgets_before = len(_live_widgets())
    newer = [_image(seed) for seed in range(10, 14)]
    for image in newer:
        await gallery.add([image])
    # No new widgets, and the grid's children untouched (ipywidgets would re-render every
    # child after the first changed one); the CSS order puts the newest first.
    assert len(_live_widgets()) == widgets_before
    assert gallery.grid.children == children
    assert [tile.image for tile in gallery.tiles] == [newer[3], newer[2], newer[1]]
    orders = [int(tile.layout.order) for tile in gallery.tiles]
    assert orders == sorted(orders)
    assert [tile.open_button.description for tile in gallery.tiles] == [
        "open · seed 13",
        "open · seed 12",
        "open · seed 11",
    ]
    gallery.tiles[0].open_button.click()  # a reused tile opens its new image
    assert gallery.viewer.image is newer[3]
    gallery.close()


async def test_the_next_image_takes_the_hidden_spare_tile(tmp_path: Path) -> None:
    gallery = Gallery(save_dir=tmp_path, page_size=24)
    first = _image(1)
    await gallery.add([first])
    [shown, spare] = gallery.grid.children  # one tile, and one hidden, ready for the next
    assert shown.image is first and spare.image is None and spare.layout.display == "none"
    assert gallery.tiles == [shown] and len(gallery.thumbnails()) == 1
    second = _image(2)
    await gallery.add([second])
    assert gallery.grid.children[:2] == (shown, spare)  # nothing re-created
    assert spare.image is second and spare.layout.display is None
    assert bytes(spare.thumbnail.value) and spare.open_button.description == "open · seed 2"
    assert gallery.tiles == [spare, shown]
    assert gallery.grid.children[2].image is None  # a new spare
    gallery.close()


def _ids_of(gallery: Gallery) -> set[str]:
    ids: set[str] = set()

    def visit(widget: Any) -> None:
        if widget is None:
            return
        if getattr(widget, "comm", None) is not None:
            ids.add(widget.model_id)
        for part in ("layout", "style"):
            visit(getattr(widget, part, None))
        for child in getattr(widget, "children", ()):
            visit(child)

    for widget in (gallery, gallery.viewer, gallery.grid, gallery.more_button):
        visit(widget)
    return ids


# -- Ctrl/Cmd+Enter -------------------------------------------------------------------------


@pytest.fixture
async def studio(tmp_path: Path) -> AsyncIterator[PromptStudio]:
    client = FluxClient.mock(config=MockConfig(generation_time=0.05), timeout=30)
    studio = PromptStudio(client, history_dir=tmp_path / "history", save_dir=tmp_path / "saved")
    studio.megapixels = "0.25"
    yield studio
    studio.cancel_all()
    await studio.wait()
    await client.aclose()


async def test_ctrl_enter_generates_the_prompt_as_typed(studio: PromptStudio) -> None:
    scope = studio.shortcuts.scope
    assert scope in studio.controls.prompt._dom_classes  # the textarea the JS listens in
    studio.prompt = "stale text, not yet synced"
    _front_end(studio.shortcuts, event="generate", prompt="a kite over dunes")
    await studio.wait()
    assert studio.prompt == "a kite over dunes"
    [job] = studio.jobs
    assert [image.params.prompt for image in studio.images] == ["a kite over dunes"]
    assert job.params.prompt == "a kite over dunes"


async def test_ctrl_enter_with_an_empty_prompt_shows_the_error(studio: PromptStudio) -> None:
    _front_end(studio.shortcuts, event="generate", prompt="   ")
    await studio.wait()
    assert studio.jobs == []
    assert "prompt" in studio.message.value


def test_each_studio_listens_only_in_its_own_prompt() -> None:
    first, second = Shortcuts(), Shortcuts()
    assert first.scope != second.scope and first.scope.startswith("flux-keys-")
    heard: list[str] = []
    first.on_generate(heard.append)
    _front_end(first, event="generate", prompt=42)  # not text: ignored
    _front_end(first, event="other", prompt="x")
    _front_end(first, event="generate", prompt="a kite")
    assert heard == ["a kite"]
    assert first.layout.display == "none"  # nothing to see
