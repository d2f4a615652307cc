"""The grid's exported sheets draw labels in any script: real glyphs, never .notdef boxes, and
a clear note where no font on the machine has a character."""

from __future__ import annotations

import os
from typing import Any

import pytest
from PIL import ImageDraw, ImageFont

from flux_widgets.prompts.grid_plan import plan_grid
from flux_widgets.widgets import _grid_export
from flux_widgets.widgets._grid_export import MISSING_NOTE, draw_sheet, fonts, typeface

SCRIPTS = {
    "Cyrillic": "Бумажный кораблик на воде",
    "Greek": "Χάρτινη βάρκα στο νερό",
    "accented Latin": "Bateau de papier à l'aube, ñ, ø, ß, œ",
    "decomposed accents": "cafe\u0301 nai\u0308ve",
    "Chinese and Japanese": "紙の船、静かな水面",
    "Korean": "종이배",
    "mixed": "Ελληνικά, кириллица, 紙の船 and ASCII",
}
CJK = {"Chinese and Japanese", "Korean", "mixed"}


def is_tofu(font: Any, character: str) -> bool:
    """The character renders as the font's .notdef glyph (what a code point no font maps,
    U+10FFFD, renders as), with plain layout (no shaping engine adding dotted circles)."""
    basic = font.font_variant(layout_engine=ImageFont.Layout.BASIC)
    glyph, notdef = basic.getmask(character), basic.getmask("\U0010fffd")
    return (glyph.size, bytes(glyph)) == (notdef.size, bytes(notdef))


def _cjk_font_or_skip() -> None:
    if any(not is_tofu(font, "紙") for font in fonts(12)):
        return
    if os.environ.get("CI"):  # `make test` installs one (the Makefile's fonts target)
        pytest.fail("no CJK font on the CI machine: the Makefile's `fonts` target installs one")
    pytest.skip("no CJK font here: `make fonts` installs fonts-wqy-microhei")


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_each_script_is_drawn_with_a_font_that_has_its_glyphs(script: str) -> None:
    if script in CJK:
        _cjk_font_or_skip()
    text = SCRIPTS[script]
    drawn, font, complete = typeface(text, 12)
    assert complete and drawn == text
    letters = {c for c in text if c.isalpha()}
    assert not [c for c in letters if is_tofu(font, c)]
    # Real glyphs differ from each other; boxes would all look the same.
    basic = font.font_variant(layout_engine=ImageFont.Layout.BASIC)
    renderings = {bytes(basic.getmask(c)) for c in letters}
    assert len(renderings) > len(letters) // 2


def test_pillows_own_font_would_have_drawn_boxes() -> None:
    """Why the fonts are chosen: Pillow's default font lacks even accented Latin."""
    default = ImageFont.load_default(12)
    assert is_tofu(default, "é") and is_tofu(default, "Б") and not is_tofu(default, "e")


def _drawn_texts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = []
    original = ImageDraw.ImageDraw.text

    def text(self: Any, xy: Any, content: str, *args: Any, **kwargs: Any) -> None:
        calls.append((content, kwargs.get("font")))
        original(self, xy, content, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", text)
    return calls


def _plan(labels: list[str]) -> Any:
    return plan_grid(
        rows=("prompt", labels), columns=("seed", [1, 2]), pages=None, matrix=None, base=None
    )


def test_sheet_labels_in_every_script_are_drawn_without_boxes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _cjk_font_or_skip()
    calls = _drawn_texts(monkeypatch)
    labels = list(SCRIPTS.values())
    sheet = draw_sheet(_plan(labels), None, {}, {}, cell_size=64)
    drawn = " ".join(text for text, _font in calls)
    for label in labels:
        assert all(word in drawn for word in label.split(" ")), label
    boxes = [(c, t) for t, font in calls for c in t if not c.isspace() and is_tofu(font, c)]
    assert not boxes
    assert MISSING_NOTE not in drawn
    assert sheet.width > 64 and sheet.height > 64


def test_characters_no_font_has_are_question_marks_with_a_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    latin_only = tuple(font for font in fonts(12) if is_tofu(font, "紙"))
    monkeypatch.setattr(_grid_export, "fonts", lambda size: latin_only or fonts(size))
    calls = _drawn_texts(monkeypatch)
    plan = _plan(["紙の船 boat", "हिन्दी", "Привет"])
    with_gaps = draw_sheet(plan, None, {}, {}, cell_size=64)
    drawn = [text for text, _font in calls]
    assert "??? boat" in drawn and "??????" in drawn and "Привет" in drawn
    assert any(line in MISSING_NOTE for line in drawn if line.startswith("? = a character"))
    boxes = [(c, t) for t, font in calls for c in t if not c.isspace() and is_tofu(font, c)]
    assert not boxes
    calls.clear()
    complete = draw_sheet(_plan(["boat", "Привет", "x"]), None, {}, {}, cell_size=64)
    assert not any(text.startswith("? = a character") for text, _font in calls)
    assert with_gaps.height > complete.height  # the note has room of its own
