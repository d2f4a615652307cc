"""What a comparison grid generates: its axes (rows, columns, optional pages) and every cell's
parameters, validated before the first request. ``PromptGrid`` draws and runs it.

Axes vary FluxParams fields (prompt wording, seeds, steps, aspect ratios...). A third axis,
``pages``, makes one labelled sheet per value. In prompt-matrix mode (``matrix="base|a|b"``) the
rows and columns turn the prompt's optional parts on and off instead (see ``matrix.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..params import FIELD_NAMES, FluxParams, random_seed
from .matrix import PromptMatrix
from .templates import PromptTemplate, TemplateError

Cell = tuple[Any, ...]
"""A cell's key: (row value, column value), or (page value, row value, column value)."""
MATRIX_FIELD = "prompt parts"
"""The name matrix axes show where a field name would be."""


def value_text(value: Any, limit: int | None = None) -> str:
    """An axis value as a label: strings as they are, others as their repr; cut at ``limit``."""
    text = value if isinstance(value, str) else repr(value)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class GridAxis:
    """One axis: the field it varies (or ``MATRIX_FIELD``), its values and their labels."""

    field: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]

    @classmethod
    def of(cls, name: str, axis: tuple[str, Sequence[Any]]) -> GridAxis:
        """A field axis from ``(field, values)``; ``ValueError`` names what is wrong."""
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
        return cls(field, values, tuple(value_text(v) for v in values))

    def label(self, value: Any) -> str:
        return self.labels[self.values.index(value)]


@dataclass(frozen=True)
class GridPlan:
    """Rows x columns (x pages) of cells, each a validated ``FluxParams`` with one output."""

    rows: GridAxis
    columns: GridAxis
    pages: GridAxis | None
    cells: dict[Cell, FluxParams]
    base: dict[str, Any]
    """The parameters every cell shares (the axes' fields aside)."""
    matrix: PromptMatrix | None = None

    @property
    def page_values(self) -> tuple[Any, ...]:
        """The pages' values; ``(None,)`` for a grid of one sheet."""
        return self.pages.values if self.pages is not None else (None,)

    def key(self, page: Any, row: Any, column: Any) -> Cell:
        """The cell key: ``(row, column)``, or ``(page, row, column)`` with pages."""
        return (row, column) if self.pages is None else (page, row, column)

    def sheet_title(self, page: Any) -> str:
        """The title of one sheet (ASCII only: Pillow's default font has no arrows)."""
        if self.matrix is not None:
            title = f"prompt matrix: {self.matrix.base}"
        else:
            title = f"rows: {self.rows.field}   columns: {self.columns.field}"
        if self.pages is not None:
            title += f"   page: {self.pages.field} = {self.pages.label(page)}"
        return title


def plan_grid(
    *,
    rows: tuple[str, Sequence[Any]] | None,
    columns: tuple[str, Sequence[Any]] | None,
    pages: tuple[str, Sequence[Any]] | None,
    matrix: str | None,
    base: FluxParams | Mapping[str, Any] | None,
    defaults: Mapping[str, Any] | None = None,
) -> GridPlan:
    """Validate the axes and build every cell; raises ``ValueError`` naming the problem (a
    bad value, a repeated field, a template in a cell) before anything is sent. ``defaults``
    fill the fields a mapping ``base`` leaves out (a provider's defaults)."""
    page_axis = GridAxis.of("pages", pages) if pages is not None else None
    parsed: PromptMatrix | None = None
    if matrix is not None:
        if rows is not None or columns is not None:
            raise ValueError("a prompt matrix lays out its own rows and columns: drop rows/columns")
        parsed = PromptMatrix.parse(matrix)
        row_axis = _matrix_axis(parsed.rows.parts)
        column_axis = _matrix_axis(parsed.columns.parts)
        fields = {"prompt"}
    else:
        if rows is None or columns is None:
            raise ValueError("give rows=(field, values) and columns=(field, values), or matrix=")
        row_axis, column_axis = GridAxis.of("rows", rows), GridAxis.of("columns", columns)
        if row_axis.field == column_axis.field:
            raise ValueError(f"rows and columns both vary {row_axis.field}: pick two fields")
        fields = {row_axis.field, column_axis.field}
    if page_axis is not None:
        if page_axis.field in fields:
            raise ValueError(f"pages vary {page_axis.field}, which an axis already varies")
        fields.add(page_axis.field)
    data = _base_params(base, fields, defaults)

    def axes_of(row: Any, column: Any) -> dict[str, Any]:
        if parsed is not None:
            return {"prompt": parsed.prompt(row, column)}
        return {row_axis.field: row, column_axis.field: column}

    cells: dict[Cell, FluxParams] = {}
    for page in page_axis.values if page_axis is not None else (None,):
        extra = {page_axis.field: page} if page_axis is not None else {}
        for row in row_axis.values:
            for column in column_axis.values:
                key = (row, column) if page_axis is None else (page, row, column)
                cells[key] = _cell_params(data, {**axes_of(row, column), **extra})
    return GridPlan(row_axis, column_axis, page_axis, cells, data, parsed)


def _matrix_axis(parts: tuple[str, ...]) -> GridAxis:
    from .matrix import MatrixAxis

    axis = MatrixAxis(parts)
    choices = axis.choices
    return GridAxis(MATRIX_FIELD, tuple(choices), tuple(axis.label(c) for c in choices))


def _base_params(
    base: FluxParams | Mapping[str, Any] | None,
    axes: set[str],
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    if isinstance(base, FluxParams):
        data = dataclasses.asdict(base)
    else:
        # Fields the base leaves out take ``defaults`` (a provider's: fal and Together, jpg).
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
        params = FluxParams(**{**base, **axes})
    except (TypeError, ValueError) as error:
        cell = ", ".join(f"{field}={value!r}" for field, value in axes.items())
        raise ValueError(f"grid cell ({cell}) is invalid: {error}") from None
    # A grid compares one image per cell: a template would hide several behind one cell.
    if _is_template(params.prompt):
        raise ValueError(
            f"grid cell prompt {params.prompt!r} holds variants or wildcards; a grid shows one "
            "image per cell: expand them into an axis, e.g. rows=('prompt', expand_prompts(...))"
        )
    return params


def _is_template(prompt: str) -> bool:
    if "{" not in prompt and "__" not in prompt:
        return False
    try:
        return PromptTemplate(prompt).is_dynamic
    except TemplateError:  # not valid template syntax: it is sent as plain text
        return False
