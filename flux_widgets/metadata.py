"""Text metadata in PNG, JPEG and WebP files, written at the byte level: pixels untouched.

Re-encoding a JPEG or a lossy WebP to add a caption would lose quality a second time, so
metadata goes in as container chunks instead: PNG text chunks before the first ``IDAT``, JPEG
``APP1`` segments (EXIF, XMP) right after ``SOI``/``APP0``, WebP ``EXIF``/``XMP `` chunks in a
``VP8X`` extended container. Existing metadata of the same kind is replaced, not duplicated.
Reading goes through Pillow, which already knows every variant of these containers.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_TYPES = (b"tEXt", b"iTXt", b"zTXt")
_EXIF_PREFIX = b"Exif\x00\x00"
_XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
# A JPEG segment's 16-bit length counts itself: 65535 - 2 bytes are left for the payload.
_MAX_JPEG_SEGMENT = 65533
# EXIF tags: ImageDescription (IFD0, ASCII), ExifIFD pointer, UserComment (Exif IFD, UNDEFINED).
_IMAGE_DESCRIPTION = 0x010E
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
# EXIF's UserComment names its charset in 8 bytes; "UNICODE" is UTF-16 in the TIFF's byte order.
_UNICODE_PREFIX = b"UNICODE\x00"
_ASCII_PREFIX = b"ASCII\x00\x00\x00"
# VP8X flags (WebP container spec): ICC, alpha, EXIF, XMP, animation.
_VP8X_ALPHA = 0x10
_VP8X_EXIF = 0x08
_VP8X_XMP = 0x04


class MetadataError(ValueError):
    """The file is not a well-formed container of the format it claims to be."""


# -- PNG ---------------------------------------------------------------------------------


def png_with_text(data: bytes, texts: Mapping[str, str]) -> bytes:
    """The PNG with a text chunk per key (replacing chunks with the same keys)."""
    if not data.startswith(_PNG_SIGNATURE):
        raise MetadataError("not a PNG file (bad signature)")
    out = [_PNG_SIGNATURE]
    inserted = False
    for chunk_type, body, raw in _png_chunks(data):
        if chunk_type in _PNG_TEXT_TYPES and _png_text_key(body) in texts:
            continue
        # Text before the pixel data, as Pillow and A1111 write it: readers that stop at IDAT
        # still find it.
        if not inserted and chunk_type in (b"IDAT", b"IEND"):
            out.extend(_png_text_chunk(key, value) for key, value in texts.items())
            inserted = True
        out.append(raw)
    if not inserted:
        raise MetadataError("PNG without IDAT/IEND chunks")
    return b"".join(out)


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    chunks = []
    pos = len(_PNG_SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise MetadataError("truncated PNG chunk header")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunk_type = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise MetadataError(f"truncated PNG {chunk_type!r} chunk")
        chunks.append((chunk_type, data[pos + 8 : pos + 8 + length], data[pos:end]))
        pos = end
        if chunk_type == b"IEND":
            break
    return chunks


def _png_text_key(body: bytes) -> str:
    return body.split(b"\x00", 1)[0].decode("latin-1")


def _png_text_chunk(key: str, value: str) -> bytes:
    # tEXt holds Latin-1 only (what A1111 readers look at first); anything else goes in iTXt.
    try:
        body = key.encode("latin-1") + b"\x00" + value.encode("latin-1")
        chunk_type = b"tEXt"
    except UnicodeEncodeError:
        body = key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + value.encode("utf-8")
        chunk_type = b"iTXt"
    crc = zlib.crc32(chunk_type + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", crc)


# -- EXIF and XMP payloads -----------------------------------------------------------------


def exif_with_comment(text: str) -> bytes:
    """An EXIF block (``Exif\\0\\0`` + TIFF) with ``text`` as UserComment and, if ASCII,
    ImageDescription: where A1111-aware tools look for the generation parameters."""
    exif = Image.Exif()
    # Pillow writes a big-endian ("MM") TIFF when no byte order is set, so UTF-16-BE matches it.
    if text.isascii():
        exif[_IMAGE_DESCRIPTION] = text
    exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = _UNICODE_PREFIX + text.encode("utf-16-be")
    return exif.tobytes()


def exif_comment(exif_bytes: bytes) -> str | None:
    """The UserComment (else ImageDescription) text of an EXIF block, if any."""
    exif = Image.Exif()
    try:
        exif.load(exif_bytes)
        comment = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)
        description = exif.get(_IMAGE_DESCRIPTION)
    except (OSError, ValueError, SyntaxError, struct.error, KeyError):
        return None
    if isinstance(comment, bytes) and len(comment) > 8:
        prefix, body = comment[:8], comment[8:]
        if prefix == _UNICODE_PREFIX:
            # The TIFF's own byte order; piexif (A1111) writes big-endian in either case.
            little = exif_bytes.removeprefix(_EXIF_PREFIX).startswith(b"II")
            text = body.decode("utf-16-le" if little else "utf-16-be", errors="replace")
            return text.rstrip("\x00")
        if prefix in (_ASCII_PREFIX, b"\x00" * 8):
            return body.decode("utf-8", errors="replace").rstrip("\x00")
    if isinstance(description, str) and description:
        return description
    return None


def xmp_packet(namespace: str, prefix: str, properties: Mapping[str, str]) -> bytes:
    """A minimal XMP packet with simple text properties in one namespace."""
    fields = "".join(
        f"<{prefix}:{name}>{_xml_escape(value)}</{prefix}:{name}>"
        for name, value in properties.items()
    )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:{prefix}="{namespace}">{fields}</rdf:Description>'
        "</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


# -- JPEG --------------------------------------------------------------------------------


def jpeg_with_app1(data: bytes, *, exif: bytes | None, xmp: bytes | None) -> bytes:
    """The JPEG with new EXIF/XMP ``APP1`` segments (replacing old ones); scan data as is."""
    if not data.startswith(b"\xff\xd8"):
        raise MetadataError("not a JPEG file (no SOI marker)")
    segments: list[bytes] = []
    for payload in (exif, None if xmp is None else _XMP_PREFIX + xmp):
        if payload is None:
            continue
        if len(payload) > _MAX_JPEG_SEGMENT:
            raise MetadataError(f"metadata of {len(payload)} bytes does not fit a JPEG segment")
        segments.append(b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload)

    head = [data[:2]]
    pos = 2
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise MetadataError("malformed JPEG segment")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA or 0xD0 <= marker <= 0xD9 or marker == 0x01:
            break  # start of scan (or a markerless oddity): the rest is copied verbatim
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if end > len(data):
            raise MetadataError("truncated JPEG segment")
        body = data[pos + 4 : end]
        is_old = marker == 0xE1 and (
            (exif is not None and body.startswith(_EXIF_PREFIX))
            or (xmp is not None and body.startswith(_XMP_PREFIX))
        )
        if not is_old:
            head.append(data[pos:end])
        pos = end
    # JFIF wants APP0 right after SOI and EXIF wants APP1 there; tools settle on APP0 first.
    at = 2 if len(head) > 1 and head[1].startswith(b"\xff\xe0") else 1
    return b"".join(head[:at] + segments + head[at:]) + data[pos:]


# -- WebP --------------------------------------------------------------------------------


def webp_with_chunks(data: bytes, *, exif: bytes | None, xmp: bytes | None) -> bytes:
    """The WebP in a ``VP8X`` container with EXIF (raw TIFF) and XMP chunks; bitstream as is."""
    if len(data) < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MetadataError("not a WebP file (no RIFF/WEBP header)")
    chunks = _riff_chunks(data)
    kinds = [kind for kind, _ in chunks]
    drop = {b"EXIF"} if exif is not None else set()
    if xmp is not None:
        drop.add(b"XMP ")
    kept = [(kind, body) for kind, body in chunks if kind not in drop]

    if kinds[0] == b"VP8X":
        flags = kept[0][1][0]
        header_body = kept[0][1]
        kept = kept[1:]
    elif kinds[0] in (b"VP8 ", b"VP8L") and len(kinds) == 1:
        width, height, alpha = _bitstream_size(kinds[0], chunks[0][1])
        flags = _VP8X_ALPHA if alpha else 0
        header_body = b"\x00" * 4 + _u24(width - 1) + _u24(height - 1)
    else:
        raise MetadataError(f"unexpected WebP layout {kinds!r}")

    if exif is not None:
        flags |= _VP8X_EXIF
        # WebP's EXIF chunk holds the TIFF itself, without JPEG's "Exif\0\0" prefix.
        kept.append((b"EXIF", exif.removeprefix(_EXIF_PREFIX)))
    if xmp is not None:
        flags |= _VP8X_XMP
        kept.append((b"XMP ", xmp))
    header = (b"VP8X", bytes([flags]) + header_body[1:])
    body = b"WEBP" + b"".join(_riff_chunk(kind, payload) for kind, payload in [header, *kept])
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = min(len(data), 8 + riff_size)
    chunks = []
    pos = 12
    while pos + 8 <= end:
        kind = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if pos + 8 + size > end:
            raise MetadataError(f"truncated WebP {kind!r} chunk")
        chunks.append((kind, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
    if not chunks:
        raise MetadataError("WebP file without chunks")
    return chunks


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) & 1 else b""
    return kind + struct.pack("<I", len(payload)) + payload + pad


def _bitstream_size(kind: bytes, body: bytes) -> tuple[int, int, bool]:
    if kind == b"VP8L":
        if len(body) < 5 or body[0] != 0x2F:
            raise MetadataError("malformed VP8L bitstream header")
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    if len(body) < 10 or body[3:6] != b"\x9d\x01\x2a":
        raise MetadataError("malformed VP8 bitstream header")
    width = int.from_bytes(body[6:8], "little") & 0x3FFF
    height = int.from_bytes(body[8:10], "little") & 0x3FFF
    return width, height, False


def _u24(value: int) -> bytes:
    return value.to_bytes(3, "little")


# -- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TextMetadata:
    """The text an image file carries: PNG text chunks, the EXIF comment, the XMP packet."""

    format: str | None
    png_text: dict[str, str]
    exif_comment: str | None
    xmp: str | None


def read_text_metadata(data: bytes) -> TextMetadata:
    """Every kind of text metadata ``png_with_text``/``jpeg_with_app1``/``webp_with_chunks``
    write, read back through Pillow (so files from other tools read too)."""
    with Image.open(io.BytesIO(data)) as image:
        png_text: dict[str, str] = {}
        if image.format == "PNG":
            image.load()  # text chunks after IDAT are only read along with the pixels
            png_text = {k: v for k, v in image.info.items() if isinstance(v, str)}
        exif = image.info.get("exif")
        xmp = image.info.get("xmp")
        if isinstance(xmp, bytes):
            xmp = xmp.decode("utf-8", errors="replace")
        return TextMetadata(
            format=image.format,
            png_text=png_text,
            exif_comment=exif_comment(exif) if isinstance(exif, bytes) else None,
            xmp=xmp if isinstance(xmp, str) else None,
        )
