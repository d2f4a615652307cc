"""HTTP error answers as typed errors: status codes, error envelopes, Retry-After.

Provider-neutral: every protocol family's error body (CometAPI's and OpenAI's ``{"error": {...}}``
envelope, Replicate's problem+json, FastAPI's ``{"detail": [...]}``) is read here, and the status
code decides the error type. Pure functions, no I/O.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ..errors import (
    APIError,
    AuthenticationError,
    FluxError,
    InsufficientCreditError,
    InvalidRequestError,
    ProtocolError,
    RateLimitError,
    ServerError,
)
from .redaction import clip, redact, redact_secrets

# The most we honour of a server's Retry-After: longer waits are better reported than slept.
MAX_RETRY_AFTER = 60.0
# How much of a server's error text a message quotes (after redaction).
MAX_DETAIL = 200
# What a person can change when the API address is wrong: the client's ``base_url``, or in the
# studio and the magic (which have no such field) the environment variable it defaults to.
CHECK_ADDRESS = "the API address (base_url, or FLUX_BASE_URL in the environment)"
# S3, GCS and Azure storage answer errors as <Error><Code>...</Code><Message>...</Message>.
_XML_FIELD = re.compile(r"<(Code|Message)>\s*([^<]{0,500}?)\s*</\1>", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>\s*([^<]{0,200}?)\s*</title>", re.IGNORECASE)


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
        location = clip(_clean(response.headers.get("location", "?"), api_key), MAX_DETAIL)
        return ProtocolError(
            f"{source} answered {status} redirecting to {location}; redirects are not "
            f"followed (it usually means a wrong path or {CHECK_ADDRESS})"
        )
    detail, code, fields = error_details(response, api_key)
    header_id = response.headers.get("x-request-id")
    request_id = clip(_clean(header_id, api_key), 100) if header_id else _request_id(detail)
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


def _clean(text: str, api_key: str | None) -> str:
    """Server text made safe to quote: the key (and its slices) redacted, before any cut."""
    return redact_secrets(redact(text, api_key))


def error_details(
    response: httpx.Response, api_key: str | None = None
) -> tuple[str, str, list[str]]:
    """Message, code and invalid fields of an error answer, redacted first and then clipped.

    JSON: a CometAPI/OpenAI (Together) ``{"error": {"message", "type", "code"}}`` envelope,
    Replicate problem+json, FastAPI's (fal's) ``{"detail": [{"loc", "msg", "type"}]}`` or
    ``{"detail": "..."}``, or any other shape. Anything
    else is described by what it is: an XML storage error by its Code and Message, an HTML
    page by its title, plain text quoted, other types named by their content type.
    """
    try:
        body = response.json()
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return clip(_describe_non_json(response, api_key), MAX_DETAIL * 2), "", []
    code, fields = "", []
    if not isinstance(body, dict):
        detail = str(body)
    elif isinstance(body.get("error"), dict):  # CometAPI, OpenAI-style (Together)
        error = body["error"]
        detail = str(error.get("message") or "")
        code = str(error.get("code") or error.get("type") or "")
    elif isinstance(body.get("detail"), list):  # FastAPI validation errors (fal)
        detail, raw = _fastapi_details(body["detail"])
        fields = [clip(_clean(f, api_key), 80) for f in raw]
    else:
        raw_fields = body.get("invalid_fields")
        fields = [
            clip(_clean(str(f.get("field", "")), api_key), 80)
            for f in (raw_fields if isinstance(raw_fields, list) else [])
            if isinstance(f, dict)
        ]
        parts = [str(body[k]).strip() for k in ("title", "detail") if body.get(k)]
        if not parts and isinstance(body.get("error"), str):
            parts = [body["error"]]
        if not parts and body:  # an unknown shape: show it rather than nothing
            parts = [str(body)]
        detail, code = ": ".join(parts), str(body.get("code") or "")
    return clip(_clean(detail, api_key), MAX_DETAIL), clip(_clean(code, api_key), 60), fields


def _fastapi_details(items: list[Any]) -> tuple[str, list[str]]:
    # {"loc": ["body", "num_images"], "msg": "...", "type": "less_than_equal"}: the field is the
    # location without the leading "body" (where FastAPI found it).
    messages, fields = [], []
    for item in items[:10]:
        if not isinstance(item, dict):
            messages.append(str(item))
            continue
        loc = item.get("loc")
        name = ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
        if name:
            fields.append(name)
        message = str(item.get("msg") or item.get("type") or "invalid")
        messages.append(f"{name}: {message}" if name else message)
    return "; ".join(messages), fields


def _describe_non_json(response: httpx.Response, api_key: str | None) -> str:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = _clean(response.text.strip(), api_key)
    except (UnicodeDecodeError, LookupError):
        text = ""
    if "xml" in kind or text.startswith(("<?xml", "<Error")):
        fields = dict((k.lower(), v) for k, v in _XML_FIELD.findall(text))
        said = ": ".join(fields[k] for k in ("code", "message") if fields.get(k))
        return f"an XML error ({said})" if said else "an XML body instead of JSON"
    if "html" in kind or text.lower().startswith(("<!doctype html", "<html")):
        title = _HTML_TITLE.search(text)
        named = f" (titled {title.group(1)!r})" if title and title.group(1) else ""
        return f"the server sent an HTML page instead of JSON{named}"
    if kind.startswith("text/") or (not kind and text.isprintable()):
        return text
    return f"a {kind or 'body of no content type'} instead of JSON ({len(response.content)} bytes)"


def _request_id(detail: str) -> str | None:
    marker = "request id:"
    if marker in detail:
        return detail.split(marker, 1)[1].strip(" )")
    return None


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested absurdly deep
        kind = clip(_clean(response.headers.get("content-type", "no content type"), None), 100)
        raise ProtocolError(
            f"{where(response)} answered {response.status_code} with {kind}, not JSON; "
            f"check {CHECK_ADDRESS}"
        ) from None


def where(response: httpx.Response) -> str:
    try:
        request = response.request
    except RuntimeError:  # a Response built by hand (tests, transports) may have no request
        return "the server"
    return f"{request.method} {request.url.copy_with(query=None)}"
