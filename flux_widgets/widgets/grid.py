"""PromptGrid: one image per (row value, column value) over two FluxParams fields, for teaching.

Prompt variants x seeds, steps x seeds, aspect ratios x prompts: the grid shows what one
parameter does by holding the others still. So every cell is validated before the first
request (a typo in one value must not cost five paid images first), and when no seed is given
and ``seed`` is not an axis, one random seed is shared by all cells, so differences come from
the axes alone. A third axis (``pages``) makes one labelled sheet per value; a prompt matrix
(``matrix="base|part|part"``) turns each optional part on and off. Any axis may be
``("provider", names)``: the same recipe on each provider, side by side, each cell captioned
with its latency, price and what its provider did not honour (``_grid_compare.py``). The
count and estimated cost show before anything starts; cells fill in as they complete; every
sheet exports as a labelled image (also the static fallback in a saved notebook).
"""

from __future__ import annotations

import asyncio
import html
import io
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets
from PIL import Image

from ..errors import FluxError, MissingAPIKeyError
from ..generation import check_history
from ..history.exporting import ExportReport
from ..images import GeneratedImage
from ..params import FluxParams
from ..prompts.grid_compare import ProviderClients, price_parts, run_cells
from ..prompts.grid_plan import Cell, GridAxis, GridPlan, plan_grid, value_text
from ..prompts.progress import BatchProgress
from ..providers import Provider
from ..schema import FIELDS
from ..spending.prices import dollars
from ..wording import error_text, plural
from ._compat import StaticFallback, close_tree, set_tooltip
from ._grid_compare import cell_caption, note_html
from ._grid_export import draw_sheet, stack
from ._html import STUDIO_CSS, error_html, warning_html
from ._tasks import TaskSet, on_home_loop
from .sharing_exports import export_grid_html, export_images_zip

if TYPE_CHECKING:
    from ..client import FluxClient
    from ..generation import HistorySetting

__all__ = ["Cell", "PromptGrid"]

_THUMBNAIL_FORMAT = "webp"
_LABEL_CHARS = 48
_ALL_PAGES = object()
_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


class PromptGrid(StaticFallback, widgets.VBox):  # type: ignore[misc]
    """Rows x columns (x pages) of images over FluxParams fields, or a prompt matrix.

    ``rows``, ``columns`` and the optional ``pages`` are ``(field, values)`` (with only one of
    rows and columns, the other is one value all cells share: the base's seed, or a random one
    drawn once); ``matrix`` (instead of rows and columns) is a prompt ``"base|part|part..."``
    whose parts turn on and off. ``base``
    holds the other parameters (a FluxParams or a dict; it needs a prompt unless "prompt" is an
    axis). ``num_outputs`` is always 1 per cell. An axis ``("provider", ["cometapi", "fal"])``
    runs the same recipe on each registered provider (one client each, from
    ``client.with_provider``; a provider without a key fills its cells with "no key for fal:
    set FAL_KEY" and the others still run). Raises ``ValueError`` naming the field if any
    cell is invalid. ``await grid.generate()`` runs it from code; the Generate button does too.
    Cells are keyed ``(row, column)``, or ``(page, row, column)`` with pages. Every image is
    kept in the history where the client keeps its images (``FluxClient(history=)``, by
    default the default history folder); ``history=False`` keeps none of this grid's, a
    ``History(path)`` keeps them there.
    """

    # Kernel-side state (no sync=True): the browser gets the thumbnails, not these.
    client = traitlets.Any(help="the FluxClient (or a stand-in) that generates the cells")
    plan = traitlets.Instance(GridPlan, help="the axes, the base parameters and every cell")
    thumbnail_size = traitlets.Int(192, help="a cell's thumbnail, px a side at most")
    images: traitlets.Dict[Cell, GeneratedImage] = traitlets.Dict(
        help="the finished images, by cell key"
    )
    errors: traitlets.Dict[Cell, FluxError] = traitlets.Dict(
        help="the cells that failed, with their errors"
    )
    counts = traitlets.Instance(
        BatchProgress, allow_none=True, help="the last run's done / failed / running counts"
    )
    done = traitlets.Bool(False, help="whether the last run went through every cell")
    history = traitlets.Any(
        None, allow_none=True, help="where the images are kept: None, the client's; False, nowhere"
    )

    def __init__(
        self,
        client: FluxClient,
        *,
        rows: tuple[str, Sequence[Any]] | None = None,
        columns: tuple[str, Sequence[Any]] | None = None,
        pages: tuple[str, Sequence[Any]] | None = None,
        matrix: str | None = None,
        base: FluxParams | Mapping[str, Any] | None = None,
        thumbnail_size: int = 192,
        history: HistorySetting | None = None,
        **kwargs: Any,
    ) -> None:
        self.client = client
        if history is not None:
            check_history(history)  # TypeError now, not once the cells are paid for
        self.history = history
        # Fields the base leaves out take the provider's defaults (fal and Together: jpg). A
        # stand-in client without a provider (tests drive the grid with one) gets the schema's.
        provider: Provider | None = getattr(client, "provider_info", None)
        self.plan = plan_grid(
            rows=rows,
            columns=columns,
            pages=pages,
            matrix=matrix,
            base=base,
            defaults=provider.defaults() if provider is not None else None,
        )
        self.row_field, self.row_values = self.plan.rows.field, self.plan.rows.values
        self.column_field, self.column_values = self.plan.columns.field, self.plan.columns.values
        self.page_field = self.plan.pages.field if self.plan.pages is not None else None
        self.page_values = self.plan.pages.values if self.plan.pages is not None else ()
        self.base: dict[str, Any] = self.plan.base
        self.cells: dict[Cell, FluxParams] = self.plan.cells
        for params in self.cells.values():
            if provider is not None and not self.plan.providers:
                provider.check(params)  # a value it cannot honour: ValueError now, not mid-grid
        # One client per provider on a provider axis (the plan adapted each cell to its own).
        # A stand-in client without with_provider: clients from the environment's keys.
        make = None if hasattr(client, "with_provider") else _client_from_environment
        self.providers = ProviderClients(client, self.plan.provider_names, make)
        self.thumbnail_size = thumbnail_size
        self._exported: bytes | None = None
        self._tasks = TaskSet(self._report)
        self._started: float | None = None
        self._make_controls()
        # At its own aspect ratio, never wider than its column nor than the thumbnail itself.
        self._pictures = {
            cell: widgets.Image(
                format=_THUMBNAIL_FORMAT,
                layout={"width": "auto", "max_width": "100%", "height": "auto", "margin": "2px 0"},
            )
            for cell in self.cells
        }
        self._notes = {cell: widgets.HTML(self._waiting(cell)) for cell in self.cells}
        self.sheets = {page: self._sheet_box(page) for page in self.plan.page_values}
        """One GridBox per page (the key is None without pages)."""
        if self.plan.pages is None:
            self.grid: widgets.Widget = self.sheets[None]
        else:
            # One tab per page: the labels say which value each sheet holds.
            self.grid = widgets.Tab(children=list(self.sheets.values()))
            for index, label in enumerate(self.plan.pages.labels):
                self.grid.set_title(index, f"{self.page_field} = {value_text(label, 24)}")
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

    def _make_controls(self) -> None:
        self.progress = widgets.HTML(self._progress_text(None))
        self.generate_button = widgets.Button(description="Generate grid", icon="th")
        set_tooltip(self.generate_button, f"{plural(len(self.cells), 'image')}, one request each")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        # Clicks may arrive on another thread's event loop (a kernel subshell): see on_home_loop.
        self.generate_button.on_click(on_home_loop(lambda _: self._start()))
        self.cancel_button.on_click(on_home_loop(lambda _: self.cancel()))

    # -- what it will cost ----------------------------------------------------------------

    def cell_cost(self, cell: Cell) -> float | None:
        """Estimated US dollars of one cell on its provider; None when its price is unknown."""
        return self.providers.cost(self.plan.providers.get(cell), self.cells[cell])

    def estimated_cost(self) -> float | None:
        """Estimated US dollars of every cell that will run (a provider without a key runs
        none) on its provider; None when a price is unknown."""
        total = 0.0
        for cell in self._runnable():
            cost = self.cell_cost(cell)
            if cost is None:
                return None
            total += cost
        return total

    def summary(self) -> str:
        """``"24 images in 2 sheets · about $0.0720 on replicate"``: shown before it starts
        (on a provider axis: ``"on cometapi, fal"``, the providers without a key named)."""
        count = len(self.cells)
        sheets = len(self.plan.page_values)
        text = plural(count, "image")
        if sheets > 1:
            text += f" in {sheets} sheets"
        names = self.plan.provider_names
        if not names:
            cost = self.estimated_cost()
            provider = getattr(self.client, "provider", "the provider")
            if cost is None:
                return f"{text} · price unknown on {provider}"
            return f"{text} · about {dollars(cost)} on {provider}"
        return " · ".join([text, *price_parts(self.plan, self.providers, self.cell_cost)])

    def _runnable(self) -> list[Cell]:
        missing = self.providers.missing
        return [cell for cell in self.cells if self.plan.providers.get(cell) not in missing]

    # -- driving it --------------------------------------------------------------------

    async def generate(self, *, progress: bool = False) -> dict[Cell, GeneratedImage]:
        """Generate every cell concurrently (bounded by the client); returns ``images``.

        ``progress=True`` also shows a ``tqdm.auto`` bar (done / failed / running) in the
        cell that awaits it; the grid's own line always shows the counts.
        """
        self.images.clear()
        self.errors.clear()
        self.done, self._exported = False, None
        keys = list(self.cells)
        for cell in keys:
            self._pictures[cell].value = b""
            self._notes[cell].value = "<small>queued</small>"
        self._started = time.monotonic()
        counts = BatchProgress(
            len(keys), description="grid", bar=progress, listener=self._on_counts
        )
        self.counts = counts
        self.progress.value = self._progress_text(0.0)
        self.generate_button.disabled, self.cancel_button.disabled = True, False
        try:
            await run_cells(
                self.plan, keys, self.client, self.providers, counts, self._show, self.history
            )
            self.done = True
        except asyncio.CancelledError:
            for cell in keys:
                if cell not in self.images and cell not in self.errors:
                    self._notes[cell].value = "<small>cancelled</small>"
            self.progress.value = self._progress_text(time.monotonic() - self._started, "cancelled")
            raise
        finally:
            counts.close()
            self.generate_button.disabled, self.cancel_button.disabled = False, True
        return dict(self.images)

    async def _show(
        self,
        cell: Cell,
        images: list[GeneratedImage],
        error: FluxError | None,
        seconds: float | None,
    ) -> None:
        if images:
            image = images[0]
            thumbnail = await asyncio.to_thread(
                image.thumbnail, self.thumbnail_size, _THUMBNAIL_FORMAT
            )
            self.images[cell] = image
            with self._pictures[cell].hold_sync():
                self._pictures[cell].value = thumbnail
            self._notes[cell].value = self._caption(cell, image, seconds)
        if error is not None:
            self.errors[cell] = error
            note = (
                warning_html(error_text(error)) if isinstance(error, MissingAPIKeyError) else None
            )
            self._notes[cell].value = note_html(note or error_html(error))
        if self._started is not None:
            self.progress.value = self._progress_text(time.monotonic() - self._started)

    def _caption(
        self, cell: Cell, image: GeneratedImage | None, seconds: float | None, head: str = ""
    ) -> str:
        return cell_caption(self.plan, cell, image, seconds, self.cell_cost, head)

    def _waiting(self, cell: Cell) -> str:
        name = self.plan.providers.get(cell)
        error = self.providers.missing.get(name) if name is not None else None
        if error is not None:
            return note_html(warning_html(error_text(error)))
        return self._caption(cell, None, None, head="waiting")

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

    def _on_counts(self, counts: BatchProgress) -> None:
        if self._started is not None:
            self.progress.value = self._progress_text(time.monotonic() - self._started)

    # -- export ------------------------------------------------------------------------

    def to_image(self, cell_size: int = 256, page: Any = _ALL_PAGES) -> Image.Image:
        """The grid as one labelled image: axis names and values, each cell fit into a
        ``cell_size`` square. With pages: one ``page``'s sheet, or by default every sheet,
        one above the other. Decodes every image: call it off the event loop for big grids."""
        if page is not _ALL_PAGES:
            if page not in self.plan.page_values:
                raise ValueError(f"no page {page!r}; the pages are {self.page_values!r}")
            return draw_sheet(self.plan, page, self.images, self.errors, cell_size)
        return stack(list(self.to_images(cell_size).values()))

    def to_images(self, cell_size: int = 256) -> dict[Any, Image.Image]:
        """One labelled image per sheet, by page value (``{None: image}`` without pages)."""
        return {
            page: draw_sheet(self.plan, page, self.images, self.errors, cell_size)
            for page in self.plan.page_values
        }

    def save(self, path: str | Path, cell_size: int = 256) -> Path:
        """Write the labelled grid image, every sheet in one picture (format from the suffix;
        PNG when there is none). ``save_sheets`` writes one file per sheet instead."""
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(".png")
        self.to_image(cell_size).save(target)
        return target

    def save_sheets(self, path: str | Path, cell_size: int = 256) -> list[Path]:
        """Write one labelled image per sheet: ``grid-1-<value>.png``, ``grid-2-<value>.png``
        ... next to ``path`` (just ``path`` without pages). Returns the paths written."""
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(".png")
        if self.plan.pages is None:
            return [self.save(target, cell_size)]
        written = []
        for number, (page, sheet) in enumerate(self.to_images(cell_size).items(), start=1):
            label = _UNSAFE.sub("-", self.plan.pages.label(page)).strip("-")[:40] or "page"
            name = target.with_name(f"{target.stem}-{number}-{label}{target.suffix}")
            sheet.save(name)
            written.append(name)
        return written

    def export_html(self, path: str | Path, **options: Any) -> ExportReport:
        """The grid as one offline web page: each sheet as a table of thumbnails (why a cell
        has none, too), then every image's recipe, copy as code and compare (``options``:
        ``title``, ``full_size``, ``thumbnail_size``, as ``History.export_html``)."""
        return export_grid_html(self.plan, self.images, self.errors, path, **options)

    def export_zip(self, path: str | Path) -> ExportReport:
        """The grid's images as a zip that ``History.import_`` re-opens in another notebook."""
        return export_images_zip(list(self.images.values()), path)

    # -- display -----------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "done" if self.done else "not done"
        pages = f"x{len(self.page_values)} pages" if self.page_values else ""
        return (
            f"<PromptGrid {len(self.row_values)}x{len(self.column_values)}{pages} "
            f"{self.row_field} x {self.column_field}: {len(self.images)}/{len(self.cells)} "
            f"images, {len(self.errors)} failed, {state}>"
        )

    def _static_bundle(self) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": repr(self)}
        # The static fallback: where widgets do not render (GitHub, nbviewer), the image shows.
        if self.done and self.images:
            if self._exported is None:
                out = io.BytesIO()
                self.to_image(cell_size=192).save(out, "PNG")
                self._exported = out.getvalue()
            bundle["image/png"] = self._exported
        return bundle

    # -- layout ------------------------------------------------------------------------

    def _sheet_box(self, page: Any) -> widgets.GridBox:
        # Columns shrink to fit the cell (a 900 px notebook cell shows all of them, no
        # horizontal scrollbar); the row labels' column is capped and its labels wrap.
        return widgets.GridBox(
            self._grid_children(page),
            layout=widgets.Layout(
                grid_template_columns=(
                    f"fit-content(160px) "
                    f"repeat({len(self.column_values)}, minmax(0, {self.thumbnail_size}px))"
                ),
                grid_gap="6px",
                align_items="center",
                width="100%",
            ),
        )

    def _grid_children(self, page: Any) -> list[widgets.Widget]:
        corner = widgets.HTML(
            f"<small><b>{html.escape(axis_heading(self.row_field))}</b> ↓<br>"
            f"<b>{html.escape(axis_heading(self.column_field))}</b>&nbsp;→</small>"
        )
        children: list[widgets.Widget] = [corner]
        # Column values centred over their image columns, not at their left edge.
        children += [_label(self.plan.columns, value, center=True) for value in self.column_values]
        for row in self.row_values:
            children.append(_label(self.plan.rows, row))
            for column in self.column_values:
                cell = self.plan.key(page, row, column)
                children.append(
                    widgets.VBox(
                        [self._pictures[cell], self._notes[cell]],
                        # At the top of its row: captions of other lengths do not shift it.
                        layout={
                            "min_width": "0",
                            "align_items": "center",
                            "align_self": "flex-start",
                        },
                    )
                )
        return children

    def _progress_text(self, elapsed: float | None, state: str = "") -> str:
        total = len(self.cells)
        if elapsed is None:
            return f"<small>{html.escape(self.summary())}, not generated yet</small>"
        finished = len(self.images) + len(self.errors)
        failed = f" · {len(self.errors)} failed" if self.errors else ""
        running = self.counts.running if self.counts is not None else 0
        state = state or ("done" if finished == total else "generating")
        busy = f" · {running} running" if running and state == "generating" else ""
        return f"<small>{finished}/{total} {state}{failed}{busy} · {elapsed:.1f} s</small>"


def _client_from_environment(name: str) -> FluxClient:
    from ..client import FluxClient

    return FluxClient(provider=name)


def axis_heading(field: str) -> str:
    """An axis's heading: the schema's label ("Steps", not "num_inference_steps", which wraps
    mid-word in a narrow corner); a name the schema does not know as given."""
    return FIELDS[field].label if field in FIELDS else field


def _label(axis: GridAxis, value: Any, *, center: bool = False) -> widgets.HTML:
    text = axis.label(value)
    align = " style='display:block;text-align:center'" if center else ""
    label = widgets.HTML(
        f"<small{align}>{html.escape(value_text(text, _LABEL_CHARS))}</small>",
        # No side margins: 100% plus the widget's 2 px margins stuck out of the last column.
        layout={"width": "100%", "margin": "2px 0"} if center else {},
    )
    set_tooltip(label, text)
    return label
