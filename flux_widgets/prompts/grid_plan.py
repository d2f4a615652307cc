"""What a comparison grid generates: its axes (rows, columns, optional pages) and every cell's
parameters, validated before the first request. ``PromptGrid`` draws and runs it.

Axes vary FluxParams fields (prompt wording, seeds, steps, aspect ratios...), or the provider
(``("provider", ["cometapi", "fal"])``: any name in the registry, ``providers/settings.py``).
A third axis, ``pages``, makes one labelled sheet per value. On a provider axis each cell takes
its provider's defaults for the fields ``base`` leaves out, and a value the provider cannot
honour (fal has no webp) becomes the nearest one it can, noted in ``GridPlan.unhonoured`` for the
cell's caption, instead of refusing the whole comparison. In prompt-matrix mode
(``matrix="base|a|b"``) the rows and columns turn the prompt's optional parts on and off
instead (see ``matrix.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..params import FIELD_NAMES, FluxParams, random_seed
from ..providers.base import Provider
from ..providers.settings import get_provider
from ..schema import FIELDS
from .matrix import PromptMatrix
from .templates import PromptTemplate, TemplateError

Cell = tuple[Any, ...]
"""A cell's key: (row value, column value), or (page value, row value, column value)."""
MATRIX_FIELD = "prompt parts"
"""The name matrix axes show where a field name would be."""
PROVIDER_FIELD = "provider"
"""The axis that runs the same recipe on each provider named (registry names)."""
_SHORT = {"output_format": "format", "num_inference_steps": "steps"}


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
        if field == PROVIDER_FIELD:
            return cls._providers(name, values)
        if field not in FIELD_NAMES:
            raise ValueError(
                f"{name}: {field!r} is not a parameter; use {PROVIDER_FIELD!r} or one of "
                f"{FIELD_NAMES}"
            )
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

    @classmethod
    def _providers(cls, name: str, values: Any) -> GridAxis:
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"{name}: give provider a non-empty list of names, got {values!r}")
        try:  # registry names, any case: ValueError lists the registered ones
            names = tuple(get_provider(value).name for value in values)
        except (AttributeError, TypeError):
            raise ValueError(f"{name}: provider names are strings, got {values!r}") from None
        if len(set(names)) != len(names):
            raise ValueError(f"{name}: provider values repeat: {values!r}")
        return cls(PROVIDER_FIELD, names, names)

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
    providers: dict[Cell, str] = field(default_factory=dict)
    """Each cell's provider name, on a provider axis (empty without one)."""
    unhonoured: dict[Cell, tuple[str, ...]] = field(default_factory=dict)
    """Per cell, what its provider cannot honour and got instead ("format jpg, not webp")."""

    @property
    def provider_names(self) -> tuple[str, ...]:
        """The provider axis's names, in order; ``()`` without a provider axis."""
        for axis in (self.rows, self.columns, self.pages):
            if axis is not None and axis.field == PROVIDER_FIELD:
                return axis.values
        return ()

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
        if rows is None and columns is None:
            raise ValueError("give rows=(field, values) and/or columns=(field, values), or matrix=")
        # One axis only: the other is a single value every cell shares.
        rows = rows if rows is not None else _shared_axis(columns, base)
        columns = columns if columns is not None else _shared_axis(rows, base)
        row_axis, column_axis = GridAxis.of("rows", rows), GridAxis.of("columns", columns)
        if row_axis.field == column_axis.field:
            raise ValueError(f"rows and columns both vary {row_axis.field}: pick two fields")
        fields = {row_axis.field, column_axis.field}
    if page_axis is not None:
        if page_axis.field in fields:
            raise ValueError(f"pages vary {page_axis.field}, which an axis already varies")
        fields.add(page_axis.field)
    # On a provider axis each cell takes its own provider's defaults (below), not one's.
    by_provider = PROVIDER_FIELD in fields
    data = _base_params(base, fields, None if by_provider else defaults)

    def axes_of(row: Any, column: Any) -> dict[str, Any]:
        if parsed is not None:
            return {"prompt": parsed.prompt(row, column)}
        return {row_axis.field: row, column_axis.field: column}

    plan = GridPlan(row_axis, column_axis, page_axis, {}, data, parsed)
    for page in page_axis.values if page_axis is not None else (None,):
        extra = {page_axis.field: page} if page_axis is not None else {}
        for row in row_axis.values:
            for column in column_axis.values:
                key = plan.key(page, row, column)
                axes = {**axes_of(row, column), **extra}
                name = axes.pop(PROVIDER_FIELD, None)
                if name is None:
                    plan.cells[key] = _cell_params(data, axes)
                    continue
                provider = get_provider(name)
                params = _cell_params({**provider.defaults(), **data}, axes)
                plan.cells[key], plan.unhonoured[key] = honoured(params, provider)
                plan.providers[key] = name
    return plan


def _shared_axis(
    given: tuple[str, Sequence[Any]] | None, base: FluxParams | Mapping[str, Any] | None
) -> tuple[str, Sequence[Any]]:
    """The axis a one-axis grid leaves out: one value every cell shares, so the cells differ
    only along the given axis. The base's seed (a random one when it has none, drawn once for
    all cells); or, when the given axis varies the seed, the base's prompt."""
    values = dataclasses.asdict(base) if isinstance(base, FluxParams) else dict(base or {})
    varied = given[0] if isinstance(given, tuple) and given else None
    if varied != "seed":
        seed = values.get("seed")
        return ("seed", [seed if seed is not None else random_seed()])
    if not isinstance(values.get("prompt"), str):
        raise ValueError("a grid of seeds alone needs base={'prompt': ...}")
    return ("prompt", [values["prompt"]])


def honoured(params: FluxParams, provider: Provider) -> tuple[FluxParams, tuple[str, ...]]:
    """``params`` with each value ``provider`` cannot honour replaced by the nearest one it can
    (its default for a choice or a missing setting, the nearest bound for a number), and one
    short note per replacement ("format jpg, not webp"). The result passes ``provider.check``."""
    capabilities = provider.capabilities
    changes: dict[str, Any] = {}
    notes = []
    for name, spec in FIELDS.items():
        value = getattr(params, name)
        new = value
        if name in capabilities.lacks:
            new = spec.default
        elif name in capabilities.choices and value not in capabilities.choices[name]:
            allowed = capabilities.choices[name]
            default = capabilities.default(name)
            new = default if default in allowed else allowed[0]
        elif name in capabilities.bounds and value is not None:
            low, high = capabilities.bounds[name]
            new = min(max(value, low), high)
        if new != value:
            changes[name] = new
            shown = "not sent" if new is None else new
            notes.append(f"{_SHORT.get(name, name)} {shown}, not {value}")
    result = params.replace(**changes) if changes else params
    provider.check(result)
    return result, tuple(notes)


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
