"""The studio's gallery: fresh and locked seeds under each thumbnail, thumbnails far smaller than
the images, and the viewer: full image, recipe, download, reuse, save, copy as code."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from flux_widgets.params import FluxParams
from flux_widgets.widgets import PromptStudio


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


def test_the_thumbnail_label_wraps_so_a_long_seed_stays_readable() -> None:
    from flux_widgets.widgets._html import STUDIO_CSS

    rule = STUDIO_CSS.split(".flux-studio .flux-open", 1)[1].split("}", 1)[0]
    assert "white-space: normal" in rule and "height: auto" in rule
