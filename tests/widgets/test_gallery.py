"""The gallery under load: one page of tiles however many generations finish together, and
images it cannot decode refused with the documented error instead of breaking the page."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from factories import make_image
from huge_images import claiming
from ipywidgets.widgets import widget as widget_module

from flux_widgets.widgets import Gallery
from flux_widgets.widgets.gallery import Tile, make_thumbnail

PAGE = 4


def _live_widgets() -> int:
    # ipywidgets 8 keeps live widgets in a module dict (Widget.widgets warns); 7 on the class.
    instances = getattr(widget_module, "_instances", None)
    return len(instances if instances is not None else widget_module.Widget.widgets)


def _live_tiles(gallery: Gallery) -> int:
    return sum(isinstance(child, Tile) for child in gallery.grid.children)


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
