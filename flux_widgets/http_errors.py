"""HTTP error answers as typed errors: status codes, error envelopes, Retry-After.

Provider-neutral: every protocol family's error body (CometAPI's and OpenAI's ``{"error": {...}}``
envelope, Replicate's problem+json, FastAPI's ``{"detail": [...]}``) is read here, and the status
code decides the error type. Pure functions, no I/O.
"""

from __future__ import annotations

import datetime as dt
import math
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from .errors import (
    APIError,
    AuthenticationError,
    FluxError,
    InsufficientCreditError,
    InvalidRequestError,
    ProtocolError,
    RateLimitError,
    ServerError,
    redact,
)

# The most we honour of a server's Retry-After: longer waits are better reported than slept.
MAX_RETRY_AFTER = 60.0


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The server's Retry-After (seconds or an HTTP date), capped; None when absent or bad."""
    value = response.headers.get("retry-after") or response.headers.get("ratelimit-reset")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - dt.datetime.now(dt.timezone.utc)).total_seconds()
    if math.isnan(seconds):  # float("nan") parses; a NaN sleep would fail later
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def error_from_response(
    response: httpx.Response, api_key: str | None = None, *, source: str = "the API"
) -> FluxError:
    """The typed error for an error answer from the API (any non-2xx).

    ``source`` names who answered in the messages ("the file host" for downloads).
    """
    status = response.status_code
    if 300 <= status < 400:
        location = redact(response.headers.get("location", "?"), api_key)
        return ProtocolError(
            f"{source} answered {status} redirecting to {location:.200}; redirects are not "
            "followed (it usually means a wrong base_url or path)"
        )
    detail, code, fields = error_details(response)
    detail = redact(detail, api_key)
    request_id = response.headers.get("x-request-id") or _request_id(detail)
    info: dict[str, Any] = {"status_code": status, "request_id": request_id, "detail": detail}
    suffix = f" ({detail})" if detail else ""
    if status in (401, 403):
        return AuthenticationError(
            f"{source} rejected the key ({status}{': ' + detail if detail else ''}); check "
            "that it is current and belongs to this provider",
            **info,
        )
    if status == 402:
        return InsufficientCreditError(
            f"the account has no credit left{suffix}: top it up at the provider's console", **info
        )
    if status == 429:
        after = retry_after_seconds(response)
        wait = f"; try again in about {after:.0f} s" if after is not None else ""
        return RateLimitError(f"too many requests{suffix}{wait}", retry_after=after, **info)
    if status in (400, 404, 405, 409, 413, 422) or code == "invalid_request":
        return InvalidRequestError(
            f"{source} refused the request ({status}){suffix}", invalid_fields=fields, **info
        )
    if status >= 500:
        # A 503 may say when to come back; the backoff honours it like a 429's.
        return ServerError(
            f"{source} failed with {status}{suffix}; try again shortly",
            retry_after=retry_after_seconds(response) if status == 503 else None,
            **info,
        )
    return APIError(f"unexpected answer {status} from {source}{suffix}", **info)


def error_details(response: httpx.Response) -> tuple[str, str, list[str]]:
    """Message, code and invalid fields from any family's error body.

    CometAPI's and OpenAI's (Together's) ``{"error": {"message", "type", "code"}}`` envelope,
    Replicate's problem+json (``title``, ``detail``, ``invalid_fields``), and FastAPI's (fal's)
    ``{"detail": [{"loc", "msg", "type"}]}`` or ``{"detail": "..."}``.
    """
    try:
        body = response.json()
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        text = response.text.strip()
        if text.startswith("<") or "html" in response.headers.get("content-type", ""):
            return "the server sent an HTML page instead of JSON", "", []
        return text[:200], "", []
    if not isinstance(body, dict):
        return str(body)[:200], "", []
    error = body.get("error")
    if isinstance(error, dict):  # CometAPI, OpenAI-style (Together)
        code = error.get("code") or error.get("type") or ""
        return str(error.get("message") or ""), str(code), []
    detail = body.get("detail")
    if isinstance(detail, list):  # FastAPI validation errors (fal)
        return _fastapi_details(detail)
    raw_fields = body.get("invalid_fields")
    fields = [
        str(f.get("field", ""))
        for f in (raw_fields if isinstance(raw_fields, list) else [])
        if isinstance(f, dict)
    ]
    parts = [str(body[k]).strip() for k in ("title", "detail") if body.get(k)]
    if not parts and isinstance(error, str):
        parts = [error]
    return ": ".join(parts), str(body.get("code") or ""), fields


def _fastapi_details(items: list[Any]) -> tuple[str, str, list[str]]:
    # {"loc": ["body", "num_images"], "msg": "...", "type": "less_than_equal"}: the field is the
    # location without the leading "body" (where FastAPI found it).
    messages, fields = [], []
    for item in items[:10]:
        if not isinstance(item, dict):
            messages.append(str(item)[:200])
            continue
        loc = item.get("loc")
        path = [str(p) for p in loc if p != "body"] if isinstance(loc, list) else []
        name = ".".join(path)
        if name:
            fields.append(name)
        message = str(item.get("msg") or item.get("type") or "invalid")
        messages.append(f"{name}: {message}" if name else message)
    return "; ".join(messages), "", fields


def _request_id(detail: str) -> str | None:
    marker = "request id:"
    if marker in detail:
        return detail.split(marker, 1)[1].strip(" )")
    return None


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested absurdly deep
        kind = response.headers.get("content-type", "unknown content type")
        raise ProtocolError(
            f"{where(response)} answered {response.status_code} with {kind}, not JSON; "
            "check base_url"
        ) from None


def where(response: httpx.Response) -> str:
    try:
        request = response.request
    except RuntimeError:  # a Response built by hand (tests, transports) may have no request
        return "the server"
    return f"{request.method} {request.url.copy_with(query=None)}"
