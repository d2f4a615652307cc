"""The flux-schnell input schema as one table: every field declared once, with what consumes it.

Each ``Field`` holds its allowed values (choices or a whole-number range), its default, the label
the studio shows and where, how the viewer names it and reads a switch, the ``%%flux`` option
that sets it, and the key A1111-style generation text gives it. ``FluxParams`` validates with
``Field.problem``; the studio's controls (``widgets/controls.py``), the viewer's recipe table
(``widgets/viewer.py``), the magic's options (``magics.py``), the recipe text
(``recipes/embedding.py``) and the mock's validation are built from ``SCHEMA``, so a field added
here reaches all of them; a provider sends it once its ``FieldMap`` maps it (``providers/``).

Source: the model's input schema on Replicate (docs/protocol.md, "Input fields").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ASPECT_RATIOS: tuple[str, ...] = (
    "1:1",
    "16:9",
    "21:9",
    "3:2",
    "2:3",
    "4:5",
    "5:4",
    "3:4",
    "4:3",
    "9:16",
    "9:21",
)
OUTPUT_FORMATS: tuple[str, ...] = ("webp", "jpg", "png")
MEGAPIXELS: tuple[str, ...] = ("1", "0.25")
NUM_OUTPUTS_RANGE = (1, 4)
NUM_INFERENCE_STEPS_RANGE = (1, 4)
OUTPUT_QUALITY_RANGE = (0, 100)
# The API takes any int; Replicate's models pass it to torch, which needs it to fit 64 bits.
SEED_RANGE = (-(2**63), 2**63 - 1)
# Seeds drawn at random (the studio, the grid, the mock): ones a person can read, type and
# share; and a browser's JSON numbers are exact only up to 2**53, so far below that.
RANDOM_SEED_RANGE = (0, 2**32 - 1)

FieldKind = Literal["text", "choice", "int", "seed", "bool"]
ControlGroup = Literal["main", "advanced"]


@dataclass(frozen=True)
class Field:
    """One input field of flux-schnell.

    ``kind`` says how it is validated and shown: ``text`` (the prompt), ``choice`` (a string out
    of ``choices``), ``int`` (a whole number within ``bounds``), ``seed`` (``None`` or a whole
    number within ``bounds``), ``bool``. ``cli_flags`` are the ``%%flux`` options (for a bool:
    the flag that flips its default), ``cli_metavar`` what ``--help`` shows for the value;
    ``a1111_key`` names it in A1111-style generation text (``None``: the prompt, written on its
    own line).

    Placement: ``group`` is where the studio's control sits (``main``: the row under the prompt;
    ``advanced``: the collapsed section); fields with the same ``row`` share one line there;
    ``note`` is a short HTML remark shown beside the control; ``option_label`` formats a choice's
    dropdown label (``"{} MP"``). The viewer's recipe table names the field ``short_label``
    (empty: the name with spaces) unless ``in_viewer`` is False, and shows a switch as
    ``reads[0]`` when True and ``reads[1]`` when False.
    """

    name: str
    kind: FieldKind
    default: Any
    label: str
    help: str
    choices: tuple[str, ...] = ()
    bounds: tuple[int, int] | None = None
    cli_flags: tuple[str, ...] = ()
    a1111_key: str | None = None
    cli_metavar: str | None = None
    group: ControlGroup = "advanced"
    row: str = ""
    note: str = ""
    option_label: str = "{}"
    short_label: str = ""
    in_viewer: bool = True
    reads: tuple[str, str] = ("on", "off")

    @property
    def viewer_label(self) -> str:
        """What the viewer's recipe table calls the field."""
        return self.short_label or self.name.replace("_", " ")

    def problem(self, value: object) -> str | None:
        """A sentence saying why ``value`` is not allowed for this field, or None if it is."""
        if self.kind == "text":
            if not isinstance(value, str):
                return f"{self.name} must be a string, got {type_name(value)}"
            if not value.strip():
                return f"{self.name} must not be empty: describe the image you want"
            return None
        if self.kind == "choice":
            if value in self.choices:
                return None
            if isinstance(value, str):
                return choice_message(self.name, value, self.choices)
            return (
                f"{self.name} must be a string, one of {quoted(self.choices)}; "
                f"got {type_name(value)}"
            )
        if self.kind == "bool":
            if isinstance(value, bool):
                return None
            return f"{self.name} must be True or False, got {type_name(value)}"
        if self.kind == "seed" and value is None:
            return None
        assert self.bounds is not None
        return range_problem(self.name, value, *self.bounds)


def range_problem(name: str, value: object, low: int, high: int) -> str | None:
    """Why ``value`` is not a whole number from ``low`` to ``high``, or None."""
    # bool is an int subclass; True as a count is a bug in the caller, not a 1.
    if not isinstance(value, int) or isinstance(value, bool):
        return f"{name} must be a whole number from {low} to {high}, got {type_name(value)}"
    if not low <= value <= high:
        return f"{name} must be from {low} to {high}, got {value}"
    return None


def choice_message(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``name must be one of 'a', 'b', got 'c'``."""
    return f"{name} must be one of {quoted(choices)}, got {value!r}"


def quoted(choices: tuple[str, ...]) -> str:
    """``'a', 'b', 'c'``."""
    return ", ".join(repr(c) for c in choices)


def type_name(value: object) -> str:
    """The type and value of ``value`` for a message, ``None`` for None."""
    return f"{type(value).__name__} {value!r}" if value is not None else "None"


SCHEMA: tuple[Field, ...] = (
    Field(
        "prompt",
        "text",
        None,
        label="Prompt",
        help="what the image shows (required)",
        group="main",
    ),
    Field(
        "aspect_ratio",
        "choice",
        "1:1",
        label="Aspect ratio",
        help="width:height of the image",
        choices=ASPECT_RATIOS,
        cli_flags=("--aspect-ratio", "--ar"),
        a1111_key="Aspect ratio",
        cli_metavar="W:H",
        group="main",
        row="main",
    ),
    Field(
        "num_outputs",
        "int",
        1,
        label="Images",
        help="how many images one generation makes",
        bounds=NUM_OUTPUTS_RANGE,
        cli_flags=("-n", "--num-outputs"),
        a1111_key="Num outputs",
        group="main",
        row="main",
        in_viewer=False,  # a count of one generation, not a property of its image
    ),
    Field(
        "num_inference_steps",
        "int",
        4,
        label="Steps",
        help="denoising steps: 4 is recommended, fewer is faster and rougher",
        bounds=NUM_INFERENCE_STEPS_RANGE,
        cli_flags=("--steps",),
        a1111_key="Steps",
        short_label="steps",
    ),
    Field(
        "seed",
        "seed",
        None,
        label="Seed",
        help="the same seed and parameters give the same image (default: random)",
        bounds=SEED_RANGE,
        cli_flags=("--seed",),
        a1111_key="Seed",
    ),
    Field(
        "output_format",
        "choice",
        "webp",
        label="Format",
        help="file format of the images",
        choices=OUTPUT_FORMATS,
        cli_flags=("--format",),
        a1111_key="Output format",
        row="file",
        short_label="format",
    ),
    Field(
        "output_quality",
        "int",
        80,
        label="Quality",
        help="0-100 for webp and jpg (ignored for png)",
        bounds=OUTPUT_QUALITY_RANGE,
        cli_flags=("--quality",),
        a1111_key="Output quality",
        row="file",
        short_label="quality",
    ),
    Field(
        "disable_safety_checker",
        "bool",
        False,
        label="disable safety checker",
        help="skip the provider's NSFW filter",
        cli_flags=("--disable-safety-checker",),
        a1111_key="Disable safety checker",
        # The field is a negative; the viewer says whether the checker ran.
        short_label="safety checker",
        reads=("off", "on"),
    ),
    Field(
        "go_fast",
        "bool",
        True,
        label="go fast (fp8)",
        help="fp8: faster, but not deterministic even with a seed; off runs exact bf16",
        cli_flags=("--no-go-fast",),
        a1111_key="Go fast",
        note="<small>go fast is <b>not deterministic</b>, even with a seed</small>",
    ),
    Field(
        "megapixels",
        "choice",
        "1",
        label="Megapixels",
        help="about how many million pixels each image has",
        choices=MEGAPIXELS,
        cli_flags=("--megapixels",),
        a1111_key="Megapixels",
        option_label="{} MP",
    ),
)

FIELDS: Mapping[str, Field] = {f.name: f for f in SCHEMA}
"""The schema by field name."""


# The order people meet the fields in, where it differs from the table's: the studio's
# controls, the viewer's recipe table, and the A1111 text after A1111's own leading keys (an
# order other tools have already read). A field left out of a list comes after the listed ones,
# in the table's order, so a new field needs no entry here.
CONTROL_ORDER: tuple[str, ...] = (
    "prompt",
    "aspect_ratio",
    "num_outputs",
    "num_inference_steps",
    "seed",
    "output_format",
    "output_quality",
    "megapixels",
    "go_fast",
    "disable_safety_checker",
)
VIEWER_ORDER: tuple[str, ...] = (
    "prompt",
    "seed",
    "num_inference_steps",
    "go_fast",
    "aspect_ratio",
    "megapixels",
    "output_format",
    "output_quality",
    "disable_safety_checker",
)
A1111_ORDER: tuple[str, ...] = (
    "aspect_ratio",
    "megapixels",
    "num_outputs",
    "output_format",
    "output_quality",
    "go_fast",
    "disable_safety_checker",
)


def in_order(order: tuple[str, ...]) -> tuple[Field, ...]:
    """Every field: those named in ``order`` first, in that order, then the rest in the table's."""
    named = [FIELDS[name] for name in order]
    return (*named, *(f for f in SCHEMA if f.name not in order))


def defaults() -> dict[str, Any]:
    """Every field's default (the prompt's is None: it is required)."""
    return {f.name: f.default for f in SCHEMA}
