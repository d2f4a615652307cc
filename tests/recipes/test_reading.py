"""Saved images read by other tools exactly as AUTOMATIC1111 reads them, and recipes too large
for a JPEG segment are kept (the copy that fits) or refused loudly, never dropped quietly."""

from __future__ import annotations

import io
import json
import logging
import struct
import tempfile
from pathlib import Path

import piexif
import piexif.helper
import pytest
from huge_images import SIZE_IDS, SIZES, claiming, small
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from flux_widgets import History, RecipeNotEmbeddedError
from flux_widgets.images import GeneratedImage
from flux_widgets.params import FluxParams
from flux_widgets.recipes import a1111_parameters, read_origin, read_recipe
from flux_widgets.recipes.metadata import MAX_JPEG_SEGMENT, read_text_metadata

_PIL = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
TRICKY_PROMPT = "a \"paper\" boat, at sunrise: calm\nwater — ünïcode ✓ 紙の船 \\ 'quotes'"
_USER_COMMENT = piexif.ExifIFD.UserComment
_TIFF_UNDEFINED = 7


def make_image(fmt: str, prompt: str) -> GeneratedImage:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((64, 48)).convert("RGB").save(out, _PIL[fmt])
    params = FluxParams(prompt=prompt, output_format=fmt, num_inference_steps=2)  # type: ignore[arg-type]
    return GeneratedImage.from_bytes(out.getvalue(), params, seed=42, prediction_id="p1")


def a1111_read_info(path: Path) -> str | None:
    """AUTOMATIC1111's ``read_info_from_image`` (modules/images.py), step for step."""
    with Image.open(path) as image:
        items = dict(image.info or {})
    geninfo = items.pop("parameters", None)
    if "exif" in items:
        exif = piexif.load(items.pop("exif"))
        comment = (exif or {}).get("Exif", {}).get(_USER_COMMENT, b"")
        try:
            comment = piexif.helper.UserComment.load(comment)
        except ValueError:
            comment = comment.decode("utf8", errors="ignore")
        if comment:
            geninfo = comment
    return geninfo


def user_comment_type(tiff: bytes) -> int:
    """The TIFF field type of UserComment in the Exif IFD (what piexif.load does not show)."""
    tiff = tiff.removeprefix(b"Exif\x00\x00")
    order = "<" if tiff[:2] == b"II" else ">"

    def entries(offset: int) -> dict[int, tuple[int, bytes]]:
        (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
        table = {}
        for i in range(count):
            at = offset + 2 + 12 * i
            tag, kind = struct.unpack(order + "HH", tiff[at : at + 4])
            table[tag] = (kind, tiff[at + 8 : at + 12])
        return table

    (ifd0,) = struct.unpack(order + "I", tiff[4:8])
    (exif_ifd,) = struct.unpack(order + "I", entries(ifd0)[piexif.ImageIFD.ExifTag][1])
    return entries(exif_ifd)[_USER_COMMENT][0]


def exif_block(path: Path) -> bytes:
    with Image.open(path) as image:
        exif = image.info["exif"]
    assert isinstance(exif, bytes)
    return exif


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_automatic1111_reads_the_exact_parameters_text(tmp_path: Path, fmt: str) -> None:
    image = make_image(fmt, TRICKY_PROMPT)
    path = image.save(tmp_path / "boat")

    assert a1111_read_info(path) == a1111_parameters(image)
    assert a1111_read_info(path) == (
        f"{TRICKY_PROMPT}\nSteps: 2, Sampler: flux-schnell, Seed: 42, Size: 64x48, "
        'Model: black-forest-labs/flux-schnell, Aspect ratio: "1:1", Megapixels: 1, '
        f"Num outputs: 1, Output format: {fmt}, Output quality: 80, Go fast: True, "
        "Disable safety checker: False, Prediction ID: p1, Output index: 0"
    )


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_user_comment_is_undefined_with_the_unicode_prefix_as_piexif_dumps_it(
    tmp_path: Path, fmt: str
) -> None:
    image = make_image(fmt, TRICKY_PROMPT)
    path = image.save(tmp_path / "boat")
    exif = exif_block(path)

    comment = piexif.load(exif)["Exif"][_USER_COMMENT]
    # piexif gives bytes for UNDEFINED and a tuple of ints for BYTE: the type readers expect.
    assert isinstance(comment, bytes)
    assert user_comment_type(exif) == _TIFF_UNDEFINED
    assert comment == piexif.helper.UserComment.dump(a1111_parameters(image), encoding="unicode")


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_a_file_written_by_automatic1111_reads_back(tmp_path: Path, fmt: str) -> None:
    text = "a red fox, snow\nSteps: 3, Sampler: Euler a, Seed: 77, Size: 1344x768, Model: x"
    exif = piexif.dump(
        {"Exif": {_USER_COMMENT: piexif.helper.UserComment.dump(text, encoding="unicode")}}
    )
    path = tmp_path / f"a1111.{fmt}"
    Image.new("RGB", (8, 8)).save(path, _PIL[fmt], exif=exif)

    assert read_text_metadata(path.read_bytes()).exif_comment == text
    recipe = read_recipe(path)
    assert (recipe.prompt, recipe.seed, recipe.num_inference_steps) == ("a red fox, snow", 77, 3)
    assert recipe.aspect_ratio == "16:9"


# -- recipes too large for one JPEG segment ------------------------------------------------

LONG_PROMPT = "a paper boat on calm water at sunrise, " * 641  # 25,000 characters


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_a_25000_character_prompt_keeps_both_copies(tmp_path: Path, fmt: str) -> None:
    prompt = LONG_PROMPT[:25_000]
    image = make_image(fmt, prompt)
    path = image.save(tmp_path / "long")

    assert read_recipe(path) == image.recipe
    assert a1111_read_info(path) == a1111_parameters(image)
    assert read_text_metadata(path.read_bytes()).xmp is not None or fmt == "png"


def test_an_ascii_text_too_long_for_utf16_is_written_with_the_ascii_prefix(
    tmp_path: Path,
) -> None:
    image = make_image("jpg", (LONG_PROMPT * 2)[:40_000])  # 80 KB as UTF-16, 40 KB as ASCII
    path = image.save(tmp_path / "long")

    comment = piexif.load(exif_block(path))["Exif"][_USER_COMMENT]
    assert comment[:8] == b"ASCII\x00\x00\x00"
    assert a1111_read_info(path) == a1111_parameters(image)
    assert read_recipe(path) == image.recipe


def test_when_only_the_json_copy_fits_it_is_kept(tmp_path: Path) -> None:
    # Not ASCII, and 66 KB as UTF-16: the A1111 copy cannot fit, the JSON (34 KB) does.
    image = make_image("jpg", "a" * 33_000 + " ü")
    path = image.save(tmp_path / "long")

    data = path.read_bytes()
    assert read_recipe(path) == image.recipe
    with Image.open(io.BytesIO(data)) as reopened:
        assert "exif" not in reopened.info  # no stale or truncated A1111 text either
    assert b"fluxw:recipe" in data


def test_when_only_the_a1111_copy_fits_it_is_kept_and_read(tmp_path: Path) -> None:
    # 25,000 CJK characters: 50 KB as UTF-16 (fits), 75 KB as UTF-8 JSON (does not).
    image = make_image("jpg", "紙の船" * 8_334)
    path = image.save(tmp_path / "long")

    meta = read_text_metadata(path.read_bytes())
    assert meta.xmp is None
    assert a1111_read_info(path) == a1111_parameters(image)
    assert read_recipe(path) == image.recipe


def test_a_recipe_no_jpeg_segment_can_hold_makes_save_raise(tmp_path: Path) -> None:
    image = make_image("jpg", "ü" * 40_000)  # 80 KB as UTF-16 and as UTF-8 JSON

    with pytest.raises(RecipeNotEmbeddedError, match=r"too large for a JPEG.*\.png or \.webp"):
        image.save(tmp_path / "huge.jpg")
    assert not (tmp_path / "huge.jpg").exists()
    # The same image as PNG or WebP keeps everything.
    for suffix in (".png", ".webp"):
        path = image.save(tmp_path / f"huge{suffix}")
        assert read_recipe(path) == image.recipe


def test_history_keeps_the_image_and_the_recipe_when_the_file_cannot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image = make_image("jpg", "ü" * 40_000)
    history = History(tmp_path)

    with caplog.at_level(logging.WARNING, logger="flux_widgets"):
        path = history.add(image)

    assert path.read_bytes() == image.data  # the paid image is kept as downloaded
    record = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert record["recipe_in_file"] is False
    assert FluxParams.from_input(record["params"]) == image.params
    assert [loaded.recipe for loaded in history.load()] == [image.recipe]
    assert "too large for a JPEG" in caplog.text


def test_history_records_say_the_recipe_is_in_the_file(tmp_path: Path) -> None:
    path = History(tmp_path).add(make_image("jpg", TRICKY_PROMPT))
    record = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert record["recipe_in_file"] is True
    assert read_recipe(path).prompt == TRICKY_PROMPT


def test_segment_limit_is_the_jpeg_one() -> None:
    assert MAX_JPEG_SEGMENT == 0xFFFF - 2


_FORMAT_CACHE: dict[str, bytes] = {}


@settings(max_examples=60, deadline=None)
@given(prompt=st.text(min_size=1, max_size=300).filter(lambda text: text.strip()))
def test_any_prompt_reads_back_exactly_through_automatic1111s_reader(prompt: str) -> None:
    for fmt in ("png", "jpg", "webp"):
        if fmt not in _FORMAT_CACHE:
            _FORMAT_CACHE[fmt] = make_image(fmt, "x").data
        params = FluxParams(prompt=prompt, output_format=fmt)  # type: ignore[arg-type]
        image = GeneratedImage.from_bytes(_FORMAT_CACHE[fmt], params, seed=1)
        with tempfile.TemporaryDirectory() as folder:
            path = image.save(Path(folder) / "any")
            assert a1111_read_info(path) == a1111_parameters(image), fmt
            assert read_recipe(path) == image.recipe, fmt


# -- huge images: the text without the pixels (issue 17, item 12) -----------------------------


@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_the_recipe_of_a_huge_image_reads_without_decoding_it(
    fmt: str, width: int, height: int, tmp_path: Path
) -> None:
    image = make_image(fmt, TRICKY_PROMPT)
    path = image.save(tmp_path / f"small.{fmt}")
    huge = claiming(path.read_bytes(), width, height)
    assert huge_size(huge) == (width, height)
    (tmp_path / f"huge.{fmt}").write_bytes(huge)
    for source in (huge, tmp_path / f"huge.{fmt}"):
        assert read_recipe(source) == image.recipe
        assert read_origin(source) is None


@pytest.mark.parametrize("zip_text", [False, True], ids=["iTXt", "compressed iTXt"])
def test_another_tools_text_after_the_pixels_of_a_huge_png_reads(zip_text: bool) -> None:
    info = PngInfo()
    text = "紙の船 on calm water\nSteps: 3, Seed: 7, Size: 1024x1024"
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    png = out.getvalue()
    info.add_itxt("parameters", text, zip=zip_text)
    chunk = io.BytesIO()
    Image.new("RGB", (8, 8)).save(chunk, "PNG", pnginfo=info)
    itxt = _png_chunk(chunk.getvalue(), b"iTXt")
    end = png.index(b"IEND") - 4  # the text goes after IDAT, just before IEND
    huge = claiming(png[:end] + itxt + png[end:], 20000, 20000)
    params = read_recipe(huge)
    assert (params.prompt, params.seed, params.num_inference_steps) == (text.split("\n")[0], 7, 3)


def test_a_huge_image_of_another_format_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match=r"not a readable image file.*too large") as caught:
        read_recipe(claiming(small("GIF"), 20000, 20000))
    assert not isinstance(caught.value, Image.DecompressionBombError)


def huge_size(data: bytes) -> tuple[int, int]:
    """The size the header claims, as Pillow reads it (its bomb check off for the look; libwebp
    will not open a canvas larger than its bitstream: that one is read by hand)."""
    if data.startswith(b"RIFF"):
        return (
            int.from_bytes(data[24:27], "little") + 1,
            int.from_bytes(data[27:30], "little") + 1,
        )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image, "MAX_IMAGE_PIXELS", None)
        with Image.open(io.BytesIO(data)) as image:
            return image.size


def _png_chunk(data: bytes, kind: bytes) -> bytes:
    start = data.index(kind) - 4
    (length,) = struct.unpack(">I", data[start : start + 4])
    return data[start : start + 12 + length]


def test_png_text_reads_as_pillow_reads_it_whatever_the_chunk() -> None:
    info = PngInfo()
    info.add_text("plain", "Latin-1 only: café")
    info.add_text("squeezed", "zTXt " * 50, zip=True)
    info.add_itxt("international", "紙の船 ✓")
    info.add_itxt("international, squeezed", "Ελληνικά кириллица " * 20, zip=True)
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>packet</x:xmpmeta>")
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG", pnginfo=info)
    with Image.open(io.BytesIO(out.getvalue())) as image:
        image.load()
        expected = {k: str(v) for k, v in image.info.items() if isinstance(v, str)}
    meta = read_text_metadata(out.getvalue())
    assert meta.png_text == expected and len(expected) == 5
    assert meta.xmp == "<x:xmpmeta>packet</x:xmpmeta>"
