"""Viewer: one image at full size with its recipe beside it, or two images compared.

An anywidget (``viewer.js`` and ``viewer.css`` ship inside the package: no CDN, no front-end
build). In JupyterLab, Notebook 7 and Voila it opens as a modal over the page, where the user
is looking; inside an iframe (VS Code, Colab) it opens in place and scrolls into view. Keys:
left/right move between images, Esc closes.

The full image travels only while the viewer is open: ``image_a``/``image_b`` are binary
traits (ipywidgets sends bytes as buffers, never base64), emptied on close, so a notebook saved
after closing holds no full image. The file a download gets (recipe embedded) is made and sent
only when asked for, as a custom message with one buffer.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..images import GeneratedImage, file_name, image_file_bytes
from ..recipes import code_snippet
from ..schema import FIELDS, VIEWER_ORDER, in_order
from ._tasks import TaskSet


def _recipe_rows() -> tuple[tuple[str, str], ...]:
    # The schema's fields the viewer shows, in the table's viewer order, each by its short
    # label; "size" (the file's pixels) sits with the format, just before it.
    rows: list[tuple[str, str]] = []
    for field in in_order(VIEWER_ORDER):
        if not field.in_viewer:
            continue
        if field.name == "output_format":
            rows.append(("size", "size"))
        rows.append((field.name, field.viewer_label))
        if field.name == "prompt":
            # The style that wrapped the prompt, shown only for images made with one.
            rows.append(("style", "style"))
    return tuple(rows)


RECIPE_ROWS: tuple[tuple[str, str], ...] = _recipe_rows()
"""What the user reads in the recipe table, in that order: (key, label). "size" and
"output_format" describe the file, "style" the style that wrapped the prompt (with the prompt as
typed), the rest are FluxParams fields (the seed is the one used)."""
COMPARE_VIEWS = ("slider", "side-by-side")

# (image) -> a message, or None for the default one.
ReuseCallback = Callable[[GeneratedImage], object]
# (image, step) -> the image ``step`` places away in the gallery's order, or None past an end.
NavigateCallback = Callable[[GeneratedImage, int], "GeneratedImage | None"]
# (image) -> "3 of 24" (its place in the gallery), or "".
PositionCallback = Callable[[GeneratedImage], str]


def recipe_values(image: GeneratedImage) -> dict[str, str]:
    """The recipe table's values for ``image``, as the viewer shows them (strings)."""
    recipe = image.recipe
    values: dict[str, str] = {}
    for key, _label in RECIPE_ROWS:
        if key == "size":
            values[key] = f"{image.width}×{image.height}"
        elif key == "style":
            values[key] = _style_value(image)
        elif key == "output_format":
            values[key] = image.format
        else:
            value = getattr(recipe, key)
            if isinstance(value, bool):
                # A switch reads as the schema says (the safety checker: whether it ran).
                on, off = FIELDS[key].reads
                values[key] = on if value else off
            else:
                values[key] = str(value)
    return values


def _style_value(image: GeneratedImage) -> str:
    """'watercolor, on "a lighthouse"': the style and the prompt as typed; "" without one."""
    origin = image.origin
    if origin is None or origin.style is None:
        return ""
    return f'{origin.style}, on "{origin.template}"'


def differing_fields(a: GeneratedImage, b: GeneratedImage) -> list[str]:
    """The recipe rows whose values differ between two images (keys of ``RECIPE_ROWS``)."""
    left, right = recipe_values(a), recipe_values(b)
    return [key for key, _label in RECIPE_ROWS if left[key] != right[key]]


def _mime(image: GeneratedImage | None) -> str:
    return image.mime_type if image is not None else ""


class Viewer(anywidget.AnyWidget):
    """The opened image (or two, compared), its recipe, and what can be done with it.

    Buttons in the front end call the same methods Python code can: ``open_image``,
    ``compare``, ``move``, ``close_image``, ``reuse``, ``save`` and ``download_bytes``.
    """

    _esm = Path(__file__).with_name("viewer.js")
    _css = Path(__file__).with_name("viewer.css")

    is_open = traitlets.Bool(False, help="whether the viewer is showing").tag(sync=True)
    instance = traitlets.Unicode(
        help="an id of this viewer, so that two views of it open one modal, not two"
    ).tag(sync=True)
    mode = traitlets.Enum(
        ("single", "compare"), "single", help="one image, or the pinned one against another"
    ).tag(sync=True)
    placement = traitlets.Enum(
        ("auto", "modal", "inline"),
        "auto",
        help="modal: over the page; inline: in place, scrolled into view; auto: modal unless "
        "the notebook runs inside an iframe (VS Code, Colab), where it opens in place",
    ).tag(sync=True)
    compare_view = traitlets.Enum(
        COMPARE_VIEWS,
        "slider",
        help="how two images are compared: a slider over one another, or side by side",
    ).tag(sync=True)
    image_a = traitlets.Bytes(b"", help="the full image (compare: the pinned, left one)").tag(
        sync=True
    )
    mime_a = traitlets.Unicode("", help="image_a's MIME type").tag(sync=True)
    image_b = traitlets.Bytes(b"", help="compare: the image the arrow keys move").tag(sync=True)
    mime_b = traitlets.Unicode("", help="image_b's MIME type").tag(sync=True)
    title = traitlets.Unicode("", help="the header line: seed and place in the gallery").tag(
        sync=True
    )
    rows: traitlets.List[dict[str, Any]] = traitlets.List(
        help="recipe rows: {key, label, a, b, differs}; b only when comparing"
    ).tag(sync=True)
    code = traitlets.Unicode("", help="Python that makes the current image again").tag(sync=True)
    save_dir = traitlets.Unicode("flux-images", help="the folder save writes into").tag(sync=True)
    message = traitlets.Unicode("", help="the last action's outcome, plain text").tag(sync=True)
    message_kind = traitlets.Enum(("info", "error"), "info", help="how message is shown").tag(
        sync=True
    )
    acts_on = traitlets.Unicode(
        "", help='compare: "B", the image reuse, save, download and copy act on; single: ""'
    ).tag(sync=True)
    has_previous = traitlets.Bool(False, help="whether left/‹ can move").tag(sync=True)
    has_next = traitlets.Bool(False, help="whether right/› can move").tag(sync=True)

    def __init__(
        self,
        *,
        save_dir: str | os.PathLike[str] = "flux-images",
        on_reuse: ReuseCallback | None = None,
        navigate: NavigateCallback | None = None,
        position: PositionCallback | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("instance", secrets.token_hex(6))
        super().__init__(save_dir=str(save_dir), **kwargs)
        self.image: GeneratedImage | None = None  # the current image (compare: the right one)
        self.pinned: GeneratedImage | None = None  # compare: the left one
        self._on_reuse = on_reuse
        self._navigate = navigate
        self._position = position
        self._tasks = TaskSet(self._report)
        self.add_class("flux-viewer-widget")
        self.on_msg(self._on_front_end_message)

    # -- what the buttons and keys do ------------------------------------------------------

    def open_image(self, image: GeneratedImage) -> None:
        """Show ``image`` at full size (when comparing: as the right-hand image)."""
        self.image = image
        self._show()

    def compare(self, pinned: GeneratedImage, other: GeneratedImage) -> None:
        """Compare two images: ``pinned`` on the left stays, ``other`` moves with the arrows."""
        self.pinned, self.image = pinned, other
        self._show()

    def toggle_compare(self) -> None:
        """Pin the current image and compare it with the next one, or stop comparing."""
        if self.pinned is not None:
            self.image = self.image or self.pinned
            self.pinned = None
            self._show()
            return
        current = self.image
        if current is None:
            return
        other = self._neighbour(current, 1) or self._neighbour(current, -1)
        if other is None:
            self._say("compare needs a second image in the gallery", "error")
            return
        self.compare(current, other)
        self._say("pinned on the left: move the right image with ← →, or open another tile")

    def move(self, step: int) -> bool:
        """Show the image ``step`` places away (+1: older, -1: newer); False at either end."""
        current = self.image
        if current is None:
            return False
        target = self._neighbour(current, step)
        if target is None:
            return False
        self.image = target
        self._show()
        return True

    def close_image(self) -> None:
        """Hide the viewer and drop the full-size bytes from the front end (and saved state)."""
        self.image = self.pinned = None
        with self.hold_sync():
            self.is_open = False
            self.image_a = self.image_b = b""
            self.mime_a = self.mime_b = ""
            self.rows = []
            self.code = self.title = self.message = self.acts_on = ""
            self.mode = "single"

    def reuse(self) -> None:
        """Put the current image's parameters back into the controls (the studio's reuse),
        then close: the controls are under the viewer, and the studio says what changed.

        Without an ``on_reuse`` callback there is nowhere to put them: the viewer stays open
        and says so.
        """
        if self.image is None:
            return
        if self._on_reuse is None:
            self._say("reuse needs a studio: nothing takes the parameters here", "error")
            return
        self._on_reuse(self.image)
        self.close_image()

    async def save(self, folder: str | os.PathLike[str] | None = None) -> Path | None:
        """Save the current image into ``folder`` (default: ``save_dir``), recipe embedded.

        Returns the absolute path written (also shown), or None with nothing open. OSError
        (a folder that cannot be made or written) is raised and shown.
        """
        image = self.image
        if image is None:
            return None
        if folder is not None:
            self.save_dir = str(folder)
        folder_name = self.save_dir.strip() or "."

        def write() -> Path:
            target = Path(folder_name).expanduser().resolve()
            target.mkdir(parents=True, exist_ok=True)
            return image.save(target / file_name(image))

        path = await asyncio.to_thread(write)
        self._say(f"saved to {path}")
        return path

    def download_bytes(self) -> bytes:
        """The file a download gets: the current image with its recipe embedded."""
        if self.image is None:
            raise ValueError("no image is open")
        return image_file_bytes(self.image)

    async def wait(self) -> None:
        """Wait for pending work (saves, downloads): for tests and scripts."""
        await self._tasks.wait()

    def __repr__(self) -> str:
        # Cheap and small, like anywidget's own: never the traits (the image bytes).
        if not self.is_open or self.image is None:
            return "<Viewer closed>"
        if self.pinned is not None:
            return f"<Viewer comparing seed {self.pinned.seed} with seed {self.image.seed}>"
        return f"<Viewer seed {self.image.seed}, {self.image.width}x{self.image.height}>"

    # -- state sent to the front end -------------------------------------------------------

    def _neighbour(self, image: GeneratedImage, step: int) -> GeneratedImage | None:
        return self._navigate(image, step) if self._navigate is not None else None

    def _show(self) -> None:
        image, pinned = self.image, self.pinned
        if image is None:
            return
        where = self._position(image) if self._position is not None else ""
        if pinned is None:
            left, right = image, None
            title = f"seed {image.seed}" + (f" · {where}" if where else "")
        else:
            left, right = pinned, image
            title = f"A: seed {pinned.seed}  vs  B: seed {image.seed}" + (
                f" (B is {where})" if where else ""
            )
        with self.hold_sync():
            # traitlets notifies (and ipywidgets sends) only changed values: moving B while
            # comparing does not send A again.
            self.image_a = left.data
            self.mime_a = _mime(left)
            self.image_b = right.data if right is not None else b""
            self.mime_b = _mime(right)
            self.mode = "single" if right is None else "compare"
            # Reuse, save, download and copy act on the image the arrows move: B.
            self.acts_on = "" if right is None else "B"
            self.rows = self._rows(left, right)
            self.title = title
            self.code = code_snippet(image)
            self.has_previous = self._neighbour(image, -1) is not None
            self.has_next = self._neighbour(image, 1) is not None
            self.message = ""
            self.is_open = True

    @staticmethod
    def _rows(left: GeneratedImage, right: GeneratedImage | None) -> list[dict[str, Any]]:
        a = recipe_values(left)
        b = recipe_values(right) if right is not None else {}
        return [
            {
                "key": key,
                "label": label,
                "a": a[key],
                "b": b.get(key, ""),
                "differs": right is not None and a[key] != b[key],
            }
            for key, label in RECIPE_ROWS
            if key != "style" or a[key] or b.get(key)  # no empty style row
        ]

    def _say(self, text: str, kind: str = "info") -> None:
        with self.hold_sync():
            self.message_kind = kind
            self.message = text

    def _report(self, error: BaseException) -> None:
        self._say(f"{type(error).__name__}: {error}", "error")

    # -- messages from the front end -------------------------------------------------------

    def _on_front_end_message(self, _widget: Any, content: Any, buffers: Sequence[Any]) -> None:
        if not isinstance(content, dict):
            return
        event = content.get("event")
        try:
            if event == "close":
                self.close_image()
            elif event == "move":
                self.move(1 if int(content.get("step", 1)) > 0 else -1)
            elif event == "compare":
                self.toggle_compare()
            elif event == "compare_view" and content.get("view") in COMPARE_VIEWS:
                self.compare_view = content["view"]
            elif event == "reuse":
                self.reuse()
            elif event == "save":
                folder = content.get("folder")
                self._tasks.spawn(self.save(str(folder) if folder is not None else None))
            elif event == "download":
                self._tasks.spawn(self._send_download(str(content.get("request", ""))))
        except Exception as error:  # shown in the viewer: a key press must never go silent
            self._report(error)

    async def _send_download(self, request: str) -> None:
        image = self.image
        if image is None:
            return
        data = await asyncio.to_thread(image_file_bytes, image)
        content = {
            "event": "download",
            "request": request,
            "name": file_name(image),
            "mime": image.mime_type,
        }
        self.send(content, buffers=[data])
        self._say(f"downloading {file_name(image)}")
