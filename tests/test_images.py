"""GeneratedImage's decode limits: an image too large to decode is refused, never decoded."""

from __future__ import annotations

import dataclasses

import pytest
from factories import make_image
from huge_images import SIZE_IDS, SIZES, claiming, small

from flux_widgets.errors import ImageDecodeError
from flux_widgets.images import GeneratedImage, image_file_bytes, open_image


def huge(fmt: str, width: int, height: int) -> GeneratedImage:
    """An image whose file claims ``width`` x ``height``, made as the history makes one (from
    its record, without the download's header check)."""
    image = make_image(1, fmt)
    return dataclasses.replace(image, data=claiming(image.data, width, height))


@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_pixels_of_a_huge_image_are_refused_with_image_decode_error(
    fmt: str, width: int, height: int
) -> None:
    image = huge(fmt, width, height)
    with pytest.raises(ImageDecodeError, match=f"{width}x{height} pixels"):
        image.to_pil()
    with pytest.raises(ImageDecodeError):
        image.thumbnail()
    other = ".png" if fmt != "png" else ".jpg"
    with pytest.raises(ImageDecodeError):
        image_file_bytes(image, other)  # a conversion decodes: refused too


@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
def test_a_huge_image_of_a_format_without_a_hand_read_header_is_refused(
    width: int, height: int
) -> None:
    with pytest.raises(ImageDecodeError, match=r"too large|pixels"):
        open_image(claiming(small("GIF"), width, height))


def test_ordinary_images_still_decode() -> None:
    for fmt in ("png", "jpg", "webp"):
        assert make_image(2, fmt).to_pil().size == (32, 16)
    with open_image(small("GIF")) as gif:
        assert gif.size == (64, 48)
