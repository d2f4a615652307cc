"""Reading a recipe back from an image file: ours (exact JSON), or any tool's A1111 text."""

from __future__ import annotations

import html
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from ..params import ASPECT_RATIOS, MEGAPIXELS, FluxParams, PromptOrigin, pixel_size
from ..schema import SCHEMA
from .embedding import A1111_KEY, RECIPE_KEY, RECIPE_KIND, XMP_PREFIX
from .metadata import read_text_metadata

logger = logging.getLogger("flux_widgets")

# A1111's own pattern for "Key: value, Key: "quoted, value", ..." (modules/infotext_utils.py).
_A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")
_XMP_RECIPE = re.compile(rf"<{XMP_PREFIX}:recipe>(.*?)</{XMP_PREFIX}:recipe>", re.DOTALL)


def read_recipe(source: str | os.PathLike[str] | bytes) -> FluxParams:
    """The recipe embedded in an image file (a path, or the file's bytes).

    The JSON is exact; without it (an image from another tool, or stripped of XMP) the
    A1111 text is parsed. Raises ``ValueError`` when the file holds neither.
    """
    meta = _metadata(source)
    for candidate in _json_candidates(meta):
        if candidate:
            try:
                return _params_from_json(candidate)
            except (ValueError, TypeError, KeyError) as error:
                logger.warning("ignoring a damaged flux-widgets recipe: %s", error)
    fallback_format = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}.get(meta.format or "")
    for text in (meta.png_text.get(A1111_KEY), meta.exif_comment):
        if text:
            return parse_a1111_parameters(text, output_format=fallback_format)
    raise ValueError("the image holds no generation recipe (no flux-widgets or A1111 metadata)")


def read_origin(source: str | os.PathLike[str] | bytes) -> PromptOrigin | None:
    """The template and style an image's prompt was made from (its JSON recipe's ``origin``),
    or None when it has none. Raises ``ValueError`` for a file that is not a readable image."""
    for candidate in _json_candidates(_metadata(source)):
        try:
            record = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("kind") == RECIPE_KIND:
            return PromptOrigin.from_json(record.get("origin"))
    return None


def _metadata(source: str | os.PathLike[str] | bytes) -> Any:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        return read_text_metadata(data)
    except (OSError, ValueError, SyntaxError) as error:
        raise ValueError(f"not a readable image file ({error})") from None


def _json_candidates(meta: Any) -> list[str]:
    candidates = [meta.png_text.get(RECIPE_KEY)]
    if meta.xmp is not None:
        match = _XMP_RECIPE.search(meta.xmp)
        candidates.append(html.unescape(match.group(1)) if match else None)
    return [c for c in candidates if c]


def _params_from_json(text: str) -> FluxParams:
    record = json.loads(text)
    if not isinstance(record, dict) or record.get("kind") != RECIPE_KIND:
        raise ValueError("not a flux-widgets recipe")
    return FluxParams.from_input(record["params"])


def parse_a1111_parameters(text: str, *, output_format: str | None = None) -> FluxParams:
    """Parameters from A1111-style generation text (ours, or another tool's: fields this
    model does not have are ignored, missing ones take their defaults)."""
    # Only line breaks are trimmed: a prompt's own leading or trailing spaces are part of it.
    *lines, last = text.strip("\r\n").split("\n")
    if len(_A1111_PARAM.findall(last)) < 3:
        lines.append(last)
        last = ""
    prompt_lines = []
    for line in lines:
        if line.startswith("Negative prompt:"):
            break  # FLUX has no negative prompt; the rest belongs to it
        prompt_lines.append(line)
    fields = {key.strip(): _a1111_unquote(value) for key, value in _A1111_PARAM.findall(last)}

    changes: dict[str, Any] = {"prompt": "\n".join(prompt_lines).strip("\r\n")}
    size = _SIZE.match(fields.get("Size", ""))
    if size:
        changes.update(_shape_for_size(int(size.group(1)), int(size.group(2))))
    for field in SCHEMA:
        key, name = field.a1111_key, field.name
        if key is None:
            continue
        convert = _A1111_READERS[field.kind]
        if key in fields:
            try:
                changes[name] = convert(fields[key])
            except ValueError:
                logger.info("ignoring %s=%r in the A1111 text", key, fields[key])
    if "output_format" not in changes and output_format is not None:
        changes["output_format"] = output_format
    # Another tool's values may be out of range for flux-schnell: keep what validates.
    params = FluxParams(prompt=changes.pop("prompt") or "(no prompt)")
    for name, value in changes.items():
        try:
            params = params.replace(**{name: value})
        except (ValueError, TypeError):
            logger.info("ignoring %s=%r from the A1111 text: not valid for FLUX", name, value)
    return params


def _a1111_unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except ValueError:
            return value
    return value


def _bool_text(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ValueError(text)


# How A1111 text (all strings) becomes each kind of schema field.
_A1111_READERS: dict[str, Any] = {"choice": str, "int": int, "seed": int, "bool": _bool_text}


def _shape_for_size(width: int, height: int) -> dict[str, str]:
    for megapixels in MEGAPIXELS:
        for ratio in ASPECT_RATIOS:
            if pixel_size(ratio, megapixels) == (width, height):
                return {"aspect_ratio": ratio, "megapixels": megapixels}
    return {}
