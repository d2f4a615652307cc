"""The gallery under load: one page of tiles however many generations finish together, and
images it cannot decode refused with the documented error instead of breaking the page."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time

import pytest
from factories import make_image
from huge_images import claiming
from ipywidgets.widgets import widget as widget_module

from flux_widgets.images import GeneratedImage
from flux_widgets.widgets import Gallery
from flux_widgets.widgets import gallery as gallery_module
from flux_widgets.widgets.gallery import Tile, make_thumbnail

PAGE = 4


def _live_widgets() -> int:
    # ipywidgets 8 keeps live widgets in a module dict (Widget.widgets warns); 7 on the class.
    instances = getattr(widget_module, "_instances", None)
    return len(instances if instances is not None else widget_module.Widget.widgets)


def _live_tiles(gallery: Gallery) -> int:
    return sum(isinstance(child, Tile) for child in gallery.grid.children)


@pytest.mark.parametrize("seed", range(4))
async def test_concurrent_generations_keep_one_page_of_tiles(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)

    def slow_thumbnail(image: GeneratedImage, size: int = 256) -> bytes:
        # Older images take longer: their thumbnails are ready after newer ones pushed them
        # off the page, as when generations finish together while thumbnails are made.
        time.sleep(0.02 if image.seed is not None and image.seed % 3 == 0 else 0.001)
        return make_thumbnail(image, size)

    monkeypatch.setattr(gallery_module, "make_thumbnail", slow_thumbnail)
    before = _live_widgets()
    gallery = Gallery(page_size=PAGE)
    most = 0
    layout = gallery._layout

    def counting_layout() -> None:
        nonlocal most
        layout()
        most = max(most, _live_tiles(gallery))

    monkeypatch.setattr(gallery, "_layout", counting_layout)
    adds = []
    n = 0
    for _ in range(40):  # a long session of generations of one to three images each
        batch = [make_image(n + k) for k in range(rng.randint(1, 3))]
        n += len(batch)
        adds.append(gallery.add_soon(batch))
        await asyncio.sleep(rng.uniform(0, 0.005))
    await asyncio.gather(*adds)
    await gallery.wait()

    assert [tile.image for tile in gallery.tiles] == gallery.images[::-1][:PAGE]
    # A page of tiles and at most one spare: never a tile for an image that left the page.
    assert _live_tiles(gallery) <= PAGE + 1 and most <= PAGE + 1
    assert set(gallery.grid.children) == {*gallery._tiles.values(), gallery._spare} - {None}
    gallery.close()
    assert _live_widgets() == before


def test_a_huge_image_is_refused_with_image_decode_error_and_the_page_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ok = make_image(1, "png")
    small = make_image(2, "png")
    huge = dataclasses.replace(small, data=claiming(small.data, 20000, 20000))
    with caplog.at_level(logging.WARNING, logger="flux_widgets"):
        assert make_thumbnail(huge) == b""
    assert "20000x20000 pixels" in caplog.text and "refused before decoding" in caplog.text
    gallery = Gallery(page_size=PAGE)
    gallery.load_now([ok, huge])
    assert [bool(tile.thumbnail.value) for tile in gallery.tiles] == [False, True]
    gallery.close()
