"""The recipe of an image (its parameters, with the seed actually used) inside the image file.

A saved image should say how to make it again, readable by the tools people already have:
the generation text AUTOMATIC1111 writes (PNG ``parameters`` chunk, EXIF UserComment) for image
browsers and "PNG info" tabs, plus exact JSON (PNG ``flux-widgets`` chunk, XMP) that
``read_recipe`` prefers. Metadata goes in at the byte level (see ``metadata.py``), so a lossy
JPEG or WebP is never encoded a second time just to carry a caption.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import RecipeNotEmbeddedError
from .images import PIL_FORMATS, GeneratedImage
from .metadata import (
    MAX_JPEG_SEGMENT,
    XMP_APP1_PREFIX,
    MetadataError,
    exif_with_comment,
    jpeg_with_app1,
    png_with_text,
    read_text_metadata,
    webp_with_chunks,
    xmp_packet,
)
from .params import ASPECT_RATIOS, FIELD_NAMES, MEGAPIXELS, FluxParams, pixel_size
from .schema import FIELDS, SCHEMA
from .templates import PromptOrigin

logger = logging.getLogger("flux_widgets")

MODEL = "black-forest-labs/flux-schnell"
A1111_KEY = "parameters"
"""PNG text key of the A1111-style generation text."""
RECIPE_KEY = "flux-widgets"
"""PNG text key of the JSON recipe."""
_RECIPE_KIND = "flux-widgets/recipe"
_XMP_NAMESPACE = "https://github.com/flux-widgets/flux-widgets/ns/recipe/1.0/"
_XMP_PREFIX = "fluxw"
_XMP_RECIPE = re.compile(rf"<{_XMP_PREFIX}:recipe>(.*?)</{_XMP_PREFIX}:recipe>", re.DOTALL)
# A1111's own pattern for "Key: value, Key: "quoted, value", ..." (modules/infotext_utils.py).
_A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")
_SUFFIX_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}
# Converting a lossy image to another lossy format loses quality twice: never go below this.
_MIN_CONVERT_QUALITY = 90

RecipeSource = GeneratedImage | FluxParams
# Where each schema field goes in the A1111 text, after A1111's own leading keys (Steps,
# Sampler, Seed, Size, Model): the layout other tools have already read. The keys themselves
# come from the schema table; tests check every field with a key is placed here.
A1111_LAYOUT: tuple[str, ...] = (
    "aspect_ratio",
    "megapixels",
    "num_outputs",
    "output_format",
    "output_quality",
    "go_fast",
    "disable_safety_checker",
)


def _recipe_of(source: RecipeSource) -> FluxParams:
    return source.recipe if isinstance(source, GeneratedImage) else source


# -- writing -------------------------------------------------------------------------------


def a1111_parameters(source: RecipeSource) -> str:
    """The recipe as AUTOMATIC1111 writes generation parameters: prompt, then one
    ``Key: value, ...`` line (values with ``,`` ``:`` or newlines JSON-quoted, as A1111 does)."""
    recipe = _recipe_of(source)
    if isinstance(source, GeneratedImage):
        width, height = source.width, source.height
    else:
        width, height = recipe.pixel_size()
    fields: list[tuple[str, object]] = [
        ("Steps", recipe.num_inference_steps),
        ("Sampler", "flux-schnell"),
    ]
    if recipe.seed is not None:
        fields.append(("Seed", recipe.seed))
    fields += [("Size", f"{width}x{height}"), ("Model", MODEL)]
    # The other fields under their schema keys (schema.py).
    fields += [(str(FIELDS[name].a1111_key), getattr(recipe, name)) for name in A1111_LAYOUT]
    if isinstance(source, GeneratedImage):
        if source.prediction_id:
            fields.append(("Prediction ID", source.prediction_id))
        fields.append(("Output index", source.index))
        if source.origin is not None:
            # As the dynamic-prompts extension writes it: the template before expansion.
            fields.append(("Template", source.origin.template))
            if source.origin.style is not None:
                fields.append(("Style", source.origin.style))
    line = ", ".join(f"{key}: {_a1111_quote(str(value))}" for key, value in fields)
    return f"{recipe.prompt}\n{line}"


def _a1111_quote(text: str) -> str:
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def recipe_json(source: RecipeSource) -> str:
    """The exact recipe as JSON: every FluxParams field, plus where the image came from."""
    recipe = _recipe_of(source)
    record: dict[str, Any] = {
        "kind": _RECIPE_KIND,
        "version": 1,
        "model": MODEL,
        "params": dataclasses.asdict(recipe),
    }
    if isinstance(source, GeneratedImage):
        record.update(
            requested_seed=source.params.seed,
            prediction_id=source.prediction_id,
            index=source.index,
            created_at=source.created_at.isoformat(),
        )
        if source.origin is not None:
            record["origin"] = source.origin.to_json()
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def embed_recipe(data: bytes, fmt: str, source: RecipeSource) -> bytes:
    """``data`` (an encoded ``fmt`` image) with the recipe embedded, pixels untouched.

    Files the byte-level writer cannot handle are re-encoded by Pillow (PNG losslessly). A
    JPEG holds each copy in one ``APP1`` segment of at most 64 KiB: a copy too large for it
    is left out (the A1111 text first, in UTF-16 then ASCII, then the JSON) and the other
    kept, which ``read_recipe`` reads just as well. Raises ``RecipeNotEmbeddedError`` when no
    copy can go into the file: the caller decides (``save`` tells the user; the history keeps
    the image and the recipe in its record), a recipe is never dropped silently.
    """
    text, recipe = a1111_parameters(source), recipe_json(source)
    xmp = xmp_packet(_XMP_NAMESPACE, _XMP_PREFIX, {"recipe": recipe})
    if fmt == "jpg":
        exif: bytes | None = _jpeg_exif(text)
        if len(XMP_APP1_PREFIX) + len(xmp) > MAX_JPEG_SEGMENT:
            xmp_kept: bytes | None = None
        else:
            xmp_kept = xmp
        if exif is None and xmp_kept is None:
            raise RecipeNotEmbeddedError(
                f"the recipe ({len(recipe.encode())} bytes of JSON) is too large for a JPEG, "
                f"whose metadata segments hold {MAX_JPEG_SEGMENT // 1024} KiB each: save the "
                "image as .png or .webp to keep it"
            )
        if exif is None or xmp_kept is None:
            logger.info("JPEG recipe: only the %s copy fits", "JSON" if exif is None else "A1111")
    else:
        exif, xmp_kept = exif_with_comment(text), xmp
    try:
        if fmt == "png":
            return png_with_text(data, {A1111_KEY: text, RECIPE_KEY: recipe})
        if fmt == "jpg":
            return jpeg_with_app1(data, exif=exif, xmp=xmp_kept)
        if fmt == "webp":
            return webp_with_chunks(data, exif=exif, xmp=xmp_kept)
        raise ValueError(f"format must be one of 'webp', 'jpg', 'png', got {fmt!r}")
    except MetadataError as error:
        logger.info("re-encoding to embed the recipe (%s)", error)
    try:
        quality = _recipe_of(source).output_quality
        return _encode(data, fmt, quality, text, recipe, exif, xmp_kept)
    except (OSError, ValueError) as error:
        raise RecipeNotEmbeddedError(
            f"the recipe could not be written into this {fmt} file ({error})"
        ) from None


def _jpeg_exif(text: str) -> bytes | None:
    """The largest EXIF copy of the A1111 text that fits one JPEG segment, if any does."""
    variants = [("unicode", True), ("unicode", False)]
    if text.isascii():  # piexif reads ASCII too, at half the size of UTF-16
        variants.append(("ascii", False))
    for encoding, description in variants:
        exif = exif_with_comment(text, encoding=encoding, description=description)
        if len(exif) <= MAX_JPEG_SEGMENT:
            return exif
    return None


def _encode(
    data: bytes,
    fmt: str,
    quality: int,
    text: str,
    recipe: str,
    exif: bytes | None,
    xmp: bytes | None,
) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    out = io.BytesIO()
    extra: dict[str, bytes] = {}
    if exif is not None:
        extra["exif"] = exif
    if xmp is not None:
        extra["xmp"] = xmp
    with Image.open(io.BytesIO(data)) as image:
        lossless = image.format == "WEBP" and image.info.get("lossless", False)
        if fmt == "png":
            info = PngInfo()
            info.add_text(A1111_KEY, text)
            info.add_text(RECIPE_KEY, recipe)
            image.save(out, "PNG", pnginfo=info)
        elif fmt == "jpg":
            image.convert("RGB").save(out, "JPEG", quality=quality, **extra)
        else:
            image.save(out, "WEBP", quality=quality, lossless=lossless, **extra)
    return out.getvalue()


def image_file_bytes(image: GeneratedImage, suffix: str = "") -> bytes:
    """What ``GeneratedImage.save`` writes: the image, converted only if ``suffix`` names
    another format (PNG losslessly, lossy formats at quality >= 90), with its recipe."""
    fmt = _SUFFIX_FORMATS.get(suffix.lower(), image.format)
    data = image.data
    if fmt != image.format:
        quality = max(image.params.output_quality, _MIN_CONVERT_QUALITY)
        out = io.BytesIO()
        with Image.open(io.BytesIO(data)) as decoded:
            rgb = decoded if fmt == "png" else decoded.convert("RGB")
            rgb.save(out, PIL_FORMATS[fmt], quality=quality)
        data = out.getvalue()
    return embed_recipe(data, fmt, image)


def file_name(image: GeneratedImage) -> str:
    """The name ``save`` buttons and ``%%flux --save`` give the file: it says what the file
    is and does not collide within one prediction."""
    stamp = image.created_at.strftime("%Y%m%d-%H%M%S")
    return f"flux-{stamp}-seed{image.seed}-{image.index}.{image.format}"


# -- reading -------------------------------------------------------------------------------


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
        if isinstance(record, dict) and record.get("kind") == _RECIPE_KIND:
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
    if not isinstance(record, dict) or record.get("kind") != _RECIPE_KIND:
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


# -- code ----------------------------------------------------------------------------------


def code_snippet(source: RecipeSource) -> str:
    """Python that makes the image again: a notebook cell (top-level ``await``) naming only
    the parameters that differ from the defaults."""
    recipe = _recipe_of(source)
    defaults = FluxParams(prompt=recipe.prompt)
    arguments = [f"        {recipe.prompt!r},"]
    for name in FIELD_NAMES:
        value = getattr(recipe, name)
        if name != "prompt" and value != getattr(defaults, name):
            arguments.append(f"        {name}={value!r},")
    index = source.index if isinstance(source, GeneratedImage) else 0
    lines = ["from flux_widgets import FluxClient", ""]
    if recipe.go_fast:
        lines.append(
            "# go_fast (the default) runs in fp8: the same seed gives a close, not identical, image"
        )
    lines += [
        "async with FluxClient() as client:",
        "    images = await client.generate(",
        *arguments,
        "    )",
        f"image = images[{index}]",
        "image",
    ]
    return "\n".join(lines) + "\n"
