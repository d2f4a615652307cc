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

import httpx

from .errors import (
    ContentFilteredError,
    FluxError,
    MissingAPIKeyError,
    PredictionAbortedError,
    PredictionCanceledError,
    PredictionFailedError,
    ProtocolError,
    clip,
    redact_secrets,
)
from .http_errors import json_body, where

MODEL = "black-forest-labs/flux-schnell"
FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})


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
    body = json_body(response)
    if not isinstance(body, dict):
        raise ProtocolError(
            f"expected a prediction object from {where(response)}, got {_quote(body)}"
        )
    prediction_id, status = body.get("id"), body.get("status")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise ProtocolError(f"the prediction from {where(response)} has no id")
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
        predict_time=_seconds(predict_time),
        duration=_seconds_between(body.get("created_at"), body.get("completed_at")),
    )


def _quote(value: object) -> str:
    """A server value for a message: its repr, redacted first, then cut to 80 characters."""
    return clip(redact_secrets(repr(value)), 80)


def _seconds(value: object) -> float | None:
    """A finite, non-negative number of seconds from the server, else None (NaN, -1, "3")."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


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
    # A completion before the creation is a clock fault, not a zero-second generation.
    seconds = (finish - begin).total_seconds()
    return seconds if seconds >= 0 else None


def _output_urls(output: object, prediction_id: str) -> tuple[str, ...]:
    # flux-schnell answers a list of URLs; some models answer a single string (PROTOCOL.md).
    if output is None:
        return ()
    items = [output] if isinstance(output, str) else output
    if not isinstance(items, list) or not all(isinstance(u, str) for u in items):
        raise ProtocolError(
            f"prediction {prediction_id} has an output that is not URLs: {_quote(output)}"
        )
    for url in items:
        if not url.startswith(("http://", "https://")):
            raise ProtocolError(
                f"prediction {prediction_id} has an output that is not a URL: {_quote(url)}"
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
