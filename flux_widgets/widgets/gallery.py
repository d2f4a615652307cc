"""Gallery: thumbnails in a grid, and a viewer that opens one image at full size.

The browser receives thumbnails only (made with Pillow in a worker thread, so the kernel stays
responsive); full bytes travel when someone opens an image, and the download link (a data URI)
is built only then. ipywidgets' ``Image`` has no click event, so each thumbnail has an "open"
button under it, next to the seed that made it.
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..images import GeneratedImage
from ..recipes import code_snippet, file_name, image_file_bytes
from ._compat import set_tooltip, show
from ._html import error_html
from ._tasks import TaskSet

THUMBNAIL_SIZE = 256
THUMBNAIL_FORMAT = "webp"
# The Image widget's format becomes the MIME subtype: "image/jpg" is not a registered type.
_WIDGET_FORMATS = {"jpg": "jpeg", "png": "png", "webp": "webp"}

logger = logging.getLogger("flux_widgets")
ImageCallback = Callable[[GeneratedImage], None]


def make_thumbnail(image: GeneratedImage, size: int = THUMBNAIL_SIZE) -> bytes:
    """The bytes a gallery tile shows (decodes: call it in a worker thread); b"" if unreadable."""
    try:
        return image.thumbnail(size, THUMBNAIL_FORMAT)
    except Exception:  # one damaged file in the history must not break the whole gallery
        logger.warning("could not make a thumbnail of %r", image, exc_info=True)
        return b""


class Tile(widgets.VBox):  # type: ignore[misc]
    """One thumbnail and, under it, the button that opens it, labelled with the seed used.

    Few widgets on purpose: each one costs the browser state and the kernel ~1 ms to create
    (benchmarks rows 7 and 8), and a gallery holds a page of tiles.
    """

    def __init__(self, image: GeneratedImage, size: int = THUMBNAIL_SIZE) -> None:
        self.image = image
        # Its own size and aspect ratio, shrunk to the column but never upscaled; no side
        # margins, which would make a full-width picture stick out of its column.
        self.thumbnail = widgets.Image(
            format=THUMBNAIL_FORMAT,
            layout={"width": "auto", "height": "auto", "max_width": "100%", "margin": "2px 0"},
        )
        # CSS hooks (tests/test_browser.py) given at creation: no extra message per tile.
        self.open_button = widgets.Button(
            description=f"open · seed {image.seed}",
            # Sized to its label: a 10-digit seed does not fit the default button width.
            layout={"width": "auto", "max_width": "100%", "margin": "2px 0"},
            _dom_classes=("flux-open",),
        )
        set_tooltip(self.open_button, "view full size, reuse, save, download, copy as code")
        super().__init__(
            [self.thumbnail, self.open_button],
            layout={"align_items": "center", "min_width": "0"},
            _dom_classes=("flux-thumb",),
        )

    def close(self) -> None:
        """Close the tile with its children and their layouts and styles (none is reused)."""
        for widget in (self.thumbnail, self.open_button, self):
            for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
                if part is not None:
                    part.close()
            if widget is not self:
                widget.close()
        super().close()


class Viewer(widgets.VBox):  # type: ignore[misc]
    """The opened image at full size, its caption, and what can be done with it."""

    def __init__(
        self,
        *,
        save_dir: str | os.PathLike[str] = "flux-images",
        on_reuse: ImageCallback | None = None,
    ) -> None:
        self.image: GeneratedImage | None = None
        self._on_reuse = on_reuse
        self._tasks = TaskSet(self._report)
        # Full resolution, but sized to the screen so the caption and buttons stay in view.
        self.picture = widgets.Image(
            layout={"max_width": "100%", "max_height": "70vh", "object_fit": "contain"}
        )
        self.caption = widgets.HTML()
        self.reuse_button = widgets.Button(description="reuse", icon="undo")
        set_tooltip(self.reuse_button, "put all of this image's parameters back into the controls")
        self.save_button = widgets.Button(description="save", icon="save")
        set_tooltip(self.save_button, "save to the folder on the right, recipe embedded")
        self.save_dir = widgets.Text(value=str(save_dir), layout={"width": "220px"})
        self.code_button = widgets.Button(description="copy as code", icon="code")
        self.close_button = widgets.Button(description="close", icon="times")
        self.download = widgets.HTML()
        self.message = widgets.HTML()
        self.code = widgets.Textarea(rows=9, layout={"width": "100%"})
        show(self.code, False)
        super().__init__(
            [
                self.picture,
                self.caption,
                widgets.HBox(
                    [
                        self.reuse_button,
                        self.save_button,
                        self.save_dir,
                        self.download,
                        self.code_button,
                        self.close_button,
                    ]
                ),
                self.message,
                self.code,
            ],
            layout={"border": "1px solid #ccc", "padding": "6px"},
        )
        show(self, False)
        self.add_class("flux-viewer")
        self.picture.add_class("flux-viewer-image")
        self.reuse_button.on_click(lambda _: self.reuse())
        self.save_button.on_click(lambda _: self._tasks.spawn(self.save()))
        self.code_button.on_click(lambda _: self.show_code())
        self.close_button.on_click(lambda _: self.close_image())

    def open_image(self, image: GeneratedImage) -> None:
        """Show ``image`` at full size and prepare its download link."""
        self.image = image
        recipe = image.recipe
        with self.picture.hold_sync():
            self.picture.format = _WIDGET_FORMATS[image.format]
            self.picture.value = image.data
        self.caption.value = (
            f"<b>seed {image.seed}</b> · {image.width}×{image.height} · {image.format} · "
            f"{recipe.num_inference_steps} steps · {recipe.aspect_ratio}<br>"
            f"<i>{html.escape(recipe.prompt)}</i>"
        )
        self.message.value = ""
        self.code.value = ""
        show(self.code, False)
        self.download.value = "<small>preparing download…</small>"
        show(self, True)
        self._tasks.spawn(self._prepare_download(image))

    def close_image(self) -> None:
        """Hide the viewer and drop the full-size bytes from the browser."""
        self.image = None
        self.picture.value = b""
        self.download.value = ""
        show(self, False)

    def reuse(self) -> None:
        if self.image is not None and self._on_reuse is not None:
            self._on_reuse(self.image)
            self.message.value = "parameters (seed locked) put back into the controls"

    async def save(self) -> Path | None:
        """Save the open image into the folder field, recipe embedded; returns the path."""
        image = self.image
        if image is None:
            return None
        folder_name = str(self.save_dir.value)

        def write() -> Path:
            folder = Path(folder_name).expanduser()
            target = folder / file_name(image)
            folder.mkdir(parents=True, exist_ok=True)
            return Path(image.save(target))

        path = await asyncio.to_thread(write)
        self.message.value = f"saved to <code>{html.escape(str(path))}</code>"
        return path

    def show_code(self) -> None:
        if self.image is not None:
            self.code.value = code_snippet(self.image)
            show(self.code, True)
            self.message.value = "select the code below and copy it (Ctrl+C / ⌘C)"

    async def wait(self) -> None:
        """Wait for pending work (download link, saves): for tests and scripts."""
        await self._tasks.wait()

    async def _prepare_download(self, image: GeneratedImage) -> None:
        data = await asyncio.to_thread(image_file_bytes, image)
        if self.image is not image:  # another image was opened meanwhile
            return
        encoded = base64.b64encode(data).decode("ascii")
        name = html.escape(file_name(image))
        self.download.value = (
            f"<a download='{name}' href='data:{image.mime_type};base64,{encoded}' "
            "style='display:inline-block;padding:4px 10px;border:1px solid #888;"
            "border-radius:3px;text-decoration:none'>⬇ download</a>"
        )

    def _report(self, error: BaseException) -> None:
        self.message.value = error_html(error)


class Gallery(widgets.VBox):  # type: ignore[misc]
    """Thumbnails of every image, newest first, a page at a time, and the viewer above them."""

    def __init__(
        self,
        *,
        columns: int = 4,
        thumbnail_size: int = THUMBNAIL_SIZE,
        page_size: int = 24,
        save_dir: str | os.PathLike[str] = "flux-images",
        on_reuse: ImageCallback | None = None,
        **kwargs: Any,
    ) -> None:
        self.thumbnail_size = thumbnail_size
        self.page_size = page_size
        self._images: list[GeneratedImage] = []  # oldest first
        self._tiles: dict[int, Tile] = {}  # id(image) -> tile, for the tiles made so far
        self._pending: set[int] = set()  # ids whose thumbnails are being made
        self._shown = 0
        self._tasks = TaskSet()
        self.viewer = Viewer(save_dir=save_dir, on_reuse=on_reuse)
        self.grid = widgets.GridBox(
            layout=widgets.Layout(
                grid_template_columns=f"repeat({columns}, minmax(0, 1fr))", grid_gap="8px"
            )
        )
        self.more_button = widgets.Button(description="show older", icon="chevron-down")
        self.more_button.on_click(lambda _: self._tasks.spawn(self.show_more()))
        show(self.more_button, False)
        super().__init__([self.viewer, self.grid, self.more_button], **kwargs)
        self.add_class("flux-gallery")

    @property
    def images(self) -> list[GeneratedImage]:
        """Every image in the gallery, oldest first."""
        return list(self._images)

    @property
    def tiles(self) -> list[Tile]:
        """The tiles on screen, newest first."""
        return list(self.grid.children)

    async def add(self, images: Sequence[GeneratedImage]) -> None:
        """Add new images at the top (thumbnails made in worker threads).

        The page does not grow: older images move behind "show older", and their tiles are
        closed, so a long session keeps one page of widgets alive, not one per image.
        """
        self._images.extend(images)
        self._shown = min(len(self._images), max(self.page_size, self._shown))
        await self._render()

    async def load(self, images: Sequence[GeneratedImage]) -> None:
        """Replace the contents (e.g. from the history), showing the newest page."""
        self._replace(images)
        await self._render()

    def load_now(self, images: Sequence[GeneratedImage]) -> None:
        """``load`` without an event loop: thumbnails are made here, blocking."""
        self._replace(images)
        for image in self._visible():
            self._add_tile(image, make_thumbnail(image, self.thumbnail_size))
        self._layout()

    async def show_more(self) -> None:
        """Show the next page of older images."""
        self._shown = min(len(self._images), self._shown + self.page_size)
        await self._render()

    def clear(self) -> None:
        self._replace([])
        self._layout()
        self.viewer.close_image()

    def open_image(self, image: GeneratedImage) -> None:
        """Open ``image`` in the viewer (what a tile's "open" button does)."""
        self.viewer.open_image(image)

    def thumbnails(self) -> list[bytes]:
        """The thumbnail bytes on screen, newest first (what the browser holds)."""
        return [bytes(tile.thumbnail.value) for tile in self.tiles if tile.thumbnail.value]

    async def wait(self) -> None:
        """Wait for pending thumbnails and viewer work."""
        await self._tasks.wait()
        await self.viewer.wait()

    def _replace(self, images: Sequence[GeneratedImage]) -> None:
        self._images = list(images)
        self.grid.children = ()
        for tile in self._tiles.values():
            tile.close()
        self._tiles.clear()
        self._shown = min(len(self._images), self.page_size)

    def _visible(self) -> list[GeneratedImage]:
        return list(reversed(self._images))[: self._shown]

    async def _render(self) -> None:
        new = [
            image
            for image in self._visible()
            if id(image) not in self._tiles and id(image) not in self._pending
        ]
        self._pending.update(id(image) for image in new)

        async def thumbnail(image: GeneratedImage) -> tuple[GeneratedImage, bytes]:
            try:
                return image, await asyncio.to_thread(make_thumbnail, image, self.thumbnail_size)
            finally:
                self._pending.discard(id(image))

        # One tile at a time as its thumbnail is ready, yielding in between, so the event loop
        # is never blocked for a whole batch of widget creations (benchmarks row 8).
        for ready in asyncio.as_completed([thumbnail(image) for image in new]):
            image, data = await ready
            self._add_tile(image, data)
            self._layout()
            await asyncio.sleep(0)

    def _add_tile(self, image: GeneratedImage, thumbnail: bytes) -> None:
        tile = Tile(image, self.thumbnail_size)
        tile.thumbnail.value = thumbnail
        tile.open_button.on_click(lambda _: self.open_image(image))
        self._tiles[id(image)] = tile

    def _layout(self) -> None:
        # Renders overlap when jobs finish together: lay out from the state as it is now.
        visible = self._visible()
        keep = {id(image) for image in visible}
        for key in [key for key in self._tiles if key not in keep]:
            self._tiles.pop(key).close()
        self.grid.children = tuple(self._tiles[id(i)] for i in visible if id(i) in self._tiles)
        older = len(self._images) - self._shown
        self.more_button.description = f"show older ({older})"
        show(self.more_button, older > 0)
