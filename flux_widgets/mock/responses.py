"""The error answers of every family, byte-shaped like the real ones (see docs/protocol.md).

CometAPI's ``{"error": {...}}`` envelope, Replicate's problem+json, fal's FastAPI
``{"detail": ...}`` and Together's OpenAI-style ``{"error": {"message", "type", "code"}}``.
"""

from __future__ import annotations

import secrets
import struct
import time
import zlib
from collections.abc import Sequence

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..params import FieldError
from .faults import FaultConfig, HttpFault

COMETAPI = "cometapi"
REPLICATE = "replicate"
FAL = "fal"
TOGETHER = "together"
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


def unauthenticated(family: str) -> JSONResponse:
    """401 in the family's envelope; never mentions the key that was sent."""
    if family == COMETAPI:
        return cometapi_error(401, "Invalid Token")
    if family == FAL:
        return fal_error(401, "Invalid Key: pass 'Authorization: Key <FAL_KEY>'")
    if family == TOGETHER:
        return openai_error(
            401, "Invalid API key provided", "invalid_request_error", "invalid_api_key"
        )
    return problem(401, "Unauthenticated", "You did not pass a valid authentication token")


def not_found(family: str, what: str) -> JSONResponse:
    """404 for an unknown model or prediction id."""
    if family == COMETAPI:
        return cometapi_error(404, f"{what} not found")
    return problem(404, "Not found", f"The requested {what} could not be found.")


def bad_request(family: str, detail: str) -> JSONResponse:
    """400 for a body that is not JSON."""
    if family == COMETAPI:
        return cometapi_error(400, detail, code="invalid_request")
    return problem(400, "Bad request", detail)


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


def fault_response(fault: HttpFault, family: str, faults: FaultConfig) -> Response:
    """The answer for an injected API fault (create or query)."""
    if fault.kind == "rate_limited":
        seconds = _seconds(faults.retry_after)
        message = f"Request was throttled. Your rate limit resets in ~{seconds}s."
        headers = {"Retry-After": seconds, "ratelimit-remaining": "0", "ratelimit-reset": seconds}
        if family == TOGETHER:
            response = openai_error(429, message, "rate_limit_exceeded", "rate_limit_exceeded")
            response.headers.update(headers)
            return response
        return JSONResponse({"detail": message}, status_code=429, headers=headers)
    if family in (FAL, TOGETHER) and fault.kind in ("insufficient_credit", "invalid_request"):
        return _fault_in_family(fault, family)
    if fault.kind == "insufficient_credit":
        if family == COMETAPI:
            return cometapi_error(402, "Insufficient account balance", code="insufficient_quota")
        return problem(
            402, "Insufficient credit", "You have insufficient credit to run this model."
        )
    if fault.kind == "invalid_request":
        # CometAPI answers some caller mistakes with 500 + code invalid_request: not retryable.
        return cometapi_error(500, "invalid request: mock create_errors", code="invalid_request")
    if fault.kind == "html":
        return proxy_page(fault.status)
    if fault.kind == "redirect":
        return RedirectResponse("/mock/elsewhere", status_code=302)
    phrase = _PHRASES.get(fault.status, "Error")
    if family == TOGETHER:
        return openai_error(fault.status, phrase, "server_error")
    return JSONResponse({"detail": phrase}, status_code=fault.status)


def _fault_in_family(fault: HttpFault, family: str) -> JSONResponse:
    # No credit: 402. A caller's mistake (create_errors): fal's 422, Together's 400.
    if fault.kind == "insufficient_credit":
        message = "Exhausted balance: top up your account to continue."
        if family == FAL:
            return fal_error(402, message)
        return openai_error(402, message, "insufficient_quota", "insufficient_quota")
    if family == FAL:
        return fal_validation([("prompt", "mock create_errors: input refused", "value_error")])
    return openai_error(
        400, "invalid request: mock create_errors", "invalid_request_error", "invalid_request"
    )


def proxy_page(status: int) -> HTMLResponse:
    """An nginx-style HTML error page, as a proxy in front of an API answers."""
    phrase = _PHRASES.get(status, "Error")
    return HTMLResponse(_PROXY_PAGE.format(code=status, phrase=phrase), status_code=status)


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


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
