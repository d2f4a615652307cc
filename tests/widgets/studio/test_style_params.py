"""Styles in the studio: saving one leaves the prompt for a subject, a prompt still holding
``{prompt}`` is refused on every send path, and a style's parameters go back when it goes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flux_widgets.client import FluxClient
from flux_widgets.widgets import PromptStudio


@pytest.fixture
async def studio(client: FluxClient, tmp_path: Path) -> AsyncIterator[PromptStudio]:
    studio = PromptStudio(client, history_dir=tmp_path / "history", styles_dir=tmp_path / "styles")
    studio.megapixels = "0.25"
    yield studio
    studio.cancel_all()
    await studio.wait()


def _creates(client: FluxClient) -> int:
    return int(client._mock_server.state.creates)


async def test_saving_a_style_leaves_the_prompt_ready_for_a_subject(
    studio: PromptStudio, client: FluxClient, tmp_path: Path
) -> None:
    studio.prompt = "a blueprint drawing of {prompt}"
    studio.explore.styles.name_box.value = "blueprint"
    studio.explore.styles.save_button.click()
    saved = json.loads((tmp_path / "styles" / "blueprint.json").read_text())
    assert saved["template"] == "a blueprint drawing of {prompt}"
    assert studio.explore.styles.value == "blueprint"
    assert studio.prompt == ""
    assert "type a subject" in studio.message.value
    studio.prompt = "a bicycle"
    [image] = await studio.generate()
    assert image.params.prompt == "a blueprint drawing of a bicycle"


async def test_a_prompt_still_holding_the_slot_is_questioned_on_every_studio_path(
    studio: PromptStudio, client: FluxClient
) -> None:
    studio.prompt = "a blueprint drawing of {prompt}"
    # In view before any click: the estimate line asks.
    assert "still holds {prompt}" in studio.explore.estimate.text
    studio.generate_button.click()  # Generate: said in words, no Python class name
    assert "still holds {prompt}" in studio.message.value
    assert "Error" not in studio.message.value
    studio.controls_panel._generate_typed("a {prompt} with a {red|blue} roof")  # Ctrl+Enter
    assert "still holds {prompt}" in studio.message.value
    studio.explore.styles.value = "watercolor"  # wrapped by a style too
    with pytest.raises(ValueError, match="still holds"):
        await studio.generate()
    await studio.wait()
    assert _creates(client) == 0 and studio.images == []


async def test_a_styles_parameters_go_back_when_another_style_is_chosen(
    studio: PromptStudio,
) -> None:
    assert (studio.aspect_ratio, studio.output_format) == ("1:1", "webp")
    studio.explore.styles.value = "diagram for slides"  # 16:9, png
    assert (studio.aspect_ratio, studio.output_format) == ("16:9", "png")
    studio.explore.styles.value = "35mm photo"  # 3:2 only: png goes back
    assert (studio.aspect_ratio, studio.output_format) == ("3:2", "webp")
    assert "output format back to webp" in studio.message.value
    studio.explore.styles.value = None  # no style: 1:1 as before the first style
    assert (studio.aspect_ratio, studio.output_format) == ("1:1", "webp")
    assert "aspect ratio back to 1:1" in studio.message.value
    studio.explore.styles.value = "pixel art"  # png
    studio.output_format = "jpg"  # a change of the user's stays
    studio.explore.styles.value = "watercolor"
    assert studio.output_format == "jpg"


async def test_reuse_keeps_the_images_parameters_over_the_last_styles(
    studio: PromptStudio,
) -> None:
    studio.explore.styles.value = "diagram for slides"
    studio.prompt = "the water cycle"
    [image] = await studio.generate()
    studio.explore.styles.value = None
    studio.aspect_ratio = "4:5"
    studio.reuse(image)
    assert studio.explore.styles.value == "diagram for slides"
    assert (studio.aspect_ratio, studio.output_format) == ("16:9", "png")
    studio.explore.styles.value = None  # nothing to give back: reuse set them
    assert (studio.aspect_ratio, studio.output_format) == ("16:9", "png")
