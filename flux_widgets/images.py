"""GeneratedImage: the encoded bytes of one output, with the recipe and timings that made it.

The bytes are kept exactly as downloaded (the provider deletes its copy within the hour); width
and height come from the header, so nothing is decoded until someone asks for pixels.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from .errors import ImageDecodeError
from .params import FluxParams, PromptOrigin
from .recipes.embedding import embed_recipe

# Pillow's names for the API's output formats.
PIL_FORMATS = {"webp": "WEBP", "jpg": "JPEG", "png": "PNG"}
_MIME_TYPES = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}
# flux-schnell never exceeds ~1.6 MP; anything far larger is a broken or hostile file.
MAX_PIXELS = 40_000_000


def probe_image(data: bytes, expected_format: str | None = None) -> tuple[str, int, int]:
    """Format, width and height read from the header alone; refuses non-images and huge sizes.

    The size is read by hand from the first bytes (PNG IHDR, JPEG SOF, WebP VP8/VP8L/VP8X) and
    checked against ``MAX_PIXELS`` before Pillow sees the file, so a hostile header is refused
    without decoding anything. Pillow then parses the same header, still without decoding the
    pixels, and must agree.
    """
    header = _read_header(data)
    if header is None:
        raise ImageDecodeError(
            "the downloaded file is not a webp, jpg or png image; "
            "generate again, and report it if it keeps happening"
        )
    fmt, width, height = header
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(
            f"the downloaded image claims {width}x{height} pixels, far beyond what FLUX "
            "produces; it was refused before decoding (a damaged or hostile file)"
        )
    if expected_format is not None and fmt != expected_format:
        raise ImageDecodeError(
            f"the server reported a {expected_format} image but sent {fmt} data; "
            "the file may be damaged: generate again"
        )
    try:
        with Image.open(io.BytesIO(data), formats=[PIL_FORMATS[fmt]]) as image:
            size = image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ImageDecodeError(
            f"the downloaded {fmt} file is damaged ({_damage(exc)}); "
            "generate again, and report it if it keeps happening"
        ) from None
    if size != (width, height) or width < 1 or height < 1:
        raise ImageDecodeError(f"the downloaded {fmt} file has an inconsistent header")
    return fmt, width, height


def _damage(error: Exception) -> str:
    """What Pillow found wrong, in words (its exception types meant nothing to a person)."""
    if isinstance(error, Image.DecompressionBombError):
        return "too many pixels to decode safely"
    if isinstance(error, UnidentifiedImageError):
        return "not readable as an image"
    return "cut short or corrupt"


def open_image(data: bytes) -> Image.Image:
    """Open image bytes with Pillow, pixels not yet decoded (``load()`` decodes them).

    An image of more than ``MAX_PIXELS`` is refused with ``ImageDecodeError`` before Pillow
    sees it (from the header: PNG, JPEG, WebP) or right after it read the size (other formats),
    and so is one past Pillow's own limit (its ``DecompressionBombError``, and the warning it
    raises under ``-W error``): decoding it could take gigabytes of memory. Other files Pillow
    cannot read raise Pillow's errors, as ``Image.open`` does.
    """
    header = _read_header(data)
    width, height = header[1:] if header is not None else (0, 0)
    if width * height <= MAX_PIXELS:
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageDecodeError(f"the image is too large to decode ({error})") from None
        width, height = image.size
        if width * height <= MAX_PIXELS:
            return image
        image.close()
    raise ImageDecodeError(
        f"the image claims {width}x{height} pixels, more than flux-widgets decodes "
        f"({MAX_PIXELS:,} at most); it was refused before decoding (a damaged or hostile file)"
    )


_JPEG_SOF = frozenset({*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC})
_JPEG_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xDA)})


def _read_header(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from the first bytes of a PNG, JPEG or WebP; None otherwise."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
            width, height = struct.unpack("<HH", data[26:30])
            return "webp", width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L" and data[20] == 0x2F:
            bits = int.from_bytes(data[21:25], "little")
            return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            return "webp", width, int.from_bytes(data[27:30], "little") + 1
        return None
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[str, int, int] | None:
    # Walk the marker segments up to the first start-of-frame, which holds the size.
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_NO_LENGTH:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return "jpg", width, height
        if length < 2:
            return None
        i += 2 + length
    return None


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC


def missing_end(data: bytes) -> str | None:
    """What shows that an image file was cut short (``None``: whole, or not an image at all,
    which ``probe_image`` refuses).

    Each format says where it ends: a PNG's chunks run to IEND, a JPEG's segments and
    entropy-coded data to the EOI marker (FFD9), a WebP's RIFF header gives its length. The
    structure is walked, not just the last bytes read: a JPEG cut right after its EXIF
    thumbnail also ends in FFD9. Nothing is decoded: a JPEG takes up to ~2 ms per MB to walk.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_end(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        declared = int.from_bytes(data[4:8], "little") + 8
        if len(data) < declared:
            return f"its RIFF header declares {declared} bytes, {len(data)} arrived"
        return None
    if data[:2] == b"\xff\xd8":
        return None if _jpeg_reaches_eoi(data) else "no end-of-image marker (FFD9)"
    return None


def _png_end(data: bytes) -> str | None:
    i = 8
    while i + 12 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        if data[i + 4 : i + 8] == b"IEND":
            return None if data[i : i + 12] == _PNG_END else "a damaged IEND chunk"
        i += 12 + length
    return "no IEND chunk"


def _jpeg_reaches_eoi(data: bytes) -> bool:
    """Whether the marker segments and the scans after each SOS run to an EOI marker."""
    i, size = 2, len(data)
    while i + 2 <= size:
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:
            return True
        if marker in _JPEG_NO_LENGTH:
            i += 2
            continue
        if i + 4 > size:
            return False
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            return False
        i += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            i = _scan_end(data, i)
    return False


def _scan_end(data: bytes, i: int) -> int:
    # In entropy-coded data FF is stuffed as FF00, and FFD0-FFD7 are restart markers.
    while True:
        i = data.find(b"\xff", i)
        if i < 0 or i + 1 >= len(data):
            return len(data)
        following = data[i + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            i += 1 if following == 0xFF else 2
            continue
        return i


@dataclass(frozen=True, eq=False)
class GeneratedImage:
    """One generated image: encoded bytes plus everything needed to make it again."""

    data: bytes = field(repr=False)
    format: str
    width: int
    height: int
    params: FluxParams
    seed: int | None = None
    prediction_id: str | None = None
    index: int = 0
    url: str | None = None
    predict_time: float | None = None
    download_time: float | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    origin: PromptOrigin | None = None
    """The template (and style) the prompt was made from, when it was not typed as sent."""
    source: str | None = None
    """Which service made it (``Provider.image_source``: "replicate", "mock/cometapi"); None
    when unknown (images from before it was recorded): such an image is never served as a
    repeat."""
    provider: str | None = None
    """The provider that made it (``"replicate"``...); None for images from before it was kept."""
    price: float | None = None
    """What this one image was estimated to cost when it was made, in US dollars, at its
    provider's price then (``spending/prices.py``); None where that price was unknown."""

    @classmethod
    def from_bytes(cls, data: bytes, params: FluxParams, **metadata: Any) -> GeneratedImage:
        """Wrap downloaded bytes, checking they are an image of the requested format."""
        fmt, width, height = probe_image(data, params.output_format)
        return cls(data=data, format=fmt, width=width, height=height, params=params, **metadata)

    @property
    def mime_type(self) -> str:
        return _MIME_TYPES[self.format]

    @property
    def recipe(self) -> FluxParams:
        """The parameters with the seed actually used, so the image can be made again."""
        if self.seed is None or self.params.seed == self.seed:
            return self.params
        return self.params.replace(seed=self.seed)

    def to_pil(self) -> Image.Image:
        """Decode into a Pillow image (a new one each call; the bytes stay the source of truth).
        ``ImageDecodeError`` for an image too large to decode (see ``open_image``)."""
        image = open_image(self.data)
        image.load()
        return image

    def save(self, path: str | Path) -> Path:
        """Write the image with its recipe embedded (``flux_widgets.read_recipe`` reads
        it back). The pixels are written as downloaded, never re-encoded, unless the suffix
        asks for another format (.png/.jpg/.webp); a missing suffix gets the image's own."""
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(f".{self.format}")
        target.write_bytes(image_file_bytes(self, target.suffix))
        return target

    def thumbnail(self, max_size: int = 256, fmt: str = "webp") -> bytes:
        """A small copy for galleries (decodes; call it off the event loop for big batches).
        ``ImageDecodeError`` for an image too large to decode (see ``open_image``)."""
        image = self.to_pil()
        image.draft("RGB", (max_size, max_size))  # JPEG decodes at reduced scale
        image.thumbnail((max_size, max_size))
        out = io.BytesIO()
        image.convert("RGB").save(out, PIL_FORMATS[fmt], quality=80)
        return out.getvalue()

    @cached_property
    def _display_jpeg(self) -> bytes:
        # Saved notebooks (GitHub, nbviewer, VS Code) do not all render WebP: show a JPEG copy.
        out = io.BytesIO()
        self.to_pil().convert("RGB").save(out, "JPEG", quality=88)
        return out.getvalue()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if self.format == "webp":
            bundle: dict[str, Any] = {"image/jpeg": self._display_jpeg}
        else:
            bundle = {self.mime_type: self.data}
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        prompt = self.params.prompt
        if len(prompt) > 40:
            prompt = prompt[:39] + "…"
        return (
            f"<GeneratedImage {self.width}x{self.height} {self.format} seed={self.seed} "
            f"prompt={prompt!r}>"
        )


# Save-as: the suffix picks the format; anything else keeps the image's own.
_SUFFIX_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}
# Converting a lossy image to another lossy format loses quality twice: never go below this.
_MIN_CONVERT_QUALITY = 90


def image_file_bytes(image: GeneratedImage, suffix: str = "") -> bytes:
    """What ``GeneratedImage.save`` writes: the image, converted only if ``suffix`` names
    another format (PNG losslessly, lossy formats at quality >= 90), with its recipe."""
    fmt = _SUFFIX_FORMATS.get(suffix.lower(), image.format)
    data = image.data
    if fmt != image.format:
        quality = max(image.params.output_quality, _MIN_CONVERT_QUALITY)
        out = io.BytesIO()
        with open_image(data) as decoded:
            rgb = decoded if fmt == "png" else decoded.convert("RGB")
            rgb.save(out, PIL_FORMATS[fmt], quality=quality)
        data = out.getvalue()
    return embed_recipe(data, fmt, image)


def file_name(image: GeneratedImage) -> str:
    """The name ``save`` buttons and ``%%flux --save`` give the file: it says what the file
    is and does not collide within one prediction."""
    stamp = image.created_at.strftime("%Y%m%d-%H%M%S")
    return f"flux-{stamp}-seed{image.seed}-{image.index}.{image.format}"


def kept_images(error: BaseException) -> list[GeneratedImage]:
    """The paid images an error kept (``DownloadError``, ``FluxTimeoutError`` and
    ``ClientClosedError`` carry the ones that arrived), typed as what they are."""
    images = getattr(error, "images", ())
    return [image for image in images if isinstance(image, GeneratedImage)]
