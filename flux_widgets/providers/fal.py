"""fal.ai's queue: submit, poll the status (queue position, logs), fetch the result, cancel.

Wire facts (docs/protocol.md, "fal.ai queue"): ``Authorization: Key <key>``; submit
``POST {base}/fal-ai/flux/schnell`` with the input as the body; status, result and cancel live
under ``{base}/fal-ai/flux/requests/{id}`` (the app id without ``/schnell``, as fal's own clients
strip it); statuses ``IN_QUEUE`` (``queue_position``), ``IN_PROGRESS`` (logs), ``COMPLETED``; a
failed request shows ``COMPLETED`` and its result fetch answers an error; cancel is a ``PUT``.
The result lists images on fal's CDN (public, no key), the seed used, and ``has_nsfw_concepts``.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ..errors import (
    ContentFilteredError,
    FluxError,
    PredictionCanceledError,
    PredictionFailedError,
    ProtocolError,
)
from ..params import FluxParams
from ..transport.http_errors import error_details, where
from .base import (
    NSFW_MARKERS,
    FieldMap,
    Job,
    Output,
    Provider,
    Request,
    data_uri,
    http_url,
    json_object,
    quote,
    updated,
)
from .pricing import Price

logger = logging.getLogger("flux_widgets")

APP_ID = "fal-ai/flux/schnell"
# Status, result and cancel drop the endpoint's subpath: fal-ai/flux, not fal-ai/flux/schnell.
REQUESTS_ROOT = "fal-ai/flux"
# fal's input (docs/protocol.md, "Input fields" of fal): image_size in pixels (from aspect ratio
# and megapixels), the inverse of our safety switch, jpeg/png only (no webp); no go_fast and no
# quality setting, so fal cannot honour those (Provider.capabilities).
FIELD_MAP = FieldMap(
    keys={
        "prompt": "prompt",
        "aspect_ratio": "image_size",
        "megapixels": "image_size",
        "num_inference_steps": "num_inference_steps",
        "num_outputs": "num_images",
        "seed": "seed",
        "disable_safety_checker": "enable_safety_checker",
        "output_format": "output_format",
    },
    values={"output_format": {"jpg": "jpeg", "png": "png"}},
    computed=frozenset({"aspect_ratio", "megapixels", "disable_safety_checker"}),
)
_NSFW_MESSAGE = (
    "fal's safety checker flagged every image of this request (it returns them black); try "
    "another prompt"
)


class FalQueue(Provider):
    """FLUX.1 [schnell] on fal.ai through its queue API."""

    name = "fal"
    title = "fal.ai"
    family = "fal queue"
    default_base_url = "https://queue.fal.run"
    key_env_vars = ("FAL_KEY",)
    console = "https://fal.ai/dashboard/keys"
    auth_scheme = "Key"
    field_map = FIELD_MAP
    price = Price(per_megapixel=0.003, source="fal.ai model page", as_of="2026-01")
    cancel_note = (
        "Cancel cancels the request on fal (PUT .../requests/{id}/cancel): it leaves the queue, "
        "or the runner is told to stop"
    )

    def create_request(
        self, params: FluxParams, base_url: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        # The queue has no synchronous wait: sync_wait does not apply.
        return Request("POST", f"{base_url}/{APP_ID}", json=request_body(params))

    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        body = json_object(response, "a queue submission (request_id)")
        request_id = body.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise ProtocolError(f"the submission answer from {where(response)} has no request_id")
        # Some answers carry only the id and URLs (fal's own examples): a new request is queued.
        return _status_job(request_id, {"status": "IN_QUEUE", **body})

    def poll_request(self, job: Job, base_url: str) -> Request:
        root = f"{base_url}/{REQUESTS_ROOT}/requests/{job.id}"
        if job.fetch_result:
            return Request("GET", root)
        return Request("GET", f"{root}/status", params={"logs": "1"})

    def read_polled(self, response: httpx.Response, job: Job, params: FluxParams) -> Job:
        if job.fetch_result:
            return _result_job(job, json_object(response, "a result object"), params)
        return _status_job(job.id, json_object(response, "a queue status"), previous=job)

    def cancel_request(self, job: Job, base_url: str) -> Request | None:
        # 202 CANCELLATION_REQUESTED, or 400 ALREADY_COMPLETED (read_canceled tells them apart).
        return Request("PUT", f"{base_url}/{REQUESTS_ROOT}/requests/{job.id}/cancel")

    def read_canceled(self, response: httpx.Response, job: Job) -> Job | None:
        # docs/protocol.md, "fal.ai queue": 400 {"status": "ALREADY_COMPLETED"} means the request
        # finished before the cancel arrived: its result (paid for) is fetched like a COMPLETED
        # status's. A failed request also shows COMPLETED: the result fetch then says so.
        try:
            body = response.json()
        except ValueError:
            return None
        if isinstance(body, dict) and body.get("status") == "ALREADY_COMPLETED":
            return updated(
                job, status="processing", detail="fetching the result", fetch_result=True
            )
        return None  # CANCELLATION_REQUESTED (or an error): nothing more is known

    def error_for(
        self, response: httpx.Response, job: Job | None, api_key: str | None
    ) -> FluxError:
        if job is None or not job.fetch_result or response.status_code not in (400, 500):
            return super().error_for(response, job, api_key)
        # docs/protocol.md [seen]: a failed request shows COMPLETED and its result fetch answers an
        # error: the generation failed (not our request), and fetching again cannot help.
        detail = error_details(response, api_key)[0]  # redacted, then clipped
        text = detail or f"the result fetch answered {response.status_code}"
        if any(marker in text.lower() for marker in NSFW_MARKERS):
            return ContentFilteredError(
                f"the safety checker refused this image: {text}",
                provider_message=text,
                prediction_id=job.id,
            )
        if "cancel" in text.lower():
            return PredictionCanceledError(f"request {job.id} was cancelled", prediction_id=job.id)
        return PredictionFailedError(
            f"the generation failed on fal: {text}", provider_message=text, prediction_id=job.id
        )


def request_body(params: FluxParams) -> dict[str, Any]:
    """fal's input for ``params`` (docs/protocol.md, "Input fields" of fal)."""
    width, height = params.pixel_size()
    body = FIELD_MAP.body(params)
    body["image_size"] = {"width": width, "height": height}
    # fal's switch is the inverse of Replicate's disable_safety_checker.
    body["enable_safety_checker"] = not params.disable_safety_checker
    return body


def _status_job(request_id: str | None, body: dict[str, Any], previous: Job | None = None) -> Job:
    status = body.get("status")
    base = previous or Job(id=request_id, status="starting")
    if status == "IN_QUEUE":
        position = body.get("queue_position")
        detail = "in queue"
        if isinstance(position, int) and not isinstance(position, bool):
            detail = "next in queue" if position == 0 else f"in queue, position {position}"
        return updated(base, status="starting", detail=detail)
    if status == "IN_PROGRESS":
        return updated(base, status="processing", detail=_last_log(body) or "generating")
    if status == "COMPLETED":
        return updated(base, status="processing", detail="fetching the result", fetch_result=True)
    if status == "FAILED":  # [guess] listed by some schemas
        reason = str(body.get("error") or "no reason given")
        return updated(
            base,
            status="failed",
            ready=True,
            error=PredictionFailedError(
                f"the generation failed on fal: {reason}",
                provider_message=reason,
                prediction_id=request_id,
            ),
        )
    if status in ("CANCELED", "CANCELLED"):  # [guess] listed by some schemas
        return updated(
            base,
            status="canceled",
            ready=True,
            error=PredictionCanceledError(
                f"request {request_id} was cancelled", prediction_id=request_id
            ),
        )
    if not isinstance(status, str):
        raise ProtocolError(f"fal request {request_id} has no status")
    # Unknown statuses count as pending (docs/protocol.md); the deadline bounds the wait.
    return updated(base, status=status, detail=status.lower().replace("_", " "))


def _last_log(body: dict[str, Any]) -> str:
    logs = body.get("logs")
    if not isinstance(logs, list):
        return ""
    for entry in reversed(logs):
        message = entry.get("message") if isinstance(entry, dict) else None
        if isinstance(message, str) and message.strip():
            return message.strip()[:200]
    return ""


def _result_job(job: Job, body: dict[str, Any], params: FluxParams) -> Job:
    images = body.get("images")
    if not isinstance(images, list) or not images:
        raise ProtocolError(f"fal request {job.id} completed but its result lists no images")
    flags = body.get("has_nsfw_concepts")
    flagged = flags if isinstance(flags, list) else []
    outputs: list[Output] = []
    for index, image in enumerate(images):
        url = image.get("url") if isinstance(image, dict) else None
        if index < len(flagged) and flagged[index] is True:
            continue  # a black placeholder, not the image (docs/protocol.md [seen])
        if http_url(url):
            outputs.append(Output(url=url))
        elif data_uri(url):  # sync_mode answers data URIs: decoded with the downloads' checks
            outputs.append(Output(data_uri=url))
        else:
            raise ProtocolError(f"fal request {job.id} has an image without a URL: {quote(image)}")
    if not outputs:
        return updated(
            job,
            status="failed",
            ready=True,
            fetch_result=False,
            error=ContentFilteredError(
                _NSFW_MESSAGE, provider_message="has_nsfw_concepts", prediction_id=job.id
            ),
        )
    if len(outputs) < len(images):
        logger.warning(
            "fal flagged %d of %d images of request %s as NSFW; keeping the others",
            len(images) - len(outputs),
            len(images),
            job.id,
        )
    seed = body.get("seed")
    timings = body.get("timings")
    inference = timings.get("inference") if isinstance(timings, dict) else None
    return updated(
        job,
        status="succeeded",
        detail="",
        outputs=tuple(outputs),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else params.seed,
        predict_time=float(inference) if isinstance(inference, int | float) else None,
        ready=True,
        fetch_result=False,
    )


FAL = FalQueue()
