"""Pictures composed of several images with Pillow: the studio's contact sheet (its static
fallback) and the cells of the grid's export. Both decode: keep them off the event loop where
they run during a batch. And ``PictureOutput``, the notebook output that carries the sheet.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
from PIL import Image

from ..images import GeneratedImage
from ._compat import close_tree

logger = logging.getLogger("flux_widgets")


def fitted(image: GeneratedImage, size: int) -> Image.Image:
    """The image decoded, shrunk to fit a ``size`` square, in RGB (ready to paste)."""
    picture = image.to_pil()
    picture.draft("RGB", (size, size))  # JPEG decodes at reduced scale
    picture.thumbnail((size, size))
    return picture.convert("RGB")


def paste_centered(
    canvas: Image.Image, picture: Image.Image, at: tuple[int, int], size: int
) -> None:
    """Paste ``picture`` centred in the ``size`` square whose top-left corner is ``at``."""
    x, y = at
    canvas.paste(picture, (x + (size - picture.width) // 2, y + (size - picture.height) // 2))


def contact_sheet(images: Sequence[GeneratedImage], cell: int = 160, columns: int = 4) -> bytes:
    """A PNG of the images' thumbnails in a grid: the studio's picture where widgets cannot
    render (GitHub, nbviewer), so it must be a format every viewer shows."""
    columns = max(1, min(columns, len(images)))
    rows = (len(images) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * cell, max(rows, 1) * cell), "white")
    for position, image in enumerate(images):
        try:
            picture = fitted(image, cell - 8)
        except Exception:  # one damaged file in the history must not break the picture
            logger.warning("could not draw %r in the contact sheet", image, exc_info=True)
            continue
        at = ((position % columns) * cell, (position // columns) * cell)
        paste_centered(sheet, picture, at, cell)
    # A palette of 128 colours (dithered) makes the PNG about 6x smaller (267 -> 42 KiB for
    # eight 160 px thumbnails): it is saved in the notebook, and a preview, not the images.
    palette = sheet.quantize(
        colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG
    )
    out = io.BytesIO()
    palette.save(out, "PNG", optimize=True)
    return out.getvalue()


class ContactSheet:
    """The contact sheet of the most recent ``limit`` images, newest first, made once per set."""

    def __init__(self, limit: int = 8) -> None:
        self.limit = limit
        # The images themselves, not their ids: an id can be reused once an image is freed.
        self._cache: tuple[tuple[GeneratedImage, ...], bytes] | None = None

    def of(self, images: Sequence[GeneratedImage]) -> bytes | None:
        """The PNG for ``images`` (oldest first), or None when there are none."""
        recent = tuple(images[-self.limit :][::-1])
        if not recent:
            return None
        if self._cache is None or self._cache[0] != recent:
            self._cache = (recent, contact_sheet(recent))
        return self._cache[1]


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class PictureOutput:
    """A notebook output under a widget that holds its static picture, kept up to date.

    A mimebundle is computed once, at display time (a new studio has no images yet), so the
    picture goes into an output of its own with a display id, updated after each change
    (``update_display_data``): a notebook saved by JupyterLab or executed by nbclient then
    holds the current picture where widgets do not render (GitHub, nbviewer). Where they
    render, the output is an invisible widget, whose view wins over the PNG: nothing shows
    twice. The widget's own output is never updated: re-rendering it would lose what a person
    is typing.
    """

    def __init__(self, make_bundle: Callable[[], dict[str, Any]]) -> None:
        self._make_bundle = make_bundle  # text/plain and image/png; called in a worker thread
        self.anchor = widgets.HTML(layout={"display": "none"})
        self.display_ids: list[str] = []
        self._lock = asyncio.Lock()
        self._shown: dict[str, Any] | None = None

    def bundle(self) -> dict[str, Any]:
        """The output's data: the picture, and the invisible widget where a front end is."""
        bundle = self._make_bundle()
        if self.anchor.comm is not None:
            bundle[WIDGET_VIEW] = {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.anchor.model_id,
            }
        return bundle

    def display(self) -> None:
        """Show the output (after the widget's own) and remember its display id."""
        from IPython.display import display

        handle = display(self.bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]
        if handle is not None:
            self.display_ids.append(handle.display_id)

    async def update(self) -> None:
        """Redraw the picture in a worker thread (it decodes images) and update every output
        shown so far; one redraw at a time, none when nothing changed or nothing is shown."""
        if not self.display_ids:
            return
        from IPython.display import update_display

        async with self._lock:
            bundle = await asyncio.to_thread(self.bundle)
            if bundle == self._shown:
                return
            self._shown = bundle
            for display_id in self.display_ids:
                update_display(bundle, raw=True, display_id=display_id)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Close the invisible widget with its layout and style."""
        close_tree(self.anchor)
