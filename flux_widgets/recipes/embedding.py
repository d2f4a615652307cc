"""The recipe of an image (its parameters, with the seed actually used) inside the image file.

A saved image should say how to make it again, readable by the tools people already have:
the generation text AUTOMATIC1111 writes (PNG ``parameters`` chunk, EXIF UserComment) for image
browsers and "PNG info" tabs, plus exact JSON (PNG ``flux-widgets`` chunk, XMP) that
``read_recipe`` prefers. Metadata goes in at the byte level (see ``metadata.py``), so a lossy
JPEG or WebP is never encoded a second time just to carry a caption.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from datetime import datetime
from typing import Any, Protocol

from PIL import Image

from ..errors import RecipeNotEmbeddedError
from ..params import FluxParams, PromptOrigin
from ..schema import A1111_ORDER, FIELDS, in_order
from .metadata import (
    MAX_JPEG_SEGMENT,
    XMP_APP1_PREFIX,
    MetadataError,
    exif_with_comment,
    jpeg_with_app1,
    png_with_text,
    webp_with_chunks,
    xmp_packet,
)

logger = logging.getLogger("flux_widgets")

MODEL = "black-forest-labs/flux-schnell"
A1111_KEY = "parameters"
"""PNG text key of the A1111-style generation text."""
RECIPE_KEY = "flux-widgets"
"""PNG text key of the JSON recipe."""
RECIPE_KIND = "flux-widgets/recipe"
XMP_NAMESPACE = "https://github.com/flux-widgets/flux-widgets/ns/recipe/1.0/"
XMP_PREFIX = "fluxw"

# A1111's own leading keys carry these fields (Steps, then Seed after Sampler).
A1111_LEADING: tuple[str, ...] = ("num_inference_steps", "seed")
# Where every other field with an A1111 key goes, after A1111's own leading keys (Steps,
# Sampler, Seed, Size, Model): the schema table's order for this text (schema.A1111_ORDER, the
# layout other tools have already read), keys from the table.
A1111_LAYOUT: tuple[str, ...] = tuple(
    f.name for f in in_order(A1111_ORDER) if f.a1111_key and f.name not in A1111_LEADING
)


class MadeImage(Protocol):
    """What a recipe records of an image besides its parameters: a ``GeneratedImage``
    (images.py) satisfies it. A protocol, so recipes never import the images module."""

    @property
    def params(self) -> FluxParams: ...  # as requested (seed may be None)
    @property
    def recipe(self) -> FluxParams: ...  # with the seed actually used
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def prediction_id(self) -> str | None: ...
    @property
    def index(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def origin(self) -> PromptOrigin | None: ...


RecipeSource = MadeImage | FluxParams
"""A recipe's source: an image (its parameters plus provenance) or bare parameters."""


def recipe_of(source: RecipeSource) -> FluxParams:
    """The parameters that make ``source`` again (an image's carry the seed it used)."""
    return source if isinstance(source, FluxParams) else source.recipe


def made_image(source: RecipeSource) -> MadeImage | None:
    """The image ``source`` is, or None for bare parameters."""
    return None if isinstance(source, FluxParams) else source


# -- writing -------------------------------------------------------------------------------


def a1111_parameters(source: RecipeSource) -> str:
    """The recipe as AUTOMATIC1111 writes generation parameters: prompt, then one
    ``Key: value, ...`` line (values with ``,`` ``:`` or newlines JSON-quoted, as A1111 does)."""
    recipe = recipe_of(source)
    image = made_image(source)
    width, height = (image.width, image.height) if image is not None else recipe.pixel_size()
    steps, seed = (FIELDS[name] for name in A1111_LEADING)
    fields: list[tuple[str, object]] = [
        (str(steps.a1111_key), recipe.num_inference_steps),
        ("Sampler", "flux-schnell"),
    ]
    if recipe.seed is not None:
        fields.append((str(seed.a1111_key), recipe.seed))
    fields += [("Size", f"{width}x{height}"), ("Model", MODEL)]
    # The other fields under their schema keys (schema.py).
    fields += [(str(FIELDS[name].a1111_key), getattr(recipe, name)) for name in A1111_LAYOUT]
    if image is not None:
        if image.prediction_id:
            fields.append(("Prediction ID", image.prediction_id))
        fields.append(("Output index", image.index))
        if image.origin is not None:
            # As the dynamic-prompts extension writes it: the template before expansion.
            fields.append(("Template", image.origin.template))
            if image.origin.style is not None:
                fields.append(("Style", image.origin.style))
    line = ", ".join(f"{key}: {_a1111_quote(str(value))}" for key, value in fields)
    return f"{recipe.prompt}\n{line}"


def _a1111_quote(text: str) -> str:
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def recipe_json(source: RecipeSource) -> str:
    """The exact recipe as JSON: every FluxParams field, plus where the image came from."""
    recipe = recipe_of(source)
    record: dict[str, Any] = {
        "kind": RECIPE_KIND,
        "version": 1,
        "model": MODEL,
        "params": dataclasses.asdict(recipe),
    }
    image = made_image(source)
    if image is not None:
        record.update(
            requested_seed=image.params.seed,
            prediction_id=image.prediction_id,
            index=image.index,
            created_at=image.created_at.isoformat(),
        )
        if image.origin is not None:
            record["origin"] = image.origin.to_json()
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
    xmp = xmp_packet(XMP_NAMESPACE, XMP_PREFIX, {"recipe": recipe})
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
        quality = recipe_of(source).output_quality
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
