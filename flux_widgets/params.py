"""FluxParams, the validated inputs of one generation, and the pixel size of each image.

Bad input stops here, before any request, with a ``ValueError`` that names the field and
what is allowed; the rules are the schema table's (``schema.py``), re-exported here. The mock
validates with the same code, so client and server agree.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .schema import (
    ASPECT_RATIOS,
    FIELDS,
    MEGAPIXELS,
    NUM_INFERENCE_STEPS_RANGE,
    NUM_OUTPUTS_RANGE,
    OUTPUT_FORMATS,
    OUTPUT_QUALITY_RANGE,
    RANDOM_SEED_RANGE,
    SCHEMA,
    SEED_RANGE,
    choice_message,
)

__all__ = [
    "ASPECT_RATIOS",
    "FIELD_NAMES",
    "MEGAPIXELS",
    "NUM_INFERENCE_STEPS_RANGE",
    "NUM_OUTPUTS_RANGE",
    "OUTPUT_FORMATS",
    "OUTPUT_QUALITY_RANGE",
    "RANDOM_SEED_RANGE",
    "SEED_RANGE",
    "FieldError",
    "FluxParams",
    "input_errors",
    "pixel_size",
    "random_seed",
]

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
        raise ValueError(choice_message("aspect_ratio", aspect_ratio, ASPECT_RATIOS))
    if megapixels not in MEGAPIXELS:
        raise ValueError(choice_message("megapixels", megapixels, MEGAPIXELS))
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

    # The fields and their defaults are the schema table's (schema.py); the names are written
    # out here for type checkers, and tests/test_schema.py checks the two agree.
    prompt: str
    aspect_ratio: str = FIELDS["aspect_ratio"].default
    num_outputs: int = FIELDS["num_outputs"].default
    num_inference_steps: int = FIELDS["num_inference_steps"].default
    seed: int | None = FIELDS["seed"].default
    output_format: str = FIELDS["output_format"].default
    output_quality: int = FIELDS["output_quality"].default
    disable_safety_checker: bool = FIELDS["disable_safety_checker"].default
    go_fast: bool = FIELDS["go_fast"].default
    megapixels: str = FIELDS["megapixels"].default

    def __post_init__(self) -> None:
        if isinstance(self.prompt, str):
            try:  # a lone surrogate cannot be sent as JSON UTF-8: refuse it before any request
                self.prompt.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"prompt holds an invalid character at position {exc.start} "
                    "(a lone surrogate); it cannot be sent as UTF-8"
                ) from None
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
    for field in SCHEMA:
        if field.name in data or field.kind == "text":
            message = field.problem(data.get(field.name))
            if message is not None:
                errors.append(FieldError(field.name, message))
    return errors


@dataclass(frozen=True)
class PromptOrigin:
    """Where an image's prompt came from, kept in its recipe next to the resolved prompt.

    ``template`` is the prompt as the user typed it (variants and wildcards unexpanded, before
    any style); ``style`` and ``style_template`` name the style that wrapped it, if any. *Reuse*
    puts ``template`` and ``style`` back into the studio.
    """

    template: str
    style: str | None = None
    style_template: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"template": self.template}
        if self.style is not None:
            data["style"] = self.style
            data["style_template"] = self.style_template
        return data

    @classmethod
    def from_json(cls, data: Any) -> PromptOrigin | None:
        """The origin in a recipe or history record; None when absent or not one."""
        if not isinstance(data, dict) or not isinstance(data.get("template"), str):
            return None
        style = data.get("style")
        style_template = data.get("style_template")
        return cls(
            template=data["template"],
            style=style if isinstance(style, str) else None,
            style_template=style_template if isinstance(style_template, str) else None,
        )


def to_params(
    prompt: str | FluxParams | None,
    params: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
) -> FluxParams:
    """A ``FluxParams`` from a prompt plus keywords, or from a ``FluxParams`` plus overrides.

    ``defaults`` (a provider's own, e.g. fal's jpg) fill the fields the keywords leave out; a
    ``FluxParams`` is taken as it is, since its every field is already chosen. ``ValueError``
    when no prompt is given, or for an invalid field.
    """
    if isinstance(prompt, FluxParams):
        return prompt.replace(**params) if params else prompt
    values = {**(defaults or {}), **params}
    if prompt is not None:
        return FluxParams(prompt=prompt, **values)
    if "prompt" not in values:
        raise ValueError("prompt is required: describe the image you want")
    return FluxParams(**values)
