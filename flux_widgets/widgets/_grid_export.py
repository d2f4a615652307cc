"""The grid's export: one labelled picture per sheet (page), for slides and the static fallback.

Decodes every image: call it off the event loop for big grids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from ..errors import FluxError, MissingAPIKeyError
from ..images import GeneratedImage
from ..prompts.grid_plan import Cell, GridPlan
from ._sheet import fitted, paste_centered

_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_MUTED = (110, 110, 110)
_EMPTY = (232, 232, 232)
_LABEL_CHARS = 3 * 48
_PAD = 8


def draw_sheet(
    plan: GridPlan,
    page: Any,
    images: Mapping[Cell, GeneratedImage],
    errors: Mapping[Cell, FluxError],
    cell_size: int,
) -> Image.Image:
    """One sheet: its title, axis names and value labels, each cell fit in a ``cell_size``
    square (grey with a note where there is no image)."""
    font = _font(14)
    small = _font(12)
    pad = _PAD
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def wrap(text: str, width: int) -> list[str]:
        return _wrap(scratch, _cut(text), width, small)

    rows, columns = plan.rows, plan.columns
    row_labels = [wrap(label, 170) for label in rows.labels]
    column_labels = [wrap(label, cell_size) for label in columns.labels]
    line = _line_height(scratch, small)
    label_width = max(
        [scratch.textlength(t, font=small) for lines in row_labels for t in lines]
        + [scratch.textlength(rows.field, font=font)]
    )
    left = int(label_width) + 2 * pad
    title_height = _line_height(scratch, font) + pad
    top = title_height + line * max(len(lines) for lines in column_labels) + 2 * pad
    width = max(
        left + len(columns.values) * (cell_size + pad) + pad,
        # Every sheet as wide as the widest title: sheets of one grid are the same size.
        max(int(scratch.textlength(plan.sheet_title(p), font=font)) for p in plan.page_values)
        + 2 * pad,
    )
    height = top + len(rows.values) * (cell_size + pad) + pad
    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((pad, pad), plan.sheet_title(page), fill=_INK, font=font)
    draw.text((pad, title_height + pad), columns.field + " ->", fill=_MUTED, font=small)
    for c, lines in enumerate(column_labels):
        x = left + c * (cell_size + pad)
        for n, text in enumerate(lines):
            draw.text((x, title_height + pad + n * line), text, fill=_INK, font=small)
    for r, row in enumerate(rows.values):
        y = top + r * (cell_size + pad)
        for n, text in enumerate(row_labels[r]):
            draw.text((pad, y + n * line), text, fill=_INK, font=small)
        for c, column in enumerate(columns.values):
            x = left + c * (cell_size + pad)
            cell = plan.key(page, row, column)
            image = images.get(cell)
            if image is None:
                draw.rectangle((x, y, x + cell_size - 1, y + cell_size - 1), fill=_EMPTY)
                for n, text in enumerate(wrap(_empty_note(errors.get(cell)), cell_size - 12)):
                    draw.text((x + 6, y + 6 + n * line), text, fill=_MUTED, font=small)
            else:
                paste_centered(canvas, fitted(image, cell_size), (x, y), cell_size)
    return canvas


def stack(sheets: list[Image.Image]) -> Image.Image:
    """Sheets one above the other (a thin rule between), as one picture."""
    if len(sheets) == 1:
        return sheets[0]
    width = max(sheet.width for sheet in sheets)
    height = sum(sheet.height for sheet in sheets) + 2 * (len(sheets) - 1)
    canvas = Image.new("RGB", (width, height), _MUTED)
    y = 0
    for sheet in sheets:
        canvas.paste(Image.new("RGB", (width, sheet.height), _BACKGROUND), (0, y))
        canvas.paste(sheet, (0, y))
        y += sheet.height + 2
    return canvas


def _empty_note(error: FluxError | None) -> str:
    """What a cell without an image says: "no key for fal: set FAL_KEY", or why it is empty."""
    if isinstance(error, MissingAPIKeyError):
        return str(error)
    return "not generated" if error is None else "failed"


def _cut(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


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
