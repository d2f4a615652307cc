"""A grid cell's caption as HTML (what it says: ``prompts/grid_compare.py``, shared with
``%%flux --provider a,b,c``)."""

from __future__ import annotations

import html
from collections.abc import Callable

from ..images import GeneratedImage
from ..prompts.grid_compare import caption, cell_notes
from ..prompts.grid_plan import Cell, GridPlan
from ._html import warning_html


def cell_caption(
    plan: GridPlan,
    cell: Cell,
    image: GeneratedImage | None,
    seconds: float | None,
    cost: Callable[[Cell], float | None],
    head: str = "",
) -> str:
    """``head`` ("waiting"), seed, latency, price (on a provider axis), then a warning line of
    what the cell's provider did not honour; escaped."""
    by_provider = bool(plan.providers)
    first = caption(image, seconds, cost(cell) if by_provider else None, by_provider)
    text = html.escape(" · ".join(part for part in (head, first) if part))
    notes = cell_notes(plan, cell, image)
    if notes:
        text += "<br>" + warning_html("; ".join(notes))
    return note_html(text)


def note_html(inner: str) -> str:
    """A cell's note: small text whose wrapped lines stay close (a widget's HTML has the
    inline height of a control as its line height, 28 px in JupyterLab)."""
    return f"<div style='line-height:1.35'><small>{inner}</small></div>"
