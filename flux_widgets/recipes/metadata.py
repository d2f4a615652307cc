"""Text metadata in PNG, JPEG and WebP files, written at the byte level: pixels untouched.

Re-encoding a JPEG or a lossy WebP to add a caption would lose quality a second time, so
metadata goes in as container chunks instead: PNG text chunks before the first ``IDAT``, JPEG
``APP1`` segments (EXIF, XMP) right after ``SOI``/``APP0``, WebP ``EXIF``/``XMP `` chunks in a
``VP8X`` extended container. Existing metadata of the same kind is replaced, not duplicated.
Reading is at the byte level too, with Pillow's rules for each chunk (its ``PngImagePlugin``,
``JpegImagePlugin`` and ``WebPImagePlugin``): no pixel is decoded, so the text of an image of any
size reads at once, and Pillow's decompression-bomb check, which refuses to open an image of
hundreds of megapixels, never stands between a caption and its reader. Other formats go
through Pillow.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from PIL import Image, PngImagePlugin

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_TYPES = (b"tEXt", b"iTXt", b"zTXt")
_EXIF_PREFIX = b"Exif\x00\x00"
XMP_APP1_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
"""What starts a JPEG ``APP1`` segment holding XMP (XMP spec, part 3)."""
# A JPEG segment's 16-bit length counts itself: 65535 - 2 bytes are left for the payload.
MAX_JPEG_SEGMENT = 65533
"""The largest payload one JPEG ``APP1`` segment holds (bytes, with its ``Exif``/XMP prefix)."""
# EXIF tags: ImageDescription (IFD0, ASCII), ExifIFD pointer, UserComment (Exif IFD, UNDEFINED).
_IMAGE_DESCRIPTION = 0x010E
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
# EXIF's UserComment names its charset in 8 bytes; "UNICODE" is UTF-16 in the TIFF's byte order.
_UNICODE_PREFIX = b"UNICODE\x00"
_ASCII_PREFIX = b"ASCII\x00\x00\x00"
# TIFF field types (TIFF 6.0, section 2).
_TIFF_ASCII = 2
_TIFF_LONG = 4
_TIFF_UNDEFINED = 7
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


def exif_with_comment(text: str, *, encoding: str = "unicode", description: bool = True) -> bytes:
    """An EXIF block (``Exif\\0\\0`` + a big-endian TIFF) with ``text`` as UserComment: where
    AUTOMATIC1111 and the tools that read its files look for the generation parameters.

    UserComment is written exactly as ``piexif.helper.UserComment.dump(text, encoding)`` makes
    it, which A1111 itself uses: EXIF type UNDEFINED, the 8-byte character code, then the text
    (``"unicode"``: UTF-16-BE, the byte order ``UserComment.load`` always decodes; ``"ascii"``:
    half the size, ASCII text only). With ``description``, an ASCII ``text`` also goes into
    ImageDescription for viewers that show only that. Raises ``ValueError`` for an unknown
    encoding or non-ASCII text with ``"ascii"``.
    """
    if encoding == "unicode":
        comment = _UNICODE_PREFIX + text.encode("utf-16-be")
    elif encoding == "ascii":
        comment = _ASCII_PREFIX + text.encode("ascii")  # raises for non-ASCII text
    else:
        raise ValueError(f"encoding must be 'unicode' or 'ascii', got {encoding!r}")
    # A big-endian TIFF: the order the UNICODE text is in, whichever convention a reader
    # follows (the TIFF's order, as EXIF says, or always big-endian, as piexif does).
    exif_ifd = [(_USER_COMMENT, _TIFF_UNDEFINED, len(comment), comment)]
    ifd0: list[tuple[int, int, int, bytes]] = []
    if description and text.isascii():
        raw = text.encode("ascii") + b"\x00"
        ifd0.append((_IMAGE_DESCRIPTION, _TIFF_ASCII, len(raw), raw))
    # IFD0 starts right after the 8-byte header; the Exif IFD right after IFD0 and its data.
    ifd0_size = _ifd_size([*ifd0, (_EXIF_IFD, _TIFF_LONG, 1, b"")])
    exif_offset = 8 + ifd0_size
    ifd0.append((_EXIF_IFD, _TIFF_LONG, 1, struct.pack(">I", exif_offset)))
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += _ifd_bytes(ifd0, 8) + _ifd_bytes(exif_ifd, exif_offset)
    return _EXIF_PREFIX + tiff


def _ifd_size(entries: list[tuple[int, int, int, bytes]]) -> int:
    data = sum(_even(len(value)) for *_, value in entries if len(value) > 4)
    return 2 + 12 * len(entries) + 4 + data


def _ifd_bytes(entries: list[tuple[int, int, int, bytes]], offset: int) -> bytes:
    """One big-endian TIFF IFD at ``offset`` (tags sorted, as TIFF requires), its values
    longer than 4 bytes placed right after it, each at an even offset."""
    entries = sorted(entries)
    data_at = offset + 2 + 12 * len(entries) + 4
    table, data = [struct.pack(">H", len(entries))], []
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            field = value.ljust(4, b"\x00")
        else:
            field = struct.pack(">I", data_at)
            data.append(value.ljust(_even(len(value)), b"\x00"))
            data_at += _even(len(value))
        table.append(struct.pack(">HHI", tag, kind, count) + field)
    table.append(b"\x00\x00\x00\x00")  # no next IFD
    return b"".join(table + data)


def _even(size: int) -> int:
    return size + (size & 1)


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
    """The JPEG with new EXIF/XMP ``APP1`` segments; scan data as is.

    Old EXIF and XMP segments are always removed (``None`` writes none), so a file never
    carries a stale recipe beside the new one. Raises ``MetadataError`` for a malformed file
    or a payload over ``MAX_JPEG_SEGMENT``.
    """
    if not data.startswith(b"\xff\xd8"):
        raise MetadataError("not a JPEG file (no SOI marker)")
    segments: list[bytes] = []
    for payload in (exif, None if xmp is None else XMP_APP1_PREFIX + xmp):
        if payload is None:
            continue
        if len(payload) > MAX_JPEG_SEGMENT:
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
        is_old = marker == 0xE1 and body.startswith((_EXIF_PREFIX, XMP_APP1_PREFIX))
        if not is_old:
            head.append(data[pos:end])
        pos = end
    # JFIF wants APP0 right after SOI and EXIF wants APP1 there; tools settle on APP0 first.
    at = 2 if len(head) > 1 and head[1].startswith(b"\xff\xe0") else 1
    return b"".join(head[:at] + segments + head[at:]) + data[pos:]


# -- WebP --------------------------------------------------------------------------------


def webp_with_chunks(data: bytes, *, exif: bytes | None, xmp: bytes | None) -> bytes:
    """The WebP in a ``VP8X`` container with EXIF (raw TIFF) and XMP chunks; bitstream as is.

    Old EXIF and XMP chunks are always removed (``None`` writes none), as in ``jpeg_with_app1``.
    """
    if len(data) < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MetadataError("not a WebP file (no RIFF/WEBP header)")
    chunks = _riff_chunks(data)
    kinds = [kind for kind, _ in chunks]
    kept = [(kind, body) for kind, body in chunks if kind not in (b"EXIF", b"XMP ")]

    if kinds[0] == b"VP8X":
        flags = kept[0][1][0] & ~(_VP8X_EXIF | _VP8X_XMP)  # set again below for what is written
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
    write, and other tools' (every PNG text chunk, JPEG's and WebP's EXIF and XMP), read from
    the containers without decoding a pixel, whatever the image's size. Raises
    ``MetadataError`` (a ``ValueError``) for a malformed PNG, JPEG or WebP; other formats are
    read through Pillow (its errors, or ``MetadataError`` for one too large to open)."""
    if data.startswith(_PNG_SIGNATURE):
        return _png_metadata(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_metadata(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 20:
        chunks = _riff_chunks(data)
        found = _Found("WEBP")
        for kind, body in chunks:
            if kind == b"EXIF" and found.exif is None:
                found.exif = body
            elif kind == b"XMP " and found.xmp is None:
                found.xmp = body
        return found.metadata()
    return _pillow_metadata(data)


@dataclass
class _Found:
    """What a reader found so far, in the raw form the containers hold it."""

    format: str | None
    text: dict[str, str] = field(default_factory=dict)
    exif: bytes | None = None
    xmp: bytes | None = None

    def metadata(self) -> TextMetadata:
        return TextMetadata(
            format=self.format,
            png_text=self.text,
            exif_comment=exif_comment(self.exif) if self.exif is not None else None,
            xmp=None if self.xmp is None else self.xmp.decode("utf-8", errors="replace"),
        )


def _png_metadata(data: bytes) -> TextMetadata:
    found = _Found("PNG")
    memory = 0
    for chunk_type, body, _raw in _png_chunks(data):
        if chunk_type == b"eXIf":
            found.exif = _EXIF_PREFIX + body
            continue
        if chunk_type not in _PNG_TEXT_TYPES:
            continue
        entry = _png_text(chunk_type, body)
        if entry is None:
            continue
        key, value, xmp = entry
        memory += len(value)
        if memory > PngImagePlugin.MAX_TEXT_MEMORY:  # Pillow's limit on all text of one file
            raise MetadataError("too much text in the PNG's chunks")
        found.text[key] = value
        found.xmp = xmp if xmp is not None else found.xmp
    return found.metadata()


def _png_text(chunk_type: bytes, body: bytes) -> tuple[str, str, bytes | None] | None:
    """One text chunk as (key, text, XMP bytes if it is the XMP packet), or None for one
    Pillow would skip (no key, a bad compression, text that does not decode)."""
    key, sep, rest = body.partition(b"\x00")
    if not key:
        return None
    try:
        if chunk_type == b"tEXt":
            return key.decode("latin-1"), rest.decode("latin-1", "replace"), None
        if chunk_type == b"zTXt":
            if not sep or rest[:1] not in (b"", b"\x00"):
                return None  # zlib is the only compression method PNG defines
            return key.decode("latin-1"), _inflate(rest[1:]).decode("latin-1", "replace"), None
        compressed, method, rest = rest[:1], rest[1:2], rest[2:]
        _language, _translated, value = rest.split(b"\x00", 2)
        if compressed not in (b"", b"\x00"):
            if method != b"\x00":
                return None
            value = _inflate(value)
        xmp = value if key == b"XML:com.adobe.xmp" else None
        return key.decode("latin-1"), value.decode("utf-8"), xmp
    except (ValueError, zlib.error):  # UnicodeError is a ValueError
        return None


def _inflate(data: bytes) -> bytes:
    """zlib data inflated up to Pillow's limit for one text chunk (a zip bomb stops there)."""
    inflater = zlib.decompressobj()
    text = inflater.decompress(data, PngImagePlugin.MAX_TEXT_CHUNK)
    if inflater.unconsumed_tail:
        raise ValueError("a compressed text chunk inflates past Pillow's limit")
    return text


def _jpeg_metadata(data: bytes) -> TextMetadata:
    found = _Found("JPEG")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise MetadataError("malformed JPEG segment")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA or marker == 0xD9:
            break  # start of scan (or end of image): no metadata segments after it
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise MetadataError("truncated JPEG segment")
        body = data[pos + 4 : end]
        if marker == 0xE1 and body.startswith(_EXIF_PREFIX):
            # As Pillow: a second EXIF segment continues the first.
            found.exif = body if found.exif is None else found.exif + body[len(_EXIF_PREFIX) :]
        elif marker == 0xE1 and body.startswith(XMP_APP1_PREFIX):
            found.xmp = body[len(XMP_APP1_PREFIX) :]
        pos = end
    else:
        raise MetadataError("JPEG without a start of scan")
    return found.metadata()


def _pillow_metadata(data: bytes) -> TextMetadata:
    try:
        with Image.open(io.BytesIO(data)) as image:
            exif, xmp = image.info.get("exif"), image.info.get("xmp")
            fmt = image.format
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise MetadataError(f"an image too large for Pillow to open ({error})") from None
    return _Found(
        fmt,
        exif=exif if isinstance(exif, bytes) else None,
        xmp=xmp.encode() if isinstance(xmp, str) else xmp if isinstance(xmp, bytes) else None,
    ).metadata()
