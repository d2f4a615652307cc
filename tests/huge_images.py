"""Decompression bombs made cheaply: a small image whose header claims a huge size.

Pillow refuses to open an image of more than ``2 * Image.MAX_IMAGE_PIXELS`` (~179 megapixels)
with ``DecompressionBombError``, and warns (an error under this project's ``-W error``) past
``MAX_IMAGE_PIXELS``; flux-widgets decodes at most ``images.MAX_PIXELS``. Patching the size
in the header makes any of those a few hundred bytes, with the file's metadata intact.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from flux_widgets.recipes.metadata import webp_with_chunks

# Past flux-widgets' limit only; past Pillow's warning; past Pillow's refusal.
SIZES = [(8000, 8000), (10000, 10000), (20000, 20000)]
SIZE_IDS = ["64MP", "100MP", "400MP"]


def claiming(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a PNG, JPEG, WebP or GIF) with a header that claims ``width`` x ``height``."""
    if data.startswith(b"\x89PNG"):
        ihdr = data[12:16] + struct.pack(">II", width, height) + data[24:29]
        crc = struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF)
        return data[:16] + ihdr[4:] + crc + data[33:]
    if data.startswith(b"\xff\xd8"):
        pos = 2
        while data[pos + 1] not in (0xC0, 0xC1, 0xC2):  # walk to the start of frame
            pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        return data[: pos + 5] + struct.pack(">HH", height, width) + data[pos + 9 :]
    if data.startswith(b"RIFF"):
        if data[12:16] != b"VP8X":
            data = webp_with_chunks(data, exif=None, xmp=None)
        canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        return data[:24] + canvas + data[30:]
    if data.startswith(b"GIF8"):
        return data[:6] + struct.pack("<HH", width, height) + data[10:]
    raise ValueError("not a PNG, JPEG, WebP or GIF")


def small(fmt: str) -> bytes:
    """A 64x48 gradient in Pillow's format ``fmt`` ("PNG", "JPEG", "WEBP", "GIF")."""
    out = io.BytesIO()
    Image.linear_gradient("L").resize((64, 48)).convert("RGB").save(out, fmt)
    return out.getvalue()
