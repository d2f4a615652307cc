"""Recipes embedded in saved images: written without re-encoding, read back exactly."""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from flux_widgets.images import GeneratedImage
from flux_widgets.params import FIELD_NAMES, FluxParams
from flux_widgets.recipes import (
    a1111_parameters,
    code_snippet,
    embed_recipe,
    parse_a1111_parameters,
    read_recipe,
)
from flux_widgets.recipes.metadata import read_text_metadata

_PIL = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
# A1111's pattern for its "Key: value" line (modules/infotext_utils.py).
_A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
TRICKY_PROMPT = "a \"paper\" boat, at sunrise: calm\nwater — ünïcode ✓ \\ 'quotes'"


def encoded(
    fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **options: object
) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert(mode)
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize(size))
    out = io.BytesIO()
    image.save(out, _PIL[fmt], **options)
    return out.getvalue()


def make_image(fmt: str, prompt: str = "a paper boat", **params: object) -> GeneratedImage:
    flux = FluxParams(prompt=prompt, output_format=fmt, **params)  # type: ignore[arg-type]
    return GeneratedImage.from_bytes(encoded(fmt), flux, seed=42, prediction_id="p1", index=0)


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGBA").tobytes()


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_saved_image_reads_back_to_the_same_params_with_the_seed_used(
    tmp_path: Path, fmt: str
) -> None:
    image = make_image(fmt, TRICKY_PROMPT, aspect_ratio="16:9", num_inference_steps=2)
    path = image.save(tmp_path / "out")

    assert path.suffix == f".{fmt}"
    recipe = read_recipe(path)
    assert recipe == image.recipe
    assert recipe.seed == 42 and image.params.seed is None


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_saving_keeps_size_and_pixels_untouched(tmp_path: Path, fmt: str) -> None:
    image = make_image(fmt)
    path = image.save(tmp_path / f"out.{fmt}")

    with Image.open(path) as reopened:
        assert reopened.size == (image.width, image.height)
        assert reopened.format == _PIL[fmt]
    # Byte-level embedding: decoding gives exactly the downloaded pixels (no second lossy pass).
    assert pixels(path.read_bytes()) == pixels(image.data)


def test_png_parameters_chunk_is_shaped_like_automatic1111(tmp_path: Path) -> None:
    image = make_image("png", "a lighthouse, stormy night", num_inference_steps=3)
    path = image.save(tmp_path / "a.png")

    with Image.open(path) as reopened:
        text = reopened.info["parameters"]
        assert json.loads(reopened.info["flux-widgets"])["params"]["seed"] == 42
    prompt, last = text.rsplit("\n", 1)
    assert prompt == "a lighthouse, stormy night"
    assert last.startswith(
        "Steps: 3, Sampler: flux-schnell, Seed: 42, Size: 64x48, "
        "Model: black-forest-labs/flux-schnell, "
    )
    fields = dict(_A1111_PARAM.findall(last))
    assert fields["Aspect ratio"] == '"1:1"'  # a value with ":" is JSON-quoted, as A1111 does


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_exif_user_comment_holds_the_a1111_text(tmp_path: Path, fmt: str) -> None:
    image = make_image(fmt, "ünïcode boat")
    path = image.save(tmp_path / "a")

    meta = read_text_metadata(path.read_bytes())
    assert meta.exif_comment == a1111_parameters(image)
    assert meta.xmp is not None and "fluxw:recipe" in meta.xmp


@pytest.mark.parametrize(
    ("fmt", "options", "mode"),
    [
        ("webp", {"lossless": True}, "RGB"),
        ("webp", {"lossless": True}, "RGBA"),
        ("webp", {"quality": 80}, "RGBA"),  # VP8X + ALPH already
        ("png", {}, "RGBA"),
    ],
)
def test_other_container_layouts_embed_without_reencoding(
    fmt: str, options: dict[str, object], mode: str
) -> None:
    data = encoded(fmt, mode=mode, **options)
    params = FluxParams(prompt="x", output_format=fmt, seed=5)
    out = embed_recipe(data, fmt, params)

    assert read_recipe(out) == params
    assert pixels(out) == pixels(data)


def test_saving_twice_replaces_the_recipe_instead_of_adding_another(tmp_path: Path) -> None:
    for fmt in ("png", "jpg", "webp"):
        first = make_image(fmt).save(tmp_path / f"first.{fmt}")
        again = GeneratedImage.from_bytes(
            first.read_bytes(), FluxParams(prompt="second", output_format=fmt, seed=7)
        )
        second = again.save(tmp_path / f"second.{fmt}")
        assert read_recipe(second).prompt == "second"
        assert second.read_bytes().count(b"fluxw:recipe>") in (0, 2)  # one open + one close tag
        assert second.read_bytes().count(b"Sampler: flux-schnell") == 1  # not duplicated


def test_a_different_suffix_converts_and_still_embeds(tmp_path: Path) -> None:
    image = make_image("webp", seed=3)
    path = image.save(tmp_path / "converted.png")

    with Image.open(path) as reopened:
        assert reopened.format == "PNG" and reopened.size == (64, 48)
    assert read_recipe(path) == image.recipe


def test_a1111_text_from_another_tool_is_read_when_no_json(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text(
        "parameters",
        "a red fox\nNegative prompt: blurry\n"
        "Steps: 3, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 1344x768, Model: x",
    )
    path = tmp_path / "a1111.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)

    recipe = read_recipe(path)
    assert recipe == FluxParams(
        prompt="a red fox", num_inference_steps=3, seed=1234, aspect_ratio="16:9",
        output_format="png",
    )  # fmt: skip


def test_a1111_round_trip_of_our_own_text() -> None:
    image = make_image("jpg", TRICKY_PROMPT, megapixels="0.25", go_fast=False, output_quality=95)
    assert parse_a1111_parameters(a1111_parameters(image)) == image.recipe


def test_an_image_without_a_recipe_says_so() -> None:
    with pytest.raises(ValueError, match="no generation recipe"):
        read_recipe(encoded("png"))


def _generate_call(snippet: str) -> ast.Call:
    tree = ast.parse(snippet)
    return next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "generate"
    )


def test_code_snippet_compiles_and_names_every_non_default_field() -> None:
    image = make_image(
        "png", TRICKY_PROMPT, aspect_ratio="9:16", num_inference_steps=1, megapixels="0.25"
    )
    snippet = code_snippet(image)

    compile(snippet, "<snippet>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    call = _generate_call(snippet)
    assert [ast.literal_eval(a) for a in call.args] == [TRICKY_PROMPT]
    keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    assert keywords == {
        "aspect_ratio": "9:16",
        "num_inference_steps": 1,
        "megapixels": "0.25",
        "output_format": "png",
        "seed": 42,
    }
    assert set(keywords) < set(FIELD_NAMES)


def test_code_snippet_of_default_params_lists_only_the_prompt() -> None:
    snippet = code_snippet(FluxParams(prompt="boat"))
    assert _generate_call(snippet).keywords == []
    assert "go_fast" in snippet  # the comment warning that fp8 is not bit-exact


def test_a1111_text_keeps_a_prompts_own_leading_and_trailing_spaces() -> None:
    # Found by a tester: a 25,000-character prompt saved as .jpg kept only the A1111 copy, and
    # read back one character short (its trailing space trimmed with the line breaks).
    text = "  a boat at dawn \nSteps: 4, Sampler: Euler, Seed: 7, Size: 1024x1024\n"
    assert parse_a1111_parameters(text).prompt == "  a boat at dawn "
