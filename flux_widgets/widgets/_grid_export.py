"""The grid's export: one labelled picture per sheet (page), for slides and the static fallback.

Decodes every image: call it off the event loop for big grids.

Labels are prompts and values in any script. Pillow's own font (Aileron) has Latin without
accents only, so each text is drawn in the first font, of a list of wide-coverage fonts found
on the machine (``_FONT_FILES``: DejaVu Sans for Latin, Greek and Cyrillic, then CJK fonts, by
file name in the system's font folders, where Pillow's ``truetype`` looks), that has a glyph for
every character, judged by rendering: a character without a glyph renders as the font's
``.notdef`` box. Characters no font here has are drawn as "?" and the sheet says so in a note
under it, naming the font package to install, rather than showing boxes.
"""

from __future__ import annotations

import functools
import importlib.util
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from ..errors import FluxError, MissingAPIKeyError
from ..images import GeneratedImage
from ..prompts.grid_plan import Cell, GridPlan
from ..wording import error_text
from ._sheet import fitted, paste_centered

_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_MUTED = (110, 110, 110)
_EMPTY = (232, 232, 232)
_LABEL_CHARS = 3 * 48
_PAD = 8
# Tried in order (Pillow's ``truetype`` finds a bare file name in the system's font folders:
# /usr/share/fonts on Linux, /Library/Fonts and /System/Library/Fonts on macOS, Windows\Fonts).
_FONT_FILES = (
    "DejaVuSans.ttf",  # Debian's fonts-dejavu-core: Latin, Greek, Cyrillic, Hebrew, Arabic
    "NotoSansCJK-Regular.ttc",  # fonts-noto-cjk
    "wqy-microhei.ttc",  # fonts-wqy-microhei (what `make test` installs): CJK and Hangul
    "wqy-zenhei.ttc",
    "DroidSansFallbackFull.ttf",  # fonts-droid-fallback
    "Arial Unicode.ttf",  # macOS
    "msyh.ttc",  # Windows: Microsoft YaHei
    "malgun.ttf",  # Windows: Malgun Gothic (Hangul)
    "arial.ttf",  # Windows: Latin, Greek, Cyrillic
)
# A code point no font maps (the last private-use one): it renders the font's .notdef glyph.
_UNMAPPED = "\U0010fffd"
MISSING_GLYPH = "?"
"""What a character that no font here can draw is drawn as (with a note under the sheet)."""
MISSING_NOTE = (
    "? = a character no font here can draw; install a font with it "
    "(e.g. Debian's fonts-noto-cjk or fonts-wqy-microhei for Chinese, Japanese, Korean)"
)


def draw_sheet(
    plan: GridPlan,
    page: Any,
    images: Mapping[Cell, GeneratedImage],
    errors: Mapping[Cell, FluxError],
    cell_size: int,
) -> Image.Image:
    """One sheet: its title, axis names and value labels, each cell fit in a ``cell_size``
    square (grey with a note where there is no image). Labels in any script are drawn in a
    font that has their glyphs (see the module docstring); characters no font here has are
    drawn as ``MISSING_GLYPH``, with ``MISSING_NOTE`` under the sheet."""
    pad = _PAD
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    missing = False

    def typeset(text: str, size: int) -> tuple[str, Any]:
        nonlocal missing
        drawn, font, complete = typeface(text, size)
        missing = missing or not complete
        return drawn, font

    def wrap(text: str, width: int) -> list[tuple[str, Any]]:
        drawn, font = typeset(_cut(text), 12)
        return [(line, font) for line in _wrap(scratch, drawn, width, font)]

    def length(text: str, size: int) -> float:
        drawn, font = typeset(text, size)
        return float(scratch.textlength(drawn, font=font))

    rows, columns = plan.rows, plan.columns
    row_labels = [wrap(label, 170) for label in rows.labels]
    column_labels = [wrap(label, cell_size) for label in columns.labels]
    line = _line_height(scratch, 12)
    label_width = max(
        [scratch.textlength(t, font=f) for lines in row_labels for t, f in lines]
        + [length(rows.field, 14)]
    )
    left = int(label_width) + 2 * pad
    title_height = _line_height(scratch, 14) + pad
    top = title_height + line * max(len(lines) for lines in column_labels) + 2 * pad
    width = max(
        left + len(columns.values) * (cell_size + pad) + pad,
        # Every sheet as wide as the widest title: sheets of one grid are the same size.
        max(int(length(plan.sheet_title(p), 14)) for p in plan.page_values) + 2 * pad,
    )
    height = top + len(rows.values) * (cell_size + pad) + pad
    title = typeset(plan.sheet_title(page), 14)
    footnote = wrap(MISSING_NOTE, width - 2 * pad) if missing else []
    canvas = Image.new("RGB", (width, height + len(footnote) * line), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((pad, pad), title[0], fill=_INK, font=title[1])
    axis = typeset(columns.field + " ->", 12)
    draw.text((pad, title_height + pad), axis[0], fill=_MUTED, font=axis[1])
    for c, lines in enumerate(column_labels):
        x = left + c * (cell_size + pad)
        for n, (text, font) in enumerate(lines):
            draw.text((x, title_height + pad + n * line), text, fill=_INK, font=font)
    for n, (text, font) in enumerate(footnote):
        draw.text((pad, height - pad // 2 + n * line), text, fill=_MUTED, font=font)
    for r, row in enumerate(rows.values):
        y = top + r * (cell_size + pad)
        for n, (text, font) in enumerate(row_labels[r]):
            draw.text((pad, y + n * line), text, fill=_INK, font=font)
        for c, column in enumerate(columns.values):
            x = left + c * (cell_size + pad)
            cell = plan.key(page, row, column)
            image = images.get(cell)
            if image is None:
                draw.rectangle((x, y, x + cell_size - 1, y + cell_size - 1), fill=_EMPTY)
                note = wrap(_empty_note(errors.get(cell)), cell_size - 12)
                for n, (text, font) in enumerate(note):
                    draw.text((x + 6, y + 6 + n * line), text, fill=_MUTED, font=font)
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
        return error_text(error)
    return "not generated" if error is None else "failed"


def _cut(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def typeface(text: str, size: int) -> tuple[str, Any, bool]:
    """``(text to draw, font, complete)``: the first font of ``fonts(size)`` with a glyph for
    every character of ``text``; else the one with the most, ``text`` with each character it
    lacks drawn as ``MISSING_GLYPH``, and ``complete`` False."""
    faces = fonts(size)
    wanted = {c for c in text if not (c.isspace() or unicodedata.category(c) == "Cf")}
    best, best_count = faces[0], -1
    for font in faces:
        count = sum(has_glyph(font, c) for c in wanted)
        if count == len(wanted):
            return text, font, True
        if count > best_count:
            best, best_count = font, count
    drawn = "".join(c if c not in wanted or has_glyph(best, c) else MISSING_GLYPH for c in text)
    return drawn, best, False


@functools.cache
def fonts(size: int) -> tuple[Any, ...]:
    """The fonts labels may be drawn in at ``size`` px, in order of preference: those of
    ``_FONT_FILES`` found here, then Pillow's own (the last resort: Latin without accents)."""
    found: list[Any] = []
    for path in _font_paths():
        try:
            found.append(ImageFont.truetype(path, size))
        except OSError:
            continue
    try:
        found.append(ImageFont.load_default(size=size))
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        found.append(ImageFont.load_default())
    return tuple(found)


@functools.cache
def _font_paths() -> tuple[str, ...]:
    paths = []
    for name in _FONT_FILES:
        try:
            paths.append(str(ImageFont.truetype(name, 12).path))
        except OSError:  # not installed here
            continue
    # Matplotlib, where it is installed (Colab, most data-science images), ships DejaVu Sans.
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin is not None and not any("DejaVu" in p for p in paths):
        bundled = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if bundled.exists():
            paths.insert(0, str(bundled))
    return tuple(paths)


@functools.cache
def has_glyph(font: Any, character: str) -> bool:
    """Whether ``font`` draws ``character`` with a glyph of its own, not its .notdef box."""
    return _rendering(font, character) != _rendering(font, _UNMAPPED)


@functools.cache
def _rendering(font: Any, character: str) -> tuple[tuple[int, int], bytes]:
    # Basic layout: a shaping engine (Raqm) draws a dotted circle for a lone combining mark
    # the font lacks, which would pass for a glyph.
    mask = _basic(font).getmask(character)
    return mask.size, bytes(mask)


@functools.cache
def _basic(font: Any) -> Any:
    if not isinstance(font, ImageFont.FreeTypeFont):
        return font  # Pillow < 10.1's bitmap font: no layout engine
    return font.font_variant(layout_engine=ImageFont.Layout.BASIC)


def _line_height(draw: ImageDraw.ImageDraw, size: int) -> int:
    # The tallest of the fonts a label may use, so a line of CJK fits as well as one of Latin.
    boxes = [draw.textbbox((0, 0), "Ag", font=font) for font in fonts(size)]
    return max(int(box[3] - box[1]) for box in boxes) + 4


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
