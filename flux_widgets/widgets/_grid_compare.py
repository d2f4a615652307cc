"""The grid's side-by-side parts: one client per provider, each cell's clock, and its caption.

A provider axis (``columns=("provider", [...])``) runs each cell on its own provider's client,
made the way the studio makes them: ``with_provider(name)`` from the grid's client (a mock
client makes mock clients for every provider; a keyed one reads each provider's key from the
environment). A provider without a key is not an error of the grid: its cells say so, the
others run. A cell's caption says its seed, its latency (seconds, from its first status to its
images), its estimated price (US dollars) and what the provider did not honour: what the plan
had to change (``GridPlan.unhonoured``) and what the image shows against the request (size,
format, seed).
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..client import FluxClient
from ..errors import MissingAPIKeyError
from ..images import GeneratedImage
from ..params import FluxParams
from ..prompts.grid_plan import Cell, GridPlan
from ..prompts.progress import BatchProgress
from ..providers.settings import get_provider
from ..spending.prices import estimate_cost
from ._html import warning_html

CellCost = Callable[[Cell], "float | None"]
"""A cell's estimated US dollars (None: unknown)."""


class ProviderClients:
    """The client of each provider named on a grid's provider axis, or why there is none.

    ``base`` is the grid's client: its own provider uses it as it is; the others are
    ``base.with_provider(name)`` (a stand-in without it: ``FluxClient(provider=name)`` from the
    environment). ``missing`` holds a ``MissingAPIKeyError`` per provider without a key
    ("no key for fal: set FAL_KEY").
    """

    def __init__(self, base: Any, names: Iterable[str]) -> None:
        self.base = base
        self.clients: dict[str, Any] = {}
        self.missing: dict[str, MissingAPIKeyError] = {}
        self._made: list[FluxClient] = []
        for name in names:
            if getattr(base, "provider", None) == name:
                self.clients[name] = base
                continue
            try:
                made = (
                    base.with_provider(name)
                    if hasattr(base, "with_provider")
                    else FluxClient(provider=name)
                )
            except MissingAPIKeyError:
                keys = " or ".join(get_provider(name).key_env_vars)
                self.missing[name] = MissingAPIKeyError(f"no key for {name}: set {keys}")
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
        """Close the clients made here (the grid's own client stays open); they reopen on
        their next use."""
        for client in self._made:
            await client.aclose()


class CellClock(BatchProgress):
    """Feeds one batch's progress (its indices are ``indices``' positions) into the grid's
    ``counts``, and times each cell from its first status to its end (seconds)."""

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
        self._stop(grid_index)
        self._counts.finish(grid_index, ok)

    def seconds(self, grid_index: int) -> float | None:
        """The cell's latency in seconds (so far, if it has not ended); None before it began."""
        return self._stop(grid_index)

    def _stop(self, grid_index: int) -> float | None:
        if grid_index not in self._seconds and grid_index in self._started:
            self._seconds[grid_index] = time.monotonic() - self._started[grid_index]
        return self._seconds.get(grid_index)


def mismatches(params: FluxParams, image: GeneratedImage) -> list[str]:
    """What the image shows the provider did not honour of ``params``: its size, format or
    seed against the request ("size 1024x1024, not 1344x768"; "seed unknown")."""
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


def caption(
    image: GeneratedImage | None, seconds: float | None, cost: float | None, showing_price: bool
) -> str:
    """A cell's first caption line: ``seed 7 · 1.8 s · $0.0030`` (the price only on a
    provider axis, "price unknown" where the table has none)."""
    parts = []
    if image is not None:
        parts.append(f"seed {image.seed}" if image.seed is not None else "seed unknown")
    if seconds is not None:
        parts.append(f"{seconds:.1f} s")
    if showing_price:
        parts.append("price unknown" if cost is None else f"${cost:.4f}")
    return " · ".join(parts)


def cell_caption(
    plan: GridPlan,
    cell: Cell,
    image: GeneratedImage | None,
    seconds: float | None,
    cost: CellCost,
    head: str = "",
) -> str:
    """A cell's caption as HTML: ``head`` ("waiting"), seed, latency, price (on a provider
    axis), then a warning line of what its provider did not honour."""
    by_provider = bool(plan.providers)
    first = caption(image, seconds, cost(cell) if by_provider else None, by_provider)
    text = html.escape(" · ".join(part for part in (head, first) if part))
    notes = list(plan.unhonoured.get(cell, ()))
    if image is not None:
        notes += [note for note in mismatches(plan.cells[cell], image) if note not in notes]
    if notes:
        text += "<br>" + warning_html("; ".join(notes))
    return f"<small>{text}</small>"


def price_parts(plan: GridPlan, providers: ProviderClients, cost: CellCost) -> list[str]:
    """A provider grid's price in words: ``["about $0.0060 on cometapi, fal", "price
    unknown on together", "no key for replicate"]`` (the cells of a provider without a key
    will not run, so they cost nothing)."""
    priced: dict[str, float] = {}
    unknown = []
    for name in plan.provider_names:
        if name in providers.missing:
            continue
        costs = [cost(cell) for cell, owner in plan.providers.items() if owner == name]
        if any(value is None for value in costs):
            unknown.append(name)
        else:
            priced[name] = sum(value or 0.0 for value in costs)
    parts = []
    if priced:
        parts.append(f"about ${sum(priced.values()):.4f} on {', '.join(priced)}")
    if unknown:
        parts.append(f"price unknown on {', '.join(unknown)}")
    if providers.missing:
        parts.append(f"no key for {', '.join(providers.missing)}")
    return parts


async def run_all(jobs: list[Awaitable[None]]) -> None:
    """Await every job concurrently; the first exception cancels the others and is raised,
    and so does a cancel of the caller (a structured ``gather`` for Python 3.10)."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # raises the first failure
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
