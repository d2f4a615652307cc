"""Providers side by side: one client per provider, each cell run and timed, and its caption.

Shared by ``PromptGrid`` (``widgets/grid.py``) and ``%%flux --provider a,b,c`` (``magics.py``),
so both say the same thing about a cell. A provider axis (``("provider", [...])``) runs each
cell on its own provider's client, made as the studio makes them: ``with_provider(name)`` from
the caller's client (a mock client makes mock clients for every provider; a keyed one reads each
provider's key from the environment). A provider without a key is not an error of the whole: its
cells say so ("no key for fal: set FAL_KEY"), the others run. A cell's caption says its seed,
its latency (seconds, from its first status to its images), its estimated price (US dollars) and
what its provider did not honour: what the plan changed (``GridPlan.unhonoured``) and what the
image shows against the request (size, format, seed).

Never imports the client (the layer rule): clients are duck-typed (``generate_many``,
``with_provider``, ``estimate_cost``, ``aclose``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from ..errors import FluxError, MissingAPIKeyError
from ..images import GeneratedImage
from ..params import FluxParams
from ..providers.settings import get_provider
from ..spending.prices import dollars, estimate_cost
from ..wording import error_text
from .grid_plan import Cell, GridPlan
from .progress import BatchProgress

ShowCell = Callable[
    [Cell, list[GeneratedImage], "FluxError | None", "float | None"], Awaitable[None]
]
"""Called as each cell ends: its images, its error (or None) and its latency in seconds."""
Ended = dict[Cell, tuple[list[GeneratedImage], "FluxError | None", "float | None"]]
"""What each cell ended with: its images, its error, its latency (what ``ShowCell`` got)."""
CellCost = Callable[[Cell], "float | None"]
"""A cell's estimated US dollars; None when unknown."""


class ProviderClients:
    """The client of each provider named on a provider axis, or why there is none.

    ``base`` is the caller's client: its own provider uses it as it is; the others come from
    ``make(name)`` (default ``base.with_provider``), which raises ``MissingAPIKeyError`` for a
    provider without a key: ``missing`` then holds one saying which variable to set. Any other
    refusal of its settings (a ``ValueError`` or ``FluxError``: a provider needing a second
    variable, say) is kept there too, as a ``FluxError`` naming the provider: its cells say it,
    the others run.
    """

    def __init__(
        self, base: Any, names: Iterable[str], make: Callable[[str], Any] | None = None
    ) -> None:
        self.base = base
        self.clients: dict[str, Any] = {}
        self.missing: dict[str, FluxError] = {}
        self._made: list[Any] = []
        for name in names:
            if getattr(base, "provider", None) == name:
                self.clients[name] = base
                continue
            try:
                made = (make or base.with_provider)(name)
            except MissingAPIKeyError:
                keys = " or ".join(get_provider(name).key_env_vars)
                self.missing[name] = MissingAPIKeyError(f"no key for {name}: set {keys}")
            except (FluxError, ValueError) as error:
                self.missing[name] = FluxError(f"{name} cannot be used here: {error}")
            else:
                self.clients[name] = made
                self._made.append(made)

    def cost(self, name: str | None, params: FluxParams) -> float | None:
        """Estimated US dollars of ``params`` on provider ``name`` (None: the base client's
        provider); None when the price is unknown or there is nothing to ask."""
        client = self.base if name is None else self.clients.get(name)
        if client is not None and hasattr(client, "estimate_cost"):
            cost: float | None = client.estimate_cost(params)
            return cost
        if name is None:
            return None
        return estimate_cost(name, params, prices=getattr(self.base, "prices", None))

    async def aclose(self) -> None:
        """Close the clients made here (the caller's own stays open); they reopen when used."""
        for client in self._made:
            await client.aclose()


class CellClock(BatchProgress):
    """Feeds one batch's progress (its indices are ``indices``' positions) into the whole
    run's ``counts``, and times each cell from its first status to its end (seconds)."""

    def __init__(self, counts: BatchProgress, indices: list[int]) -> None:
        super().__init__(len(indices), bar=False)
        self._counts = counts
        self._indices = indices
        self._started: dict[int, float] = {}
        self._seconds: dict[int, float] = {}

    def status(self, index: int, status: str) -> None:
        grid_index = self._indices[index]
        self._started.setdefault(grid_index, time.monotonic())
        self._counts.status(grid_index, status)

    def finish(self, index: int, ok: bool) -> None:
        grid_index = self._indices[index]
        self.seconds(grid_index)
        self._counts.finish(grid_index, ok)

    def seconds(self, grid_index: int) -> float | None:
        """The cell's latency in seconds (fixed when first asked after it ended); None
        before it began."""
        if grid_index not in self._seconds and grid_index in self._started:
            self._seconds[grid_index] = time.monotonic() - self._started[grid_index]
        return self._seconds.get(grid_index)


async def run_cells(
    plan: GridPlan,
    keys: list[Cell],
    base: Any,
    clients: ProviderClients,
    counts: BatchProgress,
    show: ShowCell,
    history: Any = None,
) -> None:
    """Run every cell of ``keys`` (``counts`` indices are positions in it): on a provider axis
    each on its provider's client, all providers at once; without one on ``base``. A provider
    without a key: its cells end at once with its ``MissingAPIKeyError``. On a provider axis a
    ``FluxError`` that refuses one provider's whole batch (the spending cap) ends its cells.
    ``history`` (unless None: the clients' own) is where every client keeps the images."""
    batches: dict[Any, list[int]] = {}
    for index, cell in enumerate(keys):
        name = plan.providers.get(cell)
        missing = clients.missing.get(name) if name is not None else None
        if missing is not None:
            counts.finish(index, ok=False)
            await show(cell, [], missing, None)
            continue
        client = base if name is None else clients.clients[name]
        batches.setdefault(id(client), []).append(index)
    owners = {id(c): c for c in [base, *clients.clients.values()]}
    # Passed only when given: a stand-in client (tests) need not know history=.
    keep = {} if history is None else {"history": history}
    jobs = [
        _run_batch(plan, keys, owners[owner], indices, counts, show, keep)
        for owner, indices in batches.items()
    ]
    try:
        await _run_all(jobs)
    finally:
        await clients.aclose()


async def _run_batch(
    plan: GridPlan,
    keys: list[Cell],
    client: Any,
    indices: list[int],
    counts: BatchProgress,
    show: ShowCell,
    keep: dict[str, Any],
) -> None:
    clock = CellClock(counts, indices)
    try:
        batch = client.generate_many([plan.cells[keys[i]] for i in indices], progress=clock, **keep)
        # Closed however the loop ends: a cancel landing in ``show`` (outside the generator)
        # would leave its workers sending the rest of the cells.
        async with contextlib.aclosing(batch):
            async for result in batch:
                index = indices[result.index]
                seconds = clock.seconds(index)
                await show(keys[index], list(result.images), result.error, seconds)
                clock.finish(result.index, ok=result.error is None)  # (the client may have)
    except FluxError as error:
        if not plan.providers:
            raise  # one client: the caller's error, as before
        for index in indices:  # refused whole, before any request: this provider's cells
            counts.finish(index, ok=False)
            await show(keys[index], [], error, None)


async def _run_all(jobs: Sequence[Awaitable[None]]) -> None:
    """Await every job concurrently; the first exception cancels the others and is raised,
    and so does a cancel of the caller (a structured ``gather`` for Python 3.10)."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        if tasks:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # raises the first failure
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def mismatches(params: FluxParams, image: GeneratedImage) -> list[str]:
    """What the image shows its provider did not honour of ``params``: size, format or seed
    against the request ("size 1024x1024, not 1344x768"; "seed unknown")."""
    found = []
    width, height = params.pixel_size()
    if (image.width, image.height) != (width, height):
        found.append(f"size {image.width}x{image.height}, not {width}x{height}")
    fmt = "jpg" if image.format == "jpeg" else image.format
    if fmt != params.output_format:
        found.append(f"format {fmt}, not {params.output_format}")
    if params.seed is not None and image.seed != params.seed:
        found.append(
            "seed unknown" if image.seed is None else f"seed {image.seed}, not {params.seed}"
        )
    return found


def cell_notes(plan: GridPlan, cell: Cell, image: GeneratedImage | None) -> list[str]:
    """Everything the cell's provider did not honour: the plan's changes, then the image's."""
    notes = list(plan.unhonoured.get(cell, ()))
    if image is not None:
        notes += [note for note in mismatches(plan.cells[cell], image) if note not in notes]
    return notes


def caption(
    image: GeneratedImage | None, seconds: float | None, cost: float | None, showing_price: bool
) -> str:
    """A cell's first caption line: ``seed 7 · 1.8 s · $0.0030`` (the price only when
    ``showing_price``: "price unknown" where the table has none)."""
    parts = []
    if image is not None:
        parts.append(f"seed {image.seed}" if image.seed is not None else "seed unknown")
    if seconds is not None:
        parts.append(f"{seconds:.1f} s")
    if showing_price:
        parts.append("price unknown" if cost is None else dollars(cost))
    return " · ".join(parts)


def price_parts(plan: GridPlan, clients: ProviderClients, cost: CellCost) -> list[str]:
    """A provider axis's price in words: ``["about $0.0060 on cometapi, fal", "price unknown
    on together", "no key for replicate"]`` (a provider without a key runs nothing)."""
    priced: dict[str, float] = {}
    unknown = []
    for name in plan.provider_names:
        if name in clients.missing:
            continue
        costs = [cost(cell) for cell, owner in plan.providers.items() if owner == name]
        if any(value is None for value in costs):
            unknown.append(name)
        else:
            priced[name] = sum(value or 0.0 for value in costs)
    parts = []
    if priced:
        parts.append(f"about {dollars(sum(priced.values()))} on {', '.join(priced)}")
    if unknown:
        parts.append(f"price unknown on {', '.join(unknown)}")
    keyless = [n for n, e in clients.missing.items() if isinstance(e, MissingAPIKeyError)]
    if keyless:
        parts.append(f"no key for {', '.join(keyless)}")
    refused = [name for name in clients.missing if name not in keyless]
    if refused:
        parts.append(f"cannot use {', '.join(refused)}")
    return parts


def cell_text(plan: GridPlan, cell: Cell, ended: Ended, cost: CellCost) -> str:
    """One line for a terminal: ``fal: seed 7 · 1.2 s · $0.0030 (format jpg, not webp)``."""
    images, _, seconds = ended.get(cell, ([], None, None))
    image = images[0] if images else None
    notes = "; ".join(cell_notes(plan, cell, image))
    text = f"{plan.providers.get(cell, '')}: {caption(image, seconds, cost(cell), True)}"
    return text + (f" ({notes})" if notes else "")


def side_by_side_html(plan: GridPlan, ended: Ended, cost: CellCost) -> str:
    """An HTML table (static: it survives a saved notebook): a column per column value, a
    row per row value, each image as a 256 px WebP thumbnail over its caption."""
    # Fixed columns of one width (JupyterLab sizes a table's columns by their captions and
    # right-aligns cells), centred; thumbnails as wide as their column, 256 px at most.
    align = "text-align:center;vertical-align:top;overflow-wrap:anywhere"
    head = "".join(
        f"<th style='{align}'>{html.escape(label)}</th>" for label in plan.columns.labels
    )
    rows = []
    for row in plan.rows.values:
        cells = []
        for column in plan.columns.values:
            cell = plan.key(None, row, column)
            images, error, seconds = ended.get(cell, ([], None, None))
            image = images[0] if images else None
            picture = ""
            if image is not None:
                data = base64.b64encode(image.thumbnail(256, "webp")).decode()
                style = "width:100%;max-width:256px;height:auto"
                picture = f"<img src='data:image/webp;base64,{data}' style='{style}'><br>"
            text = html.escape(caption(image, seconds, cost(cell), True))
            notes = cell_notes(plan, cell, image)
            if notes:
                text += f"<br><i>{html.escape('; '.join(notes))}</i>"
            if error is not None:
                text += f"<br><b>{html.escape(error_text(error))}</b>"
            cells.append(f"<td style='{align}'>{picture}<small>{text}</small></td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    width = f"table-layout:fixed;width:100%;max-width:{272 * len(plan.columns.values)}px"
    return f"<table class='flux-compare' style='{width}'><tr>{head}</tr>{''.join(rows)}</table>"
