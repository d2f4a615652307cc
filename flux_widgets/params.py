"""The flux-schnell input schema: FluxParams, its enums and ranges, and pixel sizes.

Bad input stops here, before any request, with a ``ValueError`` that names the field and
what is allowed. The mock validates with the same code, so client and server agree.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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

# Width x height at 1 megapixel, as the flux-schnell model produces them (multiples of 16).
_ONE_MEGAPIXEL_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "3:4": (896, 1152),
    "4:3": (1152, 896),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}


def pixel_size(aspect_ratio: str, megapixels: str = "1") -> tuple[int, int]:
    """Width and height the API returns for an aspect ratio and megapixel setting."""
    if aspect_ratio not in _ONE_MEGAPIXEL_SIZES:
        raise ValueError(_choice_message("aspect_ratio", aspect_ratio, ASPECT_RATIOS))
    if megapixels not in MEGAPIXELS:
        raise ValueError(_choice_message("megapixels", megapixels, MEGAPIXELS))
    width, height = _ONE_MEGAPIXEL_SIZES[aspect_ratio]
    if megapixels == "0.25":
        return width // 2, height // 2
    return width, height


def random_seed() -> int:
    """A fresh seed from ``RANDOM_SEED_RANGE``, the one range every part of the package draws
    from when no seed is given."""
    low, high = RANDOM_SEED_RANGE
    return low + secrets.randbelow(high - low + 1)


@dataclass(frozen=True)
class FieldError:
    """One invalid input field: its name and a sentence saying what is allowed."""

    field: str
    message: str


@dataclass(frozen=True)
class FluxParams:
    """Validated, immutable inputs of one flux-schnell generation.

    Construct it with keywords; a bad value raises ``ValueError`` naming the field.
    ``seed=None`` lets the server pick one (the image records the seed it used).
    """

    prompt: str
    aspect_ratio: str = "1:1"
    num_outputs: int = 1
    num_inference_steps: int = 4
    seed: int | None = None
    output_format: str = "webp"
    output_quality: int = 80
    disable_safety_checker: bool = False
    go_fast: bool = True
    megapixels: str = "1"

    def __post_init__(self) -> None:
        errors = input_errors(dataclasses.asdict(self))
        if errors:
            raise ValueError("; ".join(e.message for e in errors))

    @classmethod
    def from_input(cls, data: Mapping[str, Any]) -> FluxParams:
        """Build from an API ``input`` object (unknown keys are an error, defaults fill gaps)."""
        unknown = sorted(set(data) - set(FIELD_NAMES))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {', '.join(unknown)}; "
                f"flux-schnell takes {', '.join(FIELD_NAMES)}"
            )
        return cls(**dict(data))

    def replace(self, **changes: Any) -> FluxParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_input(self) -> dict[str, Any]:
        """The JSON ``input`` object of a create request; an unset seed is left out."""
        data = dataclasses.asdict(self)
        if data["seed"] is None:
            del data["seed"]
        return data

    def pixel_size(self) -> tuple[int, int]:
        """Width and height of each output image."""
        return pixel_size(self.aspect_ratio, self.megapixels)


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(FluxParams))


def input_errors(data: Mapping[str, Any]) -> list[FieldError]:
    """Every problem in an ``input`` mapping, one per field (empty when it is valid).

    Missing optional fields count as their defaults; the prompt is required.
    """
    errors: list[FieldError] = []

    def add(field: str, message: str) -> None:
        errors.append(FieldError(field, message))

    prompt = data.get("prompt")
    if not isinstance(prompt, str):
        add("prompt", f"prompt must be a string, got {_type_name(prompt)}")
    elif not prompt.strip():
        add("prompt", "prompt must not be empty: describe the image you want")

    for field, choices in (
        ("aspect_ratio", ASPECT_RATIOS),
        ("output_format", OUTPUT_FORMATS),
        ("megapixels", MEGAPIXELS),
    ):
        if field in data and data[field] not in choices:
            value = data[field]
            if isinstance(value, str):
                add(field, _choice_message(field, value, choices))
            else:
                add(
                    field,
                    f"{field} must be a string, one of {_choices(choices)}; "
                    f"got {_type_name(value)}",
                )

    for field, (low, high) in (
        ("num_outputs", NUM_OUTPUTS_RANGE),
        ("num_inference_steps", NUM_INFERENCE_STEPS_RANGE),
        ("output_quality", OUTPUT_QUALITY_RANGE),
    ):
        if field in data:
            _check_int(field, data[field], low, high, add)

    if data.get("seed") is not None:
        _check_int("seed", data["seed"], *SEED_RANGE, add)

    for field in ("disable_safety_checker", "go_fast"):
        if field in data and not isinstance(data[field], bool):
            add(field, f"{field} must be True or False, got {_type_name(data[field])}")
    return errors


def _check_int(field: str, value: object, low: int, high: int, add: Any) -> None:
    # bool is an int subclass; True as a count is a bug in the caller, not a 1.
    if not isinstance(value, int) or isinstance(value, bool):
        add(field, f"{field} must be a whole number from {low} to {high}, got {_type_name(value)}")
    elif not low <= value <= high:
        add(field, f"{field} must be from {low} to {high}, got {value}")


def _choice_message(field: str, value: str, choices: tuple[str, ...]) -> str:
    return f"{field} must be one of {_choices(choices)}, got {value!r}"


def _choices(choices: tuple[str, ...]) -> str:
    return ", ".join(repr(c) for c in choices)


def _type_name(value: object) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "None"
