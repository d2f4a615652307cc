"""Prompt matrix (as AUTOMATIC1111's script): ``base|part 1|part 2`` -> every part on or off.

``a city street|at night|in the rain`` makes four prompts: the base alone, with "at night",
with "in the rain", and with both. The grid lays the first half of the parts along its rows and
the rest along its columns, so each row/column label says which parts are on. Only ``|`` outside
braces splits, so a part may hold variants ``{a|b}``. As in A1111, the commas and spaces around a
part are dropped before the parts are joined with ", ".
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

MAX_MATRIX_PARTS = 8
"""At most 8 optional parts: 256 images already."""


@dataclass(frozen=True)
class MatrixAxis:
    """One grid axis of a prompt matrix: its parts, and every on/off choice of them."""

    parts: tuple[str, ...]

    @property
    def choices(self) -> list[tuple[bool, ...]]:
        """Every on/off combination, all off first (so the first row/column is the base)."""
        return [tuple(bits) for bits in itertools.product((False, True), repeat=len(self.parts))]

    def label(self, choice: tuple[bool, ...]) -> str:
        """``"+ at night, - in the rain"`` (just ``"base"`` for an empty axis)."""
        if not self.parts:
            return "base"
        return ", ".join(
            ("+ " if on else "- ") + part for part, on in zip(self.parts, choice, strict=True)
        )


@dataclass(frozen=True)
class PromptMatrix:
    """A matrix prompt split into its base and optional parts."""

    base: str
    parts: tuple[str, ...]

    @classmethod
    def parse(cls, prompt: str) -> PromptMatrix:
        """Split on ``|`` outside braces; raises ``ValueError`` without an optional part, with
        an empty part, or with more than ``MAX_MATRIX_PARTS``."""
        pieces = [_part_text(piece) for piece in split_outside_braces(prompt, "|")]
        base, parts = pieces[0], tuple(pieces[1:])
        if not parts:
            raise ValueError(
                "a prompt matrix needs optional parts after |, e.g. 'a city street|at night|in "
                "the rain'"
            )
        if not base or not all(parts):
            raise ValueError("a prompt matrix has an empty part: write text between every |")
        if len(parts) > MAX_MATRIX_PARTS:
            raise ValueError(
                f"a prompt matrix takes at most {MAX_MATRIX_PARTS} optional parts "
                f"({2**MAX_MATRIX_PARTS} images), got {len(parts)}"
            )
        return cls(base, parts)

    @property
    def rows(self) -> MatrixAxis:
        return MatrixAxis(self.parts[: (len(self.parts) + 1) // 2])

    @property
    def columns(self) -> MatrixAxis:
        return MatrixAxis(self.parts[(len(self.parts) + 1) // 2 :])

    def prompt(self, row: tuple[bool, ...], column: tuple[bool, ...]) -> str:
        """The prompt of one cell: the base, then each part that is on, joined by ", "."""
        on = [
            p
            for p, bit in zip(self.rows.parts + self.columns.parts, row + column, strict=True)
            if bit
        ]
        return ", ".join([self.base, *on])

    def prompts(self) -> list[str]:
        """Every prompt, row by row."""
        return [self.prompt(r, c) for r in self.rows.choices for c in self.columns.choices]


def _part_text(piece: str) -> str:
    """A part as A1111's ``scripts/prompt_matrix.py`` takes it: without the spaces and commas
    around it, since parts are joined with ", " (``at night,`` must not send ``at night,,``).
    The base is cleaned the same way: its trailing comma would double too."""
    return piece.strip(" \t\r\n,")


def split_outside_braces(text: str, separator: str) -> list[str]:
    """``text`` split on ``separator`` where it is not inside ``{...}``."""
    pieces: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        if char == separator and depth == 0:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces
