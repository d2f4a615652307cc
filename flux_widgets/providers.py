"""The two providers of flux-schnell: URLs, keys, request bodies, and reading their answers.

CometAPI (the default) proxies Replicate's format under ``/replicate``; Replicate is the same
protocol at the root. Everything here is pure: no I/O, so it is easy to test and to trust.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from .errors import (
    APIError,
    AuthenticationError,
    ContentFilteredError,
    FluxError,
    InsufficientCreditError,
    InvalidRequestError,
    MissingAPIKeyError,
    PredictionAbortedError,
    PredictionCanceledError,
    PredictionFailedError,
    ProtocolError,
    RateLimitError,
    ServerError,
    redact,
)

MODEL = "black-forest-labs/flux-schnell"
FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})
# The most we honour of a server's Retry-After: longer waits are better reported than slept.
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Provider:
    """Where one provider lives and where its key comes from."""

    name: str
    default_base_url: str
    api_prefix: str
    key_env_vars: tuple[str, ...]
    console: str

    def create_url(self, base_url: str) -> str:
        return f"{base_url}{self.api_prefix}/v1/models/{MODEL}/predictions"

    # PROTOCOL.md: urls.get/cancel point at api.replicate.com even on CometAPI; never follow
    # them. The query and cancel URLs are built from the id and our own base URL.
    def query_url(self, base_url: str, prediction_id: str) -> str:
        return f"{base_url}{self.api_prefix}/v1/predictions/{prediction_id}"

    def cancel_url(self, base_url: str, prediction_id: str) -> str:
        return f"{self.query_url(base_url, prediction_id)}/cancel"


COMETAPI = Provider(
    name="cometapi",
    default_base_url="https://api.cometapi.com",
    api_prefix="/replicate",
    key_env_vars=("COMETAPI_KEY", "FLUX_API_KEY"),
    console="https://api.cometapi.com/console/token",
)
REPLICATE = Provider(
    name="replicate",
    default_base_url="https://api.replicate.com",
    api_prefix="",
    key_env_vars=("REPLICATE_API_TOKEN",),
    console="https://replicate.com/account/api-tokens",
)
PROVIDERS: dict[str, Provider] = {p.name: p for p in (COMETAPI, REPLICATE)}


@dataclass(frozen=True)
class Settings:
    """Where and how to reach the API, resolved once from arguments and the environment."""

    provider: Provider
    base_url: str
    api_key: str | None = None
    use_mock: bool = False

    def __repr__(self) -> str:
        key = "set" if self.api_key else "missing"
        return f"Settings(provider={self.provider.name!r}, base_url={self.base_url!r}, key={key})"


def resolve_settings(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    provider: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the environment in one place; explicit arguments always win.

    ``FLUX_WIDGETS_MOCK=1`` asks for the in-package mock (the caller starts it); a
    ``FLUX_BASE_URL`` without a key is allowed, since a local server (the mock under nbval,
    a proxy) may not need one.
    """
    env = os.environ if environ is None else environ
    name = (provider or env.get("FLUX_PROVIDER") or COMETAPI.name).strip().lower()
    if name not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(map(repr, PROVIDERS))}, got {name!r}")
    chosen = PROVIDERS[name]
    use_mock = base_url is None and api_key is None and _truthy(env.get("FLUX_WIDGETS_MOCK"))
    url = (base_url or env.get("FLUX_BASE_URL") or chosen.default_base_url).rstrip("/")
    key = api_key or next((env[v] for v in chosen.key_env_vars if env.get(v)), None)
    if use_mock:
        return Settings(chosen, url, key, use_mock=True)
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
    if key is None and url == chosen.default_base_url:
        names = " or ".join(chosen.key_env_vars)
        raise MissingAPIKeyError(
            f"no API key for {chosen.name}: set {names} in the environment (get a key at "
            f"{chosen.console}), pass FluxClient(api_key=...), or use FluxClient.mock() "
            "to try everything offline with placeholder images"
        )
    return Settings(chosen, url, key)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Prediction:
    """The parts of a prediction object the client acts on."""

    id: str
    status: str
    output: tuple[str, ...]
    error: str | None
    logs: str
    predict_time: float | None
    # Server-side time from creation to completion: what the client learns its polling from.
    duration: float | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


def parse_prediction(response: httpx.Response) -> Prediction:
    """Read a prediction from a create or query answer, or raise a ProtocolError that says why."""
    body = _json_body(response)
    if not isinstance(body, dict):
        raise ProtocolError(
            f"expected a prediction object from {_where(response)}, got {body!r:.80}"
        )
    prediction_id, status = body.get("id"), body.get("status")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise ProtocolError(f"the prediction from {_where(response)} has no id")
    if not isinstance(status, str):
        raise ProtocolError(f"prediction {prediction_id} has no status")
    metrics = body.get("metrics")
    predict_time = metrics.get("predict_time") if isinstance(metrics, dict) else None
    return Prediction(
        id=prediction_id,
        status=status,
        output=_output_urls(body.get("output"), prediction_id),
        error=str(body["error"]) if body.get("error") else None,
        logs=logs if isinstance(logs := body.get("logs"), str) else "",
        predict_time=float(predict_time) if isinstance(predict_time, int | float) else None,
        duration=_seconds_between(body.get("created_at"), body.get("completed_at")),
    )


# Timestamps come with milli- or nanosecond fractions (PROTOCOL.md); Python reads 6 digits.
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


def parse_timestamp(value: object) -> dt.datetime | None:
    """An ISO-8601 timestamp with any fraction length; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.match(value.strip())
    if not match:
        return None
    whole, fraction, zone = match.groups()
    text = whole + "." + (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone in (None, "Z") else zone
    if len(zone) == 5:  # +0100 -> +01:00, which Python 3.10 needs
        zone = zone[:3] + ":" + zone[3:]
    try:
        return dt.datetime.fromisoformat(text + zone)
    except ValueError:
        return None


def _seconds_between(start: object, end: object) -> float | None:
    begin, finish = parse_timestamp(start), parse_timestamp(end)
    if begin is None or finish is None:
        return None
    return max((finish - begin).total_seconds(), 0.0)


def _output_urls(output: object, prediction_id: str) -> tuple[str, ...]:
    # flux-schnell answers a list of URLs; some models answer a single string (PROTOCOL.md).
    if output is None:
        return ()
    items = [output] if isinstance(output, str) else output
    if not isinstance(items, list) or not all(isinstance(u, str) for u in items):
        raise ProtocolError(
            f"prediction {prediction_id} has an output that is not URLs: {output!r:.80}"
        )
    for url in items:
        if not url.startswith(("http://", "https://")):
            raise ProtocolError(
                f"prediction {prediction_id} has an output that is not a URL: {url!r:.80}"
            )
    return tuple(items)


_NSFW_MARKERS = ("nsfw", "safety checker", "content detected")


def final_status_error(prediction: Prediction) -> FluxError:
    """The typed error for a prediction that ended without images."""
    pid = prediction.id
    if prediction.status == "canceled":
        return PredictionCanceledError(f"prediction {pid} was cancelled", prediction_id=pid)
    if prediction.status == "aborted":
        return PredictionAbortedError(
            f"prediction {pid} was aborted by the provider before it ran (its own deadline "
            "passed, usually under heavy load): try again",
            prediction_id=pid,
        )
    text = prediction.error or "no reason given"
    if any(marker in text.lower() for marker in _NSFW_MARKERS):
        return ContentFilteredError(
            f"the safety checker refused this image: {text}",
            provider_message=text,
            prediction_id=pid,
        )
    return PredictionFailedError(
        f"the generation failed on the server: {text}", provider_message=text, prediction_id=pid
    )


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
    detail, code, fields = _error_details(response)
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


def _error_details(response: httpx.Response) -> tuple[str, str, list[str]]:
    """Message, code and invalid fields from a CometAPI envelope or Replicate problem+json."""
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
    if isinstance(error, dict):  # CometAPI
        return str(error.get("message") or ""), str(error.get("code") or ""), []
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


def _request_id(detail: str) -> str | None:
    marker = "request id:"
    if marker in detail:
        return detail.split(marker, 1)[1].strip(" )")
    return None


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested absurdly deep
        kind = response.headers.get("content-type", "unknown content type")
        raise ProtocolError(
            f"{_where(response)} answered {response.status_code} with {kind}, not JSON; "
            "check base_url"
        ) from None


def _where(response: httpx.Response) -> str:
    try:
        request = response.request
    except RuntimeError:  # a Response built by hand (tests, transports) may have no request
        return "the server"
    return f"{request.method} {request.url.copy_with(query=None)}"
