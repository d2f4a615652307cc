"""The error envelopes of every family, byte-shaped like the real ones (see docs/protocol.md).

CometAPI's ``{"error": {...}}`` envelope, Replicate's problem+json, fal's FastAPI
``{"detail": ...}`` and Together's OpenAI-style ``{"error": {"message", "type", "code"}}``; which
family answers which is each family's own (``family.py``). Also the answers every family
shares: a proxy's HTML error page, bytes that are not an image, a decompression bomb.
"""

from __future__ import annotations

import secrets
import struct
import time
import zlib
from collections.abc import Sequence

from starlette.responses import HTMLResponse, JSONResponse

from ..params import FieldError

_PROXY_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
    "</html>\r\n"
)
_PHRASES = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def request_id() -> str:
    """An id like CometAPI's (a timestamp and random hex), to quote in error messages."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(8)


def cometapi_error(status: int, message: str, *, code: str = "") -> JSONResponse:
    """CometAPI's error envelope; the message ends with ``(request id: ...)`` as theirs do."""
    body = {
        "error": {
            "message": f"{message} (request id: {request_id()})",
            "type": "comet_api_error",
            "param": "",
            "code": code,
        }
    }
    return JSONResponse(body, status_code=status)


def problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    """Replicate's RFC 7807 problem+json error."""
    body: dict[str, object] = {"title": title, "detail": detail, "status": status, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def fal_error(status: int, detail: object) -> JSONResponse:
    """fal's (FastAPI's) error body: ``{"detail": ...}``."""
    return JSONResponse({"detail": detail}, status_code=status)


def fal_validation(errors: Sequence[tuple[str, str, str]]) -> JSONResponse:
    """422 as FastAPI writes it: ``{"detail": [{"loc": ["body", field], "msg", "type"}]}``."""
    detail = [{"loc": ["body", field], "msg": msg, "type": kind} for field, msg, kind in errors]
    return fal_error(422, detail)


def openai_error(
    status: int, message: str, kind: str, code: str | None = None, param: str | None = None
) -> JSONResponse:
    """The OpenAI-style envelope Together answers errors in."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def validation_failed(errors: Sequence[FieldError], present: Sequence[str]) -> JSONResponse:
    """422 problem+json naming every invalid field as ``input.<name>`` (both providers)."""
    fields = [
        {
            "type": _error_type(e, present),
            "field": f"input.{e.field}" if e.field != "input" else "input",
            "description": e.message,
        }
        for e in errors
    ]
    detail = "".join(f"- {f['field']}: {f['description']}\n" for f in fields)
    return problem(422, "Input validation failed", detail, invalid_fields=fields)


def _error_type(error: FieldError, present: Sequence[str]) -> str:
    if error.field not in present:
        return "required"
    if "must be one of" in error.message:
        return "enum"
    if "must be from" in error.message:
        return "range"
    if "must not be empty" in error.message:
        return "min_length"
    return "invalid_type"


def phrase(status: int) -> str:
    """The reason phrase of a 5xx status, as nginx writes it."""
    return _PHRASES.get(status, "Error")


def proxy_page(status: int) -> HTMLResponse:
    """An nginx-style HTML error page, as a proxy in front of an API answers."""
    return HTMLResponse(_PROXY_PAGE.format(code=status, phrase=phrase(status)), status_code=status)


def corrupt_bytes(length: int = 2048) -> bytes:
    """Bytes that no image decoder accepts (a fault for download checks)."""
    return (b"MOCK corrupt image: these bytes are not an image. " * (length // 50 + 1))[:length]


def huge_png() -> bytes:
    """A tiny PNG whose header claims 100000 x 100000 pixels (a decompression bomb check)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\x00" * 300)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def seconds_text(value: float) -> str:
    """Seconds as a header writes them: ``2``, ``0.5``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
