"""Pictures composed of several images with Pillow: the studio's contact sheet (its static
fallback) and the cells of the grid's export. Both decode: keep them off the event loop where
they run during a batch."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

from PIL import Image

from ..images import GeneratedImage

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
