"""Replicate's predictions protocol, served by CometAPI (under ``/replicate``) and Replicate.

create (``Prefer: wait`` holds it until done) -> query the prediction until its status is final
-> the output URLs (``replicate.delivery``, no key) -> cancel with ``POST .../cancel``. The seed
used is in the logs (``Using seed: N``). Wire facts: docs/protocol.md, "CometAPI" and "Replicate".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from dataclasses import dataclass

import httpx

from ..errors import (
    ContentFilteredError,
    FluxError,
    PredictionAbortedError,
    PredictionCanceledError,
    PredictionFailedError,
    ProtocolError,
)
from ..params import FluxParams
from ..transport.http_errors import where
from .base import (
    NSFW_MARKERS,
    Job,
    Provider,
    Request,
    data_uri,
    http_url,
    json_object,
    output_of,
    quote,
)
from .pricing import Price

MODEL = "black-forest-labs/flux-schnell"
# Replicate accepts Prefer: wait=1..60 seconds. We ask for a short hold: schnell is done in about
# a second (docs/protocol.md: predict_time 0.5-0.9 s), a longer generation is polled instead,
# and the prediction id arrives only with the answer, so a cancel pressed during a hold can
# reach the server no sooner than the hold ends.
MAX_SYNC_WAIT = 60
SYNC_HOLD = 5
_SEED_IN_LOGS = re.compile(r"Using seed:\s*(-?\d+)")


def seed_from_logs(logs: str | None) -> int | None:
    """The seed the model reports in its logs (``Using seed: N``), if any."""
    match = _SEED_IN_LOGS.search(logs or "")
    return int(match.group(1)) if match else None


class ReplicatePredictions(Provider):
    """The predictions protocol at ``base_url + api_prefix`` (CometAPI: ``/replicate``).

    Every schema field is an input of the model (the default ``field_map``), so every value is
    honoured. ``quota_path`` is the host's key-usage route, if it has one (CometAPI's).
    """

    family = "Replicate predictions"

    def __init__(
        self,
        name: str,
        *,
        title: str,
        default_base_url: str,
        api_prefix: str,
        key_env_vars: tuple[str, ...],
        console: str,
        cancel_note: str,
        price: Price,
        quota_path: str | None = None,
    ) -> None:
        self.name = name
        self.title = title
        self.default_base_url = default_base_url
        self.api_prefix = api_prefix
        self.key_env_vars = key_env_vars
        self.console = console
        self.cancel_note = cancel_note
        self.price = price
        self.quota_path = quota_path

    def quota_request(self, base_url: str) -> Request | None:
        if self.quota_path is None:
            return None
        return Request("GET", f"{base_url}{self.quota_path}")

    def create_url(self, base_url: str) -> str:
        return f"{base_url}{self.api_prefix}/v1/models/{MODEL}/predictions"

    # docs/protocol.md: urls.get/cancel point at api.replicate.com even on CometAPI; never follow
    # them. The query and cancel URLs are built from the id and our own base URL.
    def query_url(self, base_url: str, prediction_id: str) -> str:
        return f"{base_url}{self.api_prefix}/v1/predictions/{prediction_id}"

    def cancel_url(self, base_url: str, prediction_id: str) -> str:
        return f"{self.query_url(base_url, prediction_id)}/cancel"

    def create_request(
        self, params: FluxParams, base_url: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        headers: dict[str, str] = {}
        hold = 0.0
        if sync_wait:
            # Short (see SYNC_HOLD), and a few seconds before our own deadline.
            wait = max(1, min(MAX_SYNC_WAIT, SYNC_HOLD, int(deadline) - 5))
            headers["Prefer"] = f"wait={wait}"
            hold = float(wait)
        return Request(
            "POST",
            self.create_url(base_url),
            json={"input": self.field_map.body(params)},
            headers=headers,
            hold=hold,
        )

    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        return _job(parse_prediction(response), params)

    def poll_request(self, job: Job, base_url: str) -> Request:
        assert job.id is not None  # a prediction always has one (parse_prediction checks)
        return Request("GET", self.query_url(base_url, job.id))

    def read_polled(self, response: httpx.Response, job: Job, params: FluxParams) -> Job:
        return _job(parse_prediction(response), params)

    def cancel_request(self, job: Job, base_url: str) -> Request | None:
        if job.id is None:
            return None
        return Request("POST", self.cancel_url(base_url, job.id))

    def read_canceled(self, response: httpx.Response, job: Job) -> Job | None:
        # docs/protocol.md: a 2xx answer is the prediction, which may have succeeded before the
        # cancel arrived (its outputs paid for); CometAPI may lack the route (404): nothing said.
        if not response.is_success:
            return None
        # Its seed as the job knew it (the logs may be cut).
        answer = _job(parse_prediction(response), None)
        return answer if answer.seed is not None else dataclasses.replace(answer, seed=job.seed)


def _job(prediction: Prediction, params: FluxParams | None) -> Job:
    """The job a prediction shows (``params``: what was asked, when known)."""
    final = prediction.is_final
    failed = final and prediction.status != "succeeded"
    asked = params.seed if params is not None else None
    seed = asked if asked is not None else seed_from_logs(prediction.logs)
    wanted = params.num_outputs if params is not None else None
    return Job(
        id=prediction.id,
        status=prediction.status,
        outputs=tuple(output_of(value) for value in prediction.output),
        seed=seed,
        predict_time=prediction.predict_time,
        duration=prediction.duration,
        error=final_status_error(prediction) if failed else None,
        # docs/protocol.md: a sync answer may already list every output while still "processing".
        ready=final or (wanted is not None and len(prediction.output) >= wanted),
    )


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
        return self.status in ("succeeded", "failed", "canceled", "aborted")


def parse_prediction(response: httpx.Response) -> Prediction:
    """Read a prediction from a create or query answer, or raise a ProtocolError that says why."""
    body = json_object(response, "a prediction object")
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


def _seconds(value: object) -> float | None:
    """A finite, non-negative number of seconds from the server, else None (NaN, -1, "3")."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# Timestamps come with milli- or nanosecond fractions (docs/protocol.md); Python reads 6 digits.
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
    # flux-schnell answers a list of URLs; some models answer a single string; a short-lived
    # prediction may answer data: URIs instead of URLs (docs/protocol.md, "Replicate itself").
    if output is None:
        return ()
    items = [output] if isinstance(output, str) else output
    if not isinstance(items, list) or not all(isinstance(u, str) for u in items):
        raise ProtocolError(
            f"prediction {prediction_id} has an output that is not URLs: {quote(output)}"
        )
    for url in items:
        if not (http_url(url) or data_uri(url)):
            raise ProtocolError(
                f"prediction {prediction_id} has an output that is not a URL: {quote(url)}"
            )
    return tuple(items)


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
    if any(marker in text.lower() for marker in NSFW_MARKERS):
        return ContentFilteredError(
            f"the safety checker refused this image: {text}",
            provider_message=text,
            prediction_id=pid,
        )
    return PredictionFailedError(
        f"the generation failed on the server: {text}", provider_message=text, prediction_id=pid
    )


COMETAPI = ReplicatePredictions(
    "cometapi",
    title="CometAPI",
    default_base_url="https://api.cometapi.com",
    api_prefix="/replicate",
    key_env_vars=("COMETAPI_KEY", "FLUX_API_KEY"),
    console="https://api.cometapi.com/console/token",
    # docs/protocol.md: CometAPI does not document the cancel route [guess: Replicate's].
    cancel_note=(
        "Cancel asks CometAPI to cancel the prediction (POST .../cancel, Replicate's route; "
        "CometAPI does not document it, and where it is missing the prediction runs to the end)"
    ),
    # docs/protocol.md, "Prices per image": CometAPI publishes no per-image price.
    price=Price(source="not published per image by CometAPI: set FLUX_PRICES", as_of=""),
    # docs/protocol.md, "CometAPI key usage".
    quota_path="/api/usage/token",
)
REPLICATE = ReplicatePredictions(
    "replicate",
    title="Replicate",
    default_base_url="https://api.replicate.com",
    api_prefix="",
    key_env_vars=("REPLICATE_API_TOKEN",),
    console="https://replicate.com/account/api-tokens",
    cancel_note="Cancel cancels the prediction on Replicate (POST /v1/predictions/{id}/cancel)",
    price=Price(per_image=0.003, source="replicate.com model page", as_of="2026-01"),
)
