"""PromptGrid: one image per (row value, column value) over two FluxParams fields, for teaching.

Prompt variants x seeds, steps x seeds, aspect ratios x prompts: the grid shows what one
parameter does by holding the others still. So every cell is validated before the first
request (a typo in one value must not cost five paid images first), and when no seed is given
and ``seed`` is not an axis, one random seed is shared by all cells, so differences come from
the axes alone. Cells fill in as they complete; the finished grid exports as one labelled
image (also the static fallback in a saved notebook).
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import io
import time
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from PIL import Image, ImageDraw, ImageFont

from ..errors import FluxError
from ..images import GeneratedImage
from ..params import FIELD_NAMES, FluxParams, random_seed
from ..providers import Provider
from ._compat import StaticFallback, close_tree, set_tooltip
from ._html import STUDIO_CSS, error_html
from ._sheet import fitted, paste_centered
from ._tasks import TaskSet, on_home_loop

if TYPE_CHECKING:
    from ..client import FluxClient

Cell = tuple[Any, Any]
"""A cell's key: (row value, column value)."""

_THUMBNAIL_FORMAT = "webp"
_LABEL_CHARS = 48
_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_MUTED = (110, 110, 110)
_EMPTY = (232, 232, 232)


class PromptGrid(StaticFallback, widgets.VBox):  # type: ignore[misc]
    """Rows x columns of images over any two FluxParams fields.

    ``rows`` and ``columns`` are ``(field, values)``; ``base`` holds the other parameters
    (a FluxParams or a dict; it needs a prompt unless "prompt" is an axis). ``num_outputs`` is
    always 1 per cell. Raises ``ValueError`` naming the field if any cell is invalid.
    ``await grid.generate()`` runs it from code; the Generate button does the same.
    """

    def __init__(
        self,
        client: FluxClient,
        *,
        rows: tuple[str, Sequence[Any]],
        columns: tuple[str, Sequence[Any]],
        base: FluxParams | Mapping[str, Any] | None = None,
        thumbnail_size: int = 192,
        **kwargs: Any,
    ) -> None:
        self.client = client
        self.row_field, self.row_values = _axis("rows", rows)
        self.column_field, self.column_values = _axis("columns", columns)
        if self.row_field == self.column_field:
            raise ValueError(f"rows and columns both vary {self.row_field}: pick two fields")
        # Fields the base leaves out take the provider's defaults (fal and Together: jpg). A
        # stand-in client without a provider (tests drive the grid with one) gets the schema's.
        provider: Provider | None = getattr(client, "provider_info", None)
        self.base = _base_params(
            base,
            {self.row_field, self.column_field},
            defaults=provider.defaults() if provider is not None else None,
        )
        self.cells: dict[Cell, FluxParams] = {
            (row, column): _cell_params(self.base, {self.row_field: row, self.column_field: column})
            for row in self.row_values
            for column in self.column_values
        }
        for params in self.cells.values():
            if provider is not None:
                provider.check(params)  # a value it cannot honour: ValueError now, not mid-grid
        self.thumbnail_size = thumbnail_size
        self.images: dict[Cell, GeneratedImage] = {}
        """The finished images, by (row value, column value)."""
        self.errors: dict[Cell, FluxError] = {}
        """The cells that failed, with their errors."""
        self._done = False
        self._exported: bytes | None = None
        self._tasks = TaskSet(self._report)
        self._running: asyncio.Task[Any] | None = None

        self.progress = widgets.HTML(self._progress_text(None))
        self.generate_button = widgets.Button(description="Generate grid", icon="th")
        set_tooltip(self.generate_button, f"{len(self.cells)} images, one request each")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        # Clicks may arrive on another thread's event loop (a kernel subshell): see on_home_loop.
        self.generate_button.on_click(on_home_loop(lambda _: self._start()))
        self.cancel_button.on_click(on_home_loop(lambda _: self.cancel()))
        # At its own aspect ratio, never wider than its column nor than the thumbnail itself.
        self._pictures = {
            cell: widgets.Image(
                format=_THUMBNAIL_FORMAT,
                layout={"width": "auto", "max_width": "100%", "height": "auto", "margin": "2px 0"},
            )
            for cell in self.cells
        }
        self._notes = {cell: widgets.HTML("<small>waiting</small>") for cell in self.cells}
        # Columns shrink to fit the cell (a 900 px notebook cell shows all of them, no
        # horizontal scrollbar); the row labels' column is capped and its labels wrap.
        self.grid = widgets.GridBox(
            self._grid_children(),
            layout=widgets.Layout(
                grid_template_columns=(
                    f"fit-content(160px) "
                    f"repeat({len(self.column_values)}, minmax(0, {thumbnail_size}px))"
                ),
                grid_gap="6px",
                align_items="center",
                width="100%",
            ),
        )
        super().__init__(
            [
                widgets.HTML(STUDIO_CSS, layout={"display": "none"}),
                widgets.HBox(
                    [self.generate_button, self.cancel_button, self.progress],
                    layout={"flex_flow": "row wrap", "align_items": "center"},
                ),
                self.grid,
            ],
            **kwargs,
        )
        self.add_class("flux-grid")

    # -- driving it --------------------------------------------------------------------

    async def generate(self) -> dict[Cell, GeneratedImage]:
        """Generate every cell concurrently (bounded by the client); returns ``images``."""
        self.images.clear()
        self.errors.clear()
        self._done, self._exported = False, None
        keys = list(self.cells)
        for cell in keys:
            self._pictures[cell].value = b""
            self._notes[cell].value = "<small>queued</small>"
        started = time.monotonic()
        self.progress.value = self._progress_text(0.0)
        self.generate_button.disabled, self.cancel_button.disabled = True, False
        try:
            async for result in self.client.generate_many([self.cells[k] for k in keys]):
                cell = keys[result.index]
                if result.images:
                    image = result.images[0]
                    thumbnail = await asyncio.to_thread(
                        image.thumbnail, self.thumbnail_size, _THUMBNAIL_FORMAT
                    )
                    self.images[cell] = image
                    with self._pictures[cell].hold_sync():
                        self._pictures[cell].value = thumbnail
                    self._notes[cell].value = f"<small>seed {image.seed}</small>"
                if result.error is not None:
                    self.errors[cell] = result.error
                    self._notes[cell].value = f"<small>{error_html(result.error)}</small>"
                self.progress.value = self._progress_text(time.monotonic() - started)
            self._done = True
        except asyncio.CancelledError:
            for cell in keys:
                if cell not in self.images and cell not in self.errors:
                    self._notes[cell].value = "<small>cancelled</small>"
            self.progress.value = self._progress_text(time.monotonic() - started, "cancelled")
            raise
        finally:
            self.generate_button.disabled, self.cancel_button.disabled = False, True
        return dict(self.images)

    def cancel(self) -> None:
        """Stop a grid started with the button (cancels the predictions on the server)."""
        self._tasks.cancel_all()

    def close(self) -> None:
        """Cancel what runs, then close the grid with every cell, label, layout and style."""
        tasks = getattr(self, "_tasks", None)  # None when __init__ refused the axes (__del__)
        if tasks is not None:
            tasks.cancel_all()
        close_tree(self)

    async def wait(self) -> None:
        """Wait for a grid started with the button: for tests and scripts."""
        await self._tasks.wait()

    def _start(self) -> None:
        if not len(self._tasks):
            self._tasks.spawn(self.generate())

    def _report(self, error: BaseException) -> None:
        self.progress.value = error_html(error)

    # -- export ------------------------------------------------------------------------

    def to_image(self, cell_size: int = 256) -> Image.Image:
        """The grid as one labelled image: axis names and values, each cell fit into a
        ``cell_size`` square (decodes every image: call it off the event loop for big grids)."""
        font = _font(14)
        small = _font(12)
        pad = 8
        scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))

        def wrap(text: str, width: int, use: Any) -> list[str]:
            return _wrap(scratch, text, width, use)

        row_labels = [wrap(_value_label(v), 170, small) for v in self.row_values]
        column_labels = [wrap(_value_label(v), cell_size, small) for v in self.column_values]
        line = _line_height(scratch, small)
        # ASCII only: Pillow's default font has no arrows or multiplication sign.
        title = f"rows: {self.row_field}   columns: {self.column_field}"
        label_width = max(
            [scratch.textlength(t, font=small) for lines in row_labels for t in lines]
            + [scratch.textlength(self.row_field, font=font)]
        )
        left = int(label_width) + 2 * pad
        title_height = _line_height(scratch, font) + pad
        top = title_height + line * max(len(lines) for lines in column_labels) + 2 * pad
        width = left + len(self.column_values) * (cell_size + pad) + pad
        height = top + len(self.row_values) * (cell_size + pad) + pad
        canvas = Image.new("RGB", (width, height), _BACKGROUND)
        draw = ImageDraw.Draw(canvas)
        draw.text((pad, pad), title, fill=_INK, font=font)
        draw.text((pad, title_height + pad), self.column_field + " ->", fill=_MUTED, font=small)

        for c, lines in enumerate(column_labels):
            x = left + c * (cell_size + pad)
            for n, text in enumerate(lines):
                draw.text((x, title_height + pad + n * line), text, fill=_INK, font=small)
        for r, row in enumerate(self.row_values):
            y = top + r * (cell_size + pad)
            for n, text in enumerate(row_labels[r]):
                draw.text((pad, y + n * line), text, fill=_INK, font=small)
            for c, column in enumerate(self.column_values):
                x = left + c * (cell_size + pad)
                self._draw_cell(canvas, draw, (row, column), (x, y), cell_size, small)
        return canvas

    def _draw_cell(
        self,
        canvas: Image.Image,
        draw: ImageDraw.ImageDraw,
        cell: Cell,
        at: tuple[int, int],
        size: int,
        font: Any,
    ) -> None:
        x, y = at
        image = self.images.get(cell)
        if image is None:
            draw.rectangle((x, y, x + size - 1, y + size - 1), fill=_EMPTY)
            note = "failed" if cell in self.errors else "not generated"
            draw.text((x + 6, y + 6), note, fill=_MUTED, font=font)
            return
        paste_centered(canvas, fitted(image, size), at, size)

    def save(self, path: str | Path, cell_size: int = 256) -> Path:
        """Write the labelled grid image (format from the suffix; PNG when there is none)."""
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(".png")
        self.to_image(cell_size).save(target)
        return target

    # -- display -----------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "done" if self._done else "not done"
        return (
            f"<PromptGrid {len(self.row_values)}x{len(self.column_values)} "
            f"{self.row_field} x {self.column_field}: {len(self.images)}/{len(self.cells)} "
            f"images, {len(self.errors)} failed, {state}>"
        )

    def _static_bundle(self) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": repr(self)}
        # The static fallback: where widgets do not render (GitHub, nbviewer), the image shows.
        if self._done and self.images:
            if self._exported is None:
                out = io.BytesIO()
                self.to_image(cell_size=192).save(out, "PNG")
                self._exported = out.getvalue()
            bundle["image/png"] = self._exported
        return bundle

    # -- layout ------------------------------------------------------------------------

    def _grid_children(self) -> list[widgets.Widget]:
        corner = widgets.HTML(
            f"<small><b>{html.escape(self.row_field)}</b> ↓<br>"
            f"<b>{html.escape(self.column_field)}</b>&nbsp;→</small>"
        )
        children: list[widgets.Widget] = [corner]
        children += [_label(value) for value in self.column_values]
        for row in self.row_values:
            children.append(_label(row))
            for column in self.column_values:
                cell = (row, column)
                children.append(
                    widgets.VBox(
                        [self._pictures[cell], self._notes[cell]],
                        layout={"min_width": "0", "align_items": "center"},
                    )
                )
        return children

    def _progress_text(self, elapsed: float | None, state: str = "") -> str:
        total = len(self.cells)
        if elapsed is None:
            return f"<small>{total} cells, not generated yet</small>"
        finished = len(self.images) + len(self.errors)
        failed = f" · {len(self.errors)} failed" if self.errors else ""
        state = state or ("done" if finished == total else "generating")
        return f"<small>{finished}/{total} {state}{failed} · {elapsed:.1f} s</small>"


def _axis(name: str, axis: tuple[str, Sequence[Any]]) -> tuple[str, tuple[Any, ...]]:
    try:
        field, values = axis
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (field, values), got {axis!r}") from None
    if field not in FIELD_NAMES:
        raise ValueError(f"{name}: {field!r} is not a parameter; use one of {FIELD_NAMES}")
    if field == "num_outputs":
        raise ValueError(f"{name}: a grid makes one image per cell, so num_outputs cannot vary")
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name}: give {field} a non-empty list of values, got {values!r}")
    values = tuple(values)
    for value in values:
        if not isinstance(value, Hashable):
            raise ValueError(f"{name}: {field} value {value!r} is not hashable")
    if len(set(values)) != len(values):
        raise ValueError(f"{name}: {field} values repeat: {values!r}")
    return field, values


def _base_params(
    base: FluxParams | Mapping[str, Any] | None,
    axes: set[str],
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    if isinstance(base, FluxParams):
        data = dataclasses.asdict(base)
    else:
        data = {**(defaults or {}), **dict(base or {})}
        unknown = sorted(set(data) - set(FIELD_NAMES))
        if unknown:
            raise ValueError(f"base: unknown parameter(s) {', '.join(unknown)}")
    if "prompt" not in axes and not data.get("prompt"):
        raise ValueError("prompt is required: put it in base, or make prompt an axis")
    if "seed" not in axes and data.get("seed") is None:
        data["seed"] = random_seed()  # one seed for all: a fair comparison
    data["num_outputs"] = 1
    return data


def _cell_params(base: Mapping[str, Any], axes: Mapping[str, Any]) -> FluxParams:
    try:
        return FluxParams(**{**base, **axes})
    except (TypeError, ValueError) as error:
        cell = ", ".join(f"{field}={value!r}" for field, value in axes.items())
        raise ValueError(f"grid cell ({cell}) is invalid: {error}") from None


def _value_text(value: Any, limit: int | None = None) -> str:
    """An axis value as a label: strings as they are, others as their repr; cut at ``limit``."""
    text = value if isinstance(value, str) else repr(value)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def _value_label(value: Any) -> str:
    return _value_text(value, 3 * _LABEL_CHARS)


def _label(value: Any) -> widgets.HTML:
    label = widgets.HTML(f"<small>{html.escape(_value_text(value, _LABEL_CHARS))}</small>")
    set_tooltip(label, _value_text(value))
    return label


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


def _line_height(draw: ImageDraw.ImageDraw, font: Any) -> int:
    box = draw.textbbox((0, 0), "Ag", font=font)
    return int(box[3] - box[1]) + 4


def _wrap(draw: ImageDraw.ImageDraw, text: str, width: int, font: Any) -> list[str]:
    """Greedy word wrap by rendered width (long words are cut)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            candidate = f"{current} {word}".strip()
            if draw.textlength(candidate, font=font) <= width or not current:
                current = candidate
            else:
                lines.append(current)
                current = word
            while draw.textlength(current, font=font) > width and len(current) > 1:
                cut = len(current) - 1
                while cut > 1 and draw.textlength(current[:cut], font=font) > width:
                    cut -= 1
                lines.append(current[:cut])
                current = current[cut:]
        lines.append(current)
    return lines or [""]
