"""ParameterControls: one widget per FluxParams field, laid out the way people look for them.

Labels, ranges, choices, defaults, hover help and placement come from the schema table
(``schema.py``): each field's kind picks its widget, its ``group`` and ``row`` where it sits.

The prompt, aspect ratio and image count are up front; everything else sits in an "Advanced"
accordion. The widgets hold only values the schema allows (sliders and dropdowns bound them),
and ``params()`` builds the FluxParams that validates the rest, so an invalid combination never
becomes a request.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator
from typing import Any

import ipywidgets as widgets
import traitlets

from ..params import (
    ASPECT_RATIOS,
    FIELD_NAMES,
    RANDOM_SEED_RANGE,
    SEED_RANGE,
    FluxParams,
    input_errors,
    pixel_size,
    random_seed,
)
from ..schema import CONTROL_ORDER, FIELDS, SCHEMA, Field, in_order
from ..wording import error_text
from ._compat import set_tooltip

RANDOM_SEED_MAX = RANDOM_SEED_RANGE[1]
_WIDE = {"description_width": "initial"}
# Rows of controls wrap in a narrow cell instead of overflowing it (no horizontal scrollbar).
_ROW = {"flex_flow": "row wrap", "align_items": "center", "max_width": "100%"}
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def parse_seed(text: str) -> int:
    """The seed a person typed, exactly: a whole number in ``SEED_RANGE`` (64-bit signed).

    Parsed in Python, never as a JS Number (which rounds every seed above 2**53 and reads
    ``1e3`` as 1). ValueError, naming the seed and the text, for anything else.
    """
    stripped = text.strip()
    if not _WHOLE_NUMBER.fullmatch(stripped):
        raise ValueError(f"seed must be a whole number, got {text.strip()!r}")
    low, high = SEED_RANGE
    digits = stripped.lstrip("+-")
    # A length check first: int() of thousands of digits is slow or refused outright.
    if len(digits) > len(str(high)) or not low <= int(stripped) <= high:
        raise ValueError(f"seed must be from {low} to {high}, got {stripped}")
    return int(stripped)


def aspect_ratio_options(megapixels: str = "1") -> list[tuple[str, str]]:
    """Dropdown labels with the pixel size each ratio gives, e.g. ``"16:9 · 1344×768"``."""
    options = []
    for ratio in ASPECT_RATIOS:
        width, height = pixel_size(ratio, megapixels)
        options.append((f"{ratio} · {width}×{height}", ratio))
    return options


def _slider(field: Field) -> widgets.IntSlider:
    """A slider over a field's schema range, at the field's default, with its label."""
    assert field.bounds is not None
    low, high = field.bounds
    return widgets.IntSlider(
        value=field.default, min=low, max=high, description=field.label, style=_WIDE
    )


def _dropdown(field: Field) -> widgets.Dropdown:
    """A dropdown of a choice field's values, labelled as the schema says (``option_label``)."""
    if field.name == "aspect_ratio":
        # Each ratio shows the pixel size it gives (which follows the megapixels).
        options: list[Any] = aspect_ratio_options()
    elif field.option_label == "{}":
        options = list(field.choices)
    else:
        options = [(field.option_label.format(choice), choice) for choice in field.choices]
    return widgets.Dropdown(
        options=options, value=field.default, description=field.label, style=_WIDE
    )


def _prompt_box() -> widgets.Textarea:
    prompt = widgets.Textarea(
        value="",
        placeholder="Describe the image you want, e.g. a paper boat on calm water at sunrise",
        continuous_update=False,  # one sync when the user leaves the field, not per key
        rows=3,
        # 100% plus the widget's 2 px margins would stick out of the cell.
        layout=widgets.Layout(width="calc(100% - 4px)"),
    )
    prompt.add_class("flux-prompt")
    return prompt


def _seed_box(field: Field) -> widgets.Text:
    # A text box parsed in Python (``parse_seed``): an IntText is a JS Number in the
    # browser, which rounds seeds above 2**53 and reads "1e3" as 1, silently.
    seed = widgets.Text(
        value=str(random_seed()),
        continuous_update=False,
        description=field.label,
        style=_WIDE,
        layout={"width": "200px"},
    )
    seed.add_class("flux-seed")
    return seed


def field_control(field: Field) -> widgets.Widget:
    """The widget that holds ``field``: a control chosen by the field's kind, at its default."""
    if field.kind == "text":
        return _prompt_box()
    if field.kind == "choice":
        return _dropdown(field)
    if field.kind == "int":
        return _slider(field)
    if field.kind == "seed":
        return _seed_box(field)
    return widgets.Checkbox(value=field.default, description=field.label, indent=False)


class ParameterControls(widgets.VBox):  # type: ignore[misc]
    """A control for every flux-schnell input; ``params()`` reads them, ``set_params`` fills.

    Each schema field's widget is the attribute of its name (``controls.go_fast``), and a
    field's note the attribute ``<name>_note``; where each sits comes from the schema table.
    The seed has one lock, ``seed_locked``, with one control: ``seed_switch`` (beside the seed
    box, or next to Generate once a studio takes it with ``take_seed_switch``).
    """

    seed_locked = traitlets.Bool(
        False,
        help="whether every generation reuses the seed box's value (else a fresh random seed "
        "each time); set by the seed switch, by typing a seed, and by set('seed', ...)",
    )

    def __init__(self, params: FluxParams | None = None, **kwargs: Any) -> None:
        for field in SCHEMA:
            setattr(self, field.name, field_control(field))
            if field.note:
                setattr(self, f"{field.name}_note", widgets.HTML(field.note))
        self._make_seed_buttons()
        self.advanced = widgets.Accordion(
            children=[
                widgets.VBox(
                    self._rows("advanced"), layout={"overflow": "hidden", "max_width": "100%"}
                )
            ],
            selected_index=None,
        )
        self.advanced.set_title(0, "Advanced")
        super().__init__([*self._rows("main"), self.advanced], **kwargs)
        for name, widget in self.field_widgets.items():
            if FIELDS[name].kind != "text":
                set_tooltip(widget, FIELDS[name].help)
        self.randomize_seed.on_click(lambda _: self.set("seed", random_seed()))
        self.seed_switch.on_click(lambda _: self._switch_lock())
        self.seed.observe(self._on_seed_typed, names="value")
        self.observe(lambda _: self._show_seed_state(), names="seed_locked")
        self._show_seed_state()
        self.output_format.observe(self._on_format, names="value")
        self.megapixels.observe(self._on_megapixels, names="value")
        if params is not None:
            self.set_params(params)

    def _make_seed_buttons(self) -> None:
        # An icon with a word: an emoji-only button is an empty box where no emoji font exists.
        self.randomize_seed = widgets.Button(
            description="new seed", icon="random", layout={"width": "auto"}
        )
        set_tooltip(self.randomize_seed, "draw a new random seed and keep it for what follows")
        # The seed state, for the studio to show next to Generate with the switch: the lock
        # must not hide in the collapsed Advanced section (a locked seed silently repeats paid
        # images). One switch, one meaning: its word says what a click does ("unlock").
        self.seed_state = widgets.HTML()
        self.seed_state.add_class("flux-seed-state")
        self.seed_switch = widgets.Button(layout={"width": "auto"})
        self.seed_switch.add_class("flux-seed-switch")
        self._drawing = False  # True while code (not a person) writes the seed box

    def _beside(self, field: Field) -> list[widgets.Widget]:
        """What sits next to a field's control: the seed's buttons, a field's note."""
        if field.kind == "seed":
            return [self.randomize_seed, self.seed_switch]
        return [getattr(self, f"{field.name}_note")] if field.note else []

    def _rows(self, group: str) -> list[widgets.Widget]:
        """The lines of one group, in the schema's control order: fields that share a ``row``
        sit on one line (which wraps in a narrow cell), a lone control as itself."""
        lines: list[list[widgets.Widget]] = []
        by_row: dict[str, list[widgets.Widget]] = {}
        for field in in_order(CONTROL_ORDER):
            if field.group != group:
                continue
            parts = [getattr(self, field.name), *self._beside(field)]
            if field.row in by_row:
                by_row[field.row] += parts
                continue
            lines.append(parts)
            if field.row:
                by_row[field.row] = parts
        return [line[0] if len(line) == 1 else widgets.HBox(line, layout=_ROW) for line in lines]

    # -- reading and writing --------------------------------------------------------------

    @property
    def field_widgets(self) -> dict[str, widgets.Widget]:
        """The widget that holds each FluxParams field (the seed's lock is ``seed_locked``)."""
        return {name: getattr(self, name) for name in FIELD_NAMES}

    def values(self) -> dict[str, Any]:
        """Every field's widget value as shown, unvalidated (the seed box even if unlocked;
        its text if that is not a valid seed)."""
        values = {name: self.field_widgets[name].value for name in FIELD_NAMES}
        with contextlib.suppress(ValueError):
            values["seed"] = parse_seed(values["seed"])
        return values

    @property
    def seed_value(self) -> int:
        """The seed box's value as a seed (locked or not); ValueError if it is not one."""
        return parse_seed(self.seed.value)

    def params(self) -> FluxParams:
        """The parameters as shown; ``seed`` is None unless locked. ValueError names the field."""
        values = self.values()
        values["prompt"] = values["prompt"].strip()
        if not self.seed_locked:
            values["seed"] = None
        else:
            values["seed"] = self.seed_value
        return FluxParams(**values)

    def next_params(self) -> FluxParams:
        """The parameters of the next generation: an unlocked seed is drawn afresh and shown;
        a locked one (typed, set from code, or reused) is never replaced."""
        params = self.params()
        if params.seed is None:
            seed = random_seed()
            self._set_seed(seed)
            params = params.replace(seed=seed)
        return params

    def set_params(self, params: FluxParams) -> None:
        """Show ``params`` in the controls (reuse); a set seed is locked, None unlocks."""
        with self._hold_all():
            for name in FIELD_NAMES:
                if name != "seed":
                    self.field_widgets[name].value = getattr(params, name)
            self.set("seed", params.seed)

    def get(self, name: str) -> Any:
        """One field's current value (``seed`` is None while unlocked)."""
        if name == "seed":
            return self.seed_value if self.seed_locked else None
        if name not in FIELD_NAMES:
            raise AttributeError(f"no parameter {name!r}; the fields are {', '.join(FIELD_NAMES)}")
        return self.field_widgets[name].value

    def set(self, name: str, value: Any) -> None:
        """Set one field from code, refusing what the schema refuses (sliders would clamp)."""
        if name not in FIELD_NAMES:
            raise AttributeError(f"no parameter {name!r}; the fields are {', '.join(FIELD_NAMES)}")
        if name == "prompt":
            # An empty prompt is fine while editing; params() refuses it at generation time.
            if not isinstance(value, str):
                raise ValueError(f"prompt must be a string, got {type(value).__name__}")
        elif errors := input_errors({"prompt": "-", name: value}):
            raise ValueError(errors[0].message)
        if name == "seed":
            with self._hold_all():
                if value is not None:
                    self._set_seed(value)
                self.seed_locked = value is not None
            self._show_seed_state()
            return
        widget = self.field_widgets[name]
        offered = [o[1] if isinstance(o, tuple) else o for o in getattr(widget, "options", ())]
        if offered and value not in offered:
            # A dropdown the current provider narrowed (provider_picker.py): fal has no webp.
            raise ValueError(
                f"{name}={value!r} is not offered by the current provider; it offers "
                + ", ".join(map(repr, offered))
            )
        widget.value = value

    # -- observers ------------------------------------------------------------------------

    def take_seed_switch(self) -> list[widgets.Widget]:
        """The seed's state line and its lock switch, taken out of the Advanced section for a
        studio to show next to Generate (the one lock control, always in view)."""
        for line in self.advanced.children[0].children:
            if isinstance(line, widgets.HBox) and self.seed_switch in line.children:
                line.children = tuple(c for c in line.children if c is not self.seed_switch)
        return [self.seed_state, self.seed_switch]

    def seed_text(self) -> str:
        """The seed state in words: ``"seed 1234, locked"`` or ``"random seed"``."""
        if not self.seed_locked:
            return "random seed"
        try:
            return f"seed {self.seed_value}, locked"
        except ValueError as error:
            return error_text(error)

    def _set_seed(self, seed: int) -> None:
        """Show a drawn seed without locking it (typing one locks, see ``_on_seed_typed``)."""
        self._drawing = True
        try:
            self.seed.value = str(seed)
        finally:
            self._drawing = False

    def _on_seed_typed(self, change: dict[str, Any]) -> None:
        # A seed a person typed is a seed they want: lock it, so Generate never replaces it.
        # An emptied box means "no seed of mine": a random one each time.
        if not self._drawing:
            self.seed_locked = bool(change["new"].strip())
        self._show_seed_state()

    def _switch_lock(self) -> None:
        self.seed_locked = not self.seed_locked

    def _show_seed_state(self) -> None:
        locked = self.seed_locked
        try:
            seed: int | None = self.seed_value
            error = ""
        except ValueError as refused:
            seed, error = None, error_text(refused)
        # A refused seed is said at once, by the box, not first at Generate.
        self.seed.description = FIELDS["seed"].label + (" ⚠" if error and locked else "")
        with self.seed_state.hold_sync(), self.seed_switch.hold_sync():
            if locked and error:
                self.seed_state.value = (
                    f"<span class='flux-seed-error' style='color: var(--jp-error-color1, #d32f2f)'>"
                    f"{html.escape(error)}</span>"
                )
            elif locked:
                self.seed_state.value = (
                    f"<span class='flux-seed-locked'>seed <b>{seed}</b>, locked</span>"
                )
            else:
                self.seed_state.value = "<span>random seed</span>"
            self.seed_switch.description = "unlock" if locked else "lock"
            self.seed_switch.icon = "unlock" if locked else "lock"
        set_tooltip(
            self.seed_switch,
            "use a fresh random seed for each generation"
            if locked
            else f"keep seed {self.seed.value.strip()} (the last one used) from now on",
        )

    def _on_format(self, change: dict[str, Any]) -> None:
        # docs/protocol.md: output_quality is ignored for png; a live slider would mislead.
        self.output_quality.disabled = change["new"] == "png"

    def _on_megapixels(self, change: dict[str, Any]) -> None:
        ratio = self.aspect_ratio.value
        with self.aspect_ratio.hold_sync():
            self.aspect_ratio.options = aspect_ratio_options(change["new"])
            self.aspect_ratio.value = ratio

    @contextlib.contextmanager
    def _hold_all(self) -> Iterator[None]:
        # One batched message per widget instead of one per trait change.
        with contextlib.ExitStack() as stack:
            for widget in self.field_widgets.values():
                stack.enter_context(widget.hold_sync())
            yield
