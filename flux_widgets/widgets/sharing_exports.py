"""A gallery's or a grid's images shared as a history shares its own (history/exporting.py,
history/gallery_html.py): one web page (a grid's with its rows x columns laid out first) or
a zip that ``History.import_`` re-opens in another notebook.

An image that is in a history (the studio stores every image) leaves byte for byte as its
entry; one that is not leaves as the history would store it (recipe embedded).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import FluxError
from ..history.exporting import ExportItem, ExportReport, image_item, write_zip
from ..history.gallery_html import THUMBNAIL_SIZE, PageLayout, write_html
from ..images import GeneratedImage
from ..prompts.grid_plan import Cell, GridPlan


def export_images_html(
    images: Sequence[GeneratedImage],
    path: str | os.PathLike[str],
    *,
    title: str = "flux-widgets images",
    full_size: bool = False,
    thumbnail_size: int = THUMBNAIL_SIZE,
) -> ExportReport:
    """``images`` as one offline web page (see ``History.export_html``)."""
    items = [image_item(image) for image in images]
    return write_html(items, path, title=title, full_size=full_size, thumbnail_size=thumbnail_size)


def export_images_zip(
    images: Sequence[GeneratedImage], path: str | os.PathLike[str]
) -> ExportReport:
    """``images`` as a zip ``History.import_`` re-opens (see ``History.export_zip``)."""
    return write_zip((image_item(image) for image in images), path)


def grid_items(
    plan: GridPlan, images: Mapping[Cell, GeneratedImage], errors: Mapping[Cell, FluxError]
) -> tuple[list[ExportItem], list[PageLayout]]:
    """A grid's images in reading order (page, row, column) and one layout per sheet: the
    axes' labels, each cell's image, and why a cell has none (its error, or not made yet)."""
    items: list[ExportItem] = []
    layouts: list[PageLayout] = []
    for page in plan.page_values:
        cells: dict[tuple[int, int], str] = {}
        notes: dict[tuple[int, int], str] = {}
        for r, row in enumerate(plan.rows.values):
            for c, column in enumerate(plan.columns.values):
                key = plan.key(page, row, column)
                image = images.get(key)
                if image is not None:
                    item = image_item(image)
                    items.append(item)
                    cells[(r, c)] = item.stem
                else:
                    error = errors.get(key)
                    notes[(r, c)] = f"failed: {error}" if error is not None else "not made yet"
        layouts.append(
            PageLayout(
                title=plan.sheet_title(page),
                row_heading=plan.rows.field,
                column_heading=plan.columns.field,
                rows=plan.rows.labels,
                columns=plan.columns.labels,
                cells=cells,
                notes=notes,
            )
        )
    return items, layouts


def export_grid_html(
    plan: GridPlan,
    images: Mapping[Cell, GeneratedImage],
    errors: Mapping[Cell, FluxError],
    path: str | os.PathLike[str],
    **options: Any,
) -> ExportReport:
    """A grid as one offline web page: its sheets as tables, then every image's card."""
    items, layouts = grid_items(plan, images, errors)
    options.setdefault("title", "flux-widgets grid")
    return write_html(items, path, layout=layouts, **options)
