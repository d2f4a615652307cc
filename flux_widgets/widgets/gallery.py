"""Gallery: thumbnails in a grid, and the viewer (viewer.py) that opens one at full size.

The browser receives thumbnails only (made with Pillow in a worker thread, so the kernel stays
responsive); full bytes travel when someone opens an image, and only while it is open.
ipywidgets' ``Image`` has no click event, so each thumbnail has an "open" button under it, next
to the seed that made it. The viewer moves through every image in the gallery's order (newest
first), not only the page on screen.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import traitlets

from ..errors import ImageDecodeError
from ..history.exporting import ExportReport
from ..images import GeneratedImage, open_image
from ._compat import set_tooltip, show
from ._tasks import TaskSet
from .sharing_exports import export_images_html, export_images_zip
from .viewer import ReuseCallback, Viewer

THUMBNAIL_SIZE = 256
# The thumbnail is on the path from "generation done" to the first paint. WebP's method 1 at
# q75 encodes a 256 px tile in ~3 ms (the default method 4: ~8 ms) and is still smaller than
# method 4 at q80 or a JPEG (q75: ~25% larger): the bytes sent per tile are a target too.
THUMBNAIL_FORMAT = "webp"
_THUMBNAIL_OPTIONS = {"quality": 75, "method": 1}

logger = logging.getLogger("flux_widgets")


def make_thumbnail(image: GeneratedImage, size: int = THUMBNAIL_SIZE) -> bytes:
    """The WebP a gallery tile shows, at most ``size`` px a side, never upscaled (decodes:
    call it in a worker thread); b"" if unreadable, or refused as too large to decode
    (``ImageDecodeError``, logged: ``images.open_image`` never decodes such a file)."""
    try:
        with open_image(image.data) as picture:
            # A box reduction by the whole factor, then one small resample: a third of the
            # time of the default two-step reduction, and a JPEG source decodes at that scale.
            picture.thumbnail((size, size), reducing_gap=1.0)
            out = io.BytesIO()
            picture.convert("RGB").save(out, "WEBP", **_THUMBNAIL_OPTIONS)
            return out.getvalue()
    except ImageDecodeError as error:
        logger.warning("no thumbnail of %r: %s", image, error)
        return b""
    except Exception:  # one damaged file in the history must not break the whole gallery
        logger.warning("could not make a thumbnail of %r", image, exc_info=True)
        return b""


class Tile(widgets.VBox):  # type: ignore[misc]
    """One thumbnail and, under it, the button that opens it, labelled with the seed used.

    Few widgets on purpose: each one costs the browser state and the kernel ~1 ms to create
    (benchmarks rows 7 and 8), and a gallery holds a page of tiles. A tile is reused for a new
    image once its own has left the page (``show``): three small updates instead of seven new
    widgets, and no new widget models however long the session. A tile made without an image
    is hidden: the gallery keeps one ready, so the next image does not wait for new widgets.
    """

    def __init__(
        self,
        image: GeneratedImage | None,
        size: int = THUMBNAIL_SIZE,
        order: int = 0,
        note: str = "",
    ) -> None:
        self.image = image
        # Its own size and aspect ratio, shrunk to the column but never upscaled; no side
        # margins, which would make a full-width picture stick out of its column.
        self.thumbnail = widgets.Image(
            format=THUMBNAIL_FORMAT,
            layout={"width": "auto", "height": "auto", "max_width": "100%", "margin": "2px 0"},
        )
        # CSS hooks (tests/browser/test_studio.py) given at creation: no extra message per tile.
        self.open_button = widgets.Button(
            description=self._label(image, note),
            # Sized to its label: a 10-digit seed does not fit the default button width.
            layout={"width": "auto", "max_width": "100%", "margin": "2px 0"},
            _dom_classes=("flux-open",),
        )
        set_tooltip(
            self.open_button, "view full size, compare, reuse, save, download, copy as code"
        )
        layout = {"align_items": "center", "min_width": "0", "order": str(order)}
        if image is None:
            layout["display"] = "none"
        super().__init__(
            [self.thumbnail, self.open_button], layout=layout, _dom_classes=("flux-thumb",)
        )

    def show(self, image: GeneratedImage, thumbnail: bytes, order: int, note: str = "") -> None:
        """Show another image in this tile (at ``order`` in the grid; ``note`` after its seed)."""
        self.image = image
        with self.thumbnail.hold_sync(), self.open_button.hold_sync(), self.layout.hold_sync():
            self.thumbnail.value = thumbnail
            self.open_button.description = self._label(image, note)
            self.layout.order = str(order)
            self.layout.display = None

    @staticmethod
    def _label(image: GeneratedImage | None, note: str = "") -> str:
        if image is None:
            return ""
        return f"open · seed {image.seed}" + (f" · {note}" if note else "")

    def close(self) -> None:
        """Close the tile with its children and their layouts and styles."""
        for widget in (self.thumbnail, self.open_button, self):
            for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
                if part is not None:
                    part.close()
            if widget is not self:
                widget.close()
        super().close()


class Gallery(widgets.VBox):  # type: ignore[misc]
    """Thumbnails of every image, newest first, a page at a time, and the viewer that opens
    them (a modal over the page, or in place above the thumbnails inside an iframe)."""

    # Kernel-side state (no sync=True): the browser gets tiles, not these.
    thumbnail_size = traitlets.Int(THUMBNAIL_SIZE, help="a thumbnail's longer side at most, px")
    page_size = traitlets.Int(24, help='tiles on a page; older images wait behind "show older"')
    shown = traitlets.Int(0, help="how many of the newest images are on screen")
    count = traitlets.Int(0, help="images in the gallery, on screen or not")

    def __init__(
        self,
        *,
        columns: int = 4,
        thumbnail_size: int = THUMBNAIL_SIZE,
        page_size: int = 24,
        save_dir: str | os.PathLike[str] = "flux-images",
        on_reuse: ReuseCallback | None = None,
        **kwargs: Any,
    ) -> None:
        self.thumbnail_size = thumbnail_size
        self.page_size = page_size
        self._images: list[GeneratedImage] = []  # oldest first
        self._tiles: dict[int, Tile] = {}  # id(image) -> tile, for the tiles made so far
        self._spare: Tile | None = None  # hidden in the grid, for the next image
        self._pending: set[int] = set()  # ids whose thumbnails are being made
        self._notes: dict[int, str] = {}  # id(image) -> what its tile and the viewer add
        self._tasks = TaskSet()
        self.viewer = Viewer(
            save_dir=save_dir,
            on_reuse=on_reuse,
            navigate=self.neighbour,
            position=self.position,
        )
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

    def export_html(self, path: str | os.PathLike[str], **options: Any) -> ExportReport:
        """Every image here, oldest first, as one offline web page (``options``: ``title``,
        ``full_size``, ``thumbnail_size``, as ``History.export_html``). Decodes every image."""
        return export_images_html(self.images, path, **options)

    def export_zip(self, path: str | os.PathLike[str]) -> ExportReport:
        """Every image here as a zip that ``History.import_`` re-opens in another notebook."""
        return export_images_zip(self.images, path)

    @property
    def tiles(self) -> list[Tile]:
        """The tiles on screen, newest first (their order on screen, not in ``grid.children``)."""
        return [self._tiles[id(image)] for image in self._visible() if id(image) in self._tiles]

    async def add(self, images: Sequence[GeneratedImage], note: str = "") -> None:
        """Add new images at the top (thumbnails made in worker threads); ``note`` is said on
        their tiles and in the viewer's title ("from history").

        The page does not grow: older images move behind "show older", and their tiles show
        the new images, so a long session keeps one page of widgets alive, not one per image.
        """
        if note:
            self._notes.update((id(image), note) for image in images)
        self._images.extend(images)
        self.count = len(self._images)
        self.shown = min(len(self._images), max(self.page_size, self.shown))
        await self._render()

    def add_soon(self, images: Sequence[GeneratedImage], note: str = "") -> asyncio.Task[None]:
        """``add`` as a task started now, so that making the thumbnails overlaps whatever the
        caller does next (the studio writes the history meanwhile); await it to know they
        are shown."""
        return self._tasks.start(self.add(images, note))

    def note(self, image: GeneratedImage) -> str:
        """What the gallery says of ``image`` besides its seed ("from history"), or ""."""
        return self._notes.get(id(image), "")

    def swap(self, replacements: Sequence[tuple[GeneratedImage, GeneratedImage]]) -> None:
        """Put each ``(old, new)`` pair's new image where the old one is (by identity): the
        same picture, e.g. the history's stored copy of an image shown before it was stored."""
        by_id = {id(old): new for old, new in replacements}
        self._images = [by_id.get(id(image), image) for image in self._images]
        for old_id, new in by_id.items():
            tile = self._tiles.pop(old_id, None)
            if tile is not None:
                tile.image = new
                self._tiles[id(new)] = tile

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
        self.shown = min(len(self._images), self.shown + self.page_size)
        await self._render()

    def clear(self) -> None:
        self._replace([])
        self._layout()
        self.viewer.close_image()

    def open_image(self, image: GeneratedImage) -> None:
        """Open ``image`` in the viewer (what a tile's "open" button does); while comparing,
        it becomes the right-hand image."""
        self.viewer.open_image(image)

    def compare(self, pinned: GeneratedImage, other: GeneratedImage) -> None:
        """Open two images in the viewer, compared (slider or side by side)."""
        self.viewer.compare(pinned, other)

    def neighbour(self, image: GeneratedImage, step: int) -> GeneratedImage | None:
        """The image ``step`` places after ``image`` in the gallery's order (newest first),
        or None past either end or when ``image`` is no longer in the gallery."""
        index = self._newest_first_index(image)
        if index is None:
            return None
        target = index + step
        if not 0 <= target < len(self._images):
            return None
        return self._images[len(self._images) - 1 - target]

    def position(self, image: GeneratedImage) -> str:
        """``"3 of 24"``: where ``image`` is in the gallery's order (newest first), or ""."""
        index = self._newest_first_index(image)
        if index is None:
            return ""
        note = self._notes.get(id(image))
        return f"{index + 1} of {len(self._images)}" + (f" · {note}" if note else "")

    def _newest_first_index(self, image: GeneratedImage) -> int | None:
        # Identity, not equality: two images may share a recipe. Newest first is the common
        # case (the user opens what was just made), so search from the end.
        for index in range(len(self._images) - 1, -1, -1):
            if self._images[index] is image:
                return len(self._images) - 1 - index
        return None

    def thumbnails(self) -> list[bytes]:
        """The thumbnail bytes on screen, newest first (what the browser holds)."""
        return [bytes(tile.thumbnail.value) for tile in self.tiles if tile.thumbnail.value]

    async def wait(self) -> None:
        """Wait for pending thumbnails and viewer work."""
        await self._tasks.wait()
        await self.viewer.wait()

    def cancel(self) -> None:
        """Stop making thumbnails (when the gallery is about to close)."""
        self._tasks.cancel_all()

    def close(self) -> None:
        """Close the gallery with every widget it made (tiles, viewer, their layouts)."""
        if "more_button" not in self.__dict__:  # ipywidgets 7 closes in __del__, half-built too
            super().close()
            return
        self._tasks.cancel_all()
        for tile in self._tiles.values():
            tile.close()
        self._tiles.clear()
        if self._spare is not None:
            self._spare.close()
            self._spare = None
        for widget in (self.viewer, self.grid, self.more_button):
            for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
                if part is not None:
                    part.close()
            widget.close()
        self.layout.close()
        super().close()

    def __repr__(self) -> str:
        # Small and cheap whatever is open (ipywidgets' repr lists every trait of every child).
        return (
            f"<Gallery {len(self._images)} images, {len(self._tiles)} tiles, "
            f"{repr(self.viewer).strip('<>')}>"
        )

    def _replace(self, images: Sequence[GeneratedImage]) -> None:
        self._images = list(images)
        kept = {id(image) for image in self._images}
        self._notes = {key: note for key, note in self._notes.items() if key in kept}
        self.count = len(self._images)
        self.grid.children = (self._spare,) if self._spare is not None else ()
        for tile in self._tiles.values():
            tile.close()
        self._tiles.clear()
        self.shown = min(len(self._images), self.page_size)

    def _visible(self) -> list[GeneratedImage]:
        if self.shown <= 0:
            return []
        return self._images[-self.shown :][::-1]

    async def _render(self) -> None:
        new = [
            image
            for image in self._visible()
            if id(image) not in self._tiles and id(image) not in self._pending
        ]
        # Pending until its tile is placed (or not needed), not only until its thumbnail is
        # made: a render started in between must not make a second tile for the same image.
        self._pending.update(id(image) for image in new)

        async def thumbnail(image: GeneratedImage) -> tuple[GeneratedImage, bytes | None]:
            if not self._on_page(image):  # pushed off the page while it waited its turn
                return image, None
            return image, await asyncio.to_thread(make_thumbnail, image, self.thumbnail_size)

        # One tile at a time as its thumbnail is ready, yielding in between, so the event loop
        # is never blocked for a whole batch of widget creations (benchmarks row 8).
        try:
            for ready in asyncio.as_completed([thumbnail(image) for image in new]):
                image, data = await ready
                self._pending.discard(id(image))
                # Newer images may have pushed it off the page meanwhile (renders overlap when
                # generations finish together): then it gets no tile, and none is kept for it.
                if data is not None and id(image) not in self._tiles and self._on_page(image):
                    self._add_tile(image, data)
                self._layout()
                await asyncio.sleep(0)
        finally:
            self._pending.difference_update(id(image) for image in new)
        if self._spare is None and len(self._tiles) < self.page_size:
            # Made now, while nothing waits: the browser has its models before they are needed.
            self._spare = self._new_tile(None, 0)
            self.grid.children = (*self.grid.children, self._spare)

    def _on_page(self, image: GeneratedImage) -> bool:
        return any(shown is image for shown in self._visible())

    def _add_tile(self, image: GeneratedImage, thumbnail: bytes) -> None:
        # The grid's children stay oldest first and only grow at the end, and each tile's CSS
        # ``order`` puts the newest first: ipywidgets re-creates the views of every child after
        # the first one that changed, so putting a new tile at the front would re-render the
        # whole page for each image. A tile whose image has left the page is reused in place.
        order = -self._position_of(image)
        stale = self._stale_tiles()
        if stale:
            key, tile = stale[0]
            del self._tiles[key]
            tile.show(image, thumbnail, order, self.note(image))
        elif self._spare is not None:
            tile, self._spare = self._spare, None
            tile.show(image, thumbnail, order, self.note(image))
        else:
            tile = self._new_tile(image, order)
            tile.thumbnail.value = thumbnail
            self.grid.children = (*self.grid.children, tile)
        self._tiles[id(image)] = tile

    def _new_tile(self, image: GeneratedImage | None, order: int) -> Tile:
        note = self.note(image) if image is not None else ""
        tile = Tile(image, self.thumbnail_size, order, note)
        tile.open_button.on_click(lambda _: self._open_tile(tile))
        return tile

    def _open_tile(self, tile: Tile) -> None:
        if tile.image is not None:
            self.open_image(tile.image)

    def _position_of(self, image: GeneratedImage) -> int:
        index = self._newest_first_index(image)
        return len(self._images) - 1 - index if index is not None else len(self._images)

    def _stale_tiles(self) -> list[tuple[int, Tile]]:
        """Tiles whose images are no longer on the page, oldest first."""
        keep = {id(image) for image in self._visible()}
        stale = [(key, tile) for key, tile in self._tiles.items() if key not in keep]
        return sorted(stale, key=lambda item: -int(item[1].layout.order or 0))

    def _layout(self) -> None:
        # Renders overlap when jobs finish together: lay out from the state as it is now.
        # As many stale tiles as images on the page still wait for their thumbnails stay, to
        # be reused for them; the rest close. So there is never more than a page of tiles.
        waiting = sum(id(image) in self._pending for image in self._visible())
        stale = self._stale_tiles()[waiting:]
        if stale:
            for key, tile in stale:
                del self._tiles[key]
                tile.close()
            closed = {id(tile) for _key, tile in stale}
            self.grid.children = tuple(t for t in self.grid.children if id(t) not in closed)
        older = len(self._images) - self.shown
        self.more_button.description = f"show older ({older})"
        show(self.more_button, older > 0)
