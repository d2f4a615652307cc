"""fal.ai's queue API in the mock: submit, status (queue position, logs), result, cancel.

Routes (docs/protocol.md, "fal.ai queue"), under the server's root as under ``https://queue.fal.run``:
``POST /fal-ai/flux/schnell``, ``GET /fal-ai/flux/requests/{id}/status[?logs=1]``,
``GET /fal-ai/flux/requests/{id}``, ``PUT /fal-ai/flux/requests/{id}/cancel`` (no ``/schnell``
after submit, as on fal: a client that keeps it gets a 404). The key goes in
``Authorization: Key <key>``. A request sits ``IN_QUEUE`` while a Replicate prediction would be
``starting`` (its position counts the fal requests queued before it), then ``IN_PROGRESS`` with
logs, then ``COMPLETED`` whatever the outcome: a failed or cancelled request shows it only when
its result is fetched (an error answer), and ``[mock:nsfw]`` gives images flagged in
``has_nsfw_concepts``, as fal does. The faults apply to submit (creates), status and result
(queries) and to the files, as for the other families.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..params import FluxParams
from . import responses
from .endpoints import api_endpoint, files_base
from .family import MockFamily
from .faults import NSFW_ERROR
from .predictions import FINAL_STATUSES, MockPrediction, iso_timestamp
from .state import MockState

APP_PATH = "/fal-ai/flux/schnell"
REQUESTS_PATH = "/fal-ai/flux/requests"
IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
_FORMATS = {"jpeg": "jpg", "png": "png"}
_ACCELERATIONS = ("none", "regular", "high")
_MAX_SIDE = 4096
_CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png"}


class FalQueue(MockFamily):
    """fal's queue; the key in ``Key`` scheme, errors in FastAPI's ``{"detail": ...}``."""

    name = "fal"
    auth_scheme = "key"

    def routes(self) -> list[Route]:
        return [
            Route(APP_PATH, api_endpoint(self, _submit), methods=["POST"]),
            Route(f"{REQUESTS_PATH}/{{id}}/status", api_endpoint(self, _status), methods=["GET"]),
            Route(f"{REQUESTS_PATH}/{{id}}", api_endpoint(self, _result), methods=["GET"]),
            Route(f"{REQUESTS_PATH}/{{id}}/cancel", api_endpoint(self, _cancel), methods=["PUT"]),
        ]

    def unauthenticated(self) -> JSONResponse:
        return responses.fal_error(401, "Invalid Key: pass 'Authorization: Key <FAL_KEY>'")

    def not_found(self, what: str) -> JSONResponse:
        return responses.fal_error(404, "Request not found")

    def no_credit(self) -> JSONResponse:
        return responses.fal_error(402, "Exhausted balance: top up your account to continue.")

    def refused_request(self) -> JSONResponse:
        # A caller's mistake: FastAPI's 422.
        return responses.fal_validation(
            [("prompt", "mock create_errors: input refused", "value_error")]
        )


def read_input(data: dict[str, Any]) -> tuple[FluxParams, tuple[int, int]] | list[Any]:
    """The request as mock parameters and pixel size, or FastAPI-style errors for a 422.

    Unknown keys are ignored (FastAPI's default). ``num_inference_steps`` 1-12 is accepted, as
    fal does; the placeholder image does not depend on it.
    """
    errors: list[tuple[str, str, str]] = []
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        errors.append(("prompt", "Field required: a non-empty string", "missing"))
    size = _image_size(data.get("image_size", "landscape_4_3"), errors)
    steps = _integer(data, "num_inference_steps", 4, 1, 12, errors)
    count = _integer(data, "num_images", 1, 1, 4, errors)
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        errors.append(("seed", "Input should be a valid integer", "int_type"))
    for name in ("enable_safety_checker", "sync_mode"):
        if name in data and not isinstance(data[name], bool):
            errors.append((name, "Input should be a valid boolean", "bool_type"))
    output_format = data.get("output_format", "jpeg")
    if output_format not in _FORMATS:
        errors.append(("output_format", "Input should be 'jpeg' or 'png'", "enum"))
    if data.get("acceleration", "none") not in _ACCELERATIONS:
        errors.append(("acceleration", "Input should be 'none', 'regular' or 'high'", "enum"))
    if errors or size is None:
        return [{"loc": ["body", f], "msg": m, "type": t} for f, m, t in errors]
    params = FluxParams(
        prompt=str(prompt),
        num_outputs=count,
        num_inference_steps=min(steps, 4),
        seed=seed,
        output_format=_FORMATS[output_format],
        disable_safety_checker=data.get("enable_safety_checker", True) is False,
        go_fast=False,  # fal has no fp8 switch: a seed gives the same image
    )
    return params, size


def _integer(
    data: dict[str, Any],
    name: str,
    default: int,
    low: int,
    high: int,
    errors: list[tuple[str, str, str]],
) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append((name, "Input should be a valid integer", "int_type"))
        return default
    if not low <= value <= high:
        errors.append((name, f"Input should be between {low} and {high}", "range"))
        return default
    return value


def _image_size(value: object, errors: list[tuple[str, str, str]]) -> tuple[int, int] | None:
    if isinstance(value, str) and value in IMAGE_SIZES:
        return IMAGE_SIZES[value]
    if isinstance(value, dict):
        width, height = value.get("width"), value.get("height")
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (width, height)):
            assert isinstance(width, int) and isinstance(height, int)
            if 16 <= width <= _MAX_SIDE and 16 <= height <= _MAX_SIDE:
                return width, height
    names = ", ".join(IMAGE_SIZES)
    errors.append(
        ("image_size", f"Input should be one of {names} or {{width, height}}", "union_tag")
    )
    return None


def _urls(request: Request, request_id: str) -> dict[str, str]:
    root = f"{str(request.base_url).rstrip('/')}{REQUESTS_PATH}/{request_id}"
    return {"response_url": root, "status_url": f"{root}/status", "cancel_url": f"{root}/cancel"}


def _queue_position(state: MockState, prediction: MockPrediction, now: float) -> int:
    # Requests ahead of it that are still queued (insertion order is creation order).
    ahead = 0
    for other in state.predictions.values():
        if other is prediction:
            break
        if other.family == prediction.family and other.status(now) == "starting":
            ahead += 1
    return ahead


async def _submit(request: Request, state: MockState, family: FalQueue) -> Response:
    fault = state.injector.on_create()
    if fault is not None:
        return family.fault_response(fault, state.faults)
    try:
        data = await request.json()
    except ValueError:
        return responses.fal_error(400, "The request body is not valid JSON.")
    if not isinstance(data, dict):
        return responses.fal_error(422, [{"loc": ["body"], "msg": "not an object", "type": "dict"}])
    read = read_input(data)
    if isinstance(read, list):
        return responses.fal_error(422, read)
    params, size = read
    prediction = state.start(
        {"prompt": params.prompt, "sync_mode": data.get("sync_mode") is True},
        prompt=params.prompt,
        params=params,
        family=family.name,
        size=size,
    )
    if state.faults.create_delay > 0:
        # The request is queued (and will be paid for); only the answer is late.
        await asyncio.sleep(state.faults.create_delay)
    body = {
        "request_id": prediction.id,
        **_urls(request, prediction.id),
        "status": "IN_QUEUE",
        "queue_position": _queue_position(state, prediction, state.now()),
    }
    return JSONResponse(body)


async def _query_fault(state: MockState, family: FalQueue) -> Response | None:
    if state.faults.query_delay > 0:
        await asyncio.sleep(state.faults.query_delay)
    fault = state.injector.on_query()
    return None if fault is None else family.fault_response(fault, state.faults)


async def _status(request: Request, state: MockState, family: FalQueue) -> Response:
    if (answer := await _query_fault(state, family)) is not None:
        return answer
    prediction = state.predictions.get(request.path_params["id"])
    if prediction is None or prediction.family != family.name:
        return family.not_found("request")
    now = state.now()
    status = prediction.status(now)
    body: dict[str, Any] = {"request_id": prediction.id, **_urls(request, prediction.id)}
    logs: list[dict[str, str]] = []
    if status == "starting":
        body.update(status="IN_QUEUE", queue_position=_queue_position(state, prediction, now))
    elif status in FINAL_STATUSES:
        body.update(status="COMPLETED", metrics={"inference_time": prediction.generation_time})
        logs = _logs(prediction, done=True)
    elif status == "processing":
        body["status"] = "IN_PROGRESS"
        logs = _logs(prediction, done=False)
    else:  # [mock:unknown-status]: a status no documentation lists
        body["status"] = status.upper()
    if request.query_params.get("logs") in ("1", "true"):
        body["logs"] = logs
    return JSONResponse(body)


def _logs(prediction: MockPrediction, *, done: bool) -> list[dict[str, str]]:
    stamp = iso_timestamp(prediction.created_ns)
    lines = [f"Using seed: {prediction.seed}"]
    if done:
        steps = prediction.params.num_inference_steps
        lines.append(f"{steps}/{steps} steps done")
    return [{"message": m, "level": "INFO", "source": "USER", "timestamp": stamp} for m in lines]


async def _result(request: Request, state: MockState, family: FalQueue) -> Response:
    if (answer := await _query_fault(state, family)) is not None:
        return answer
    prediction = state.predictions.get(request.path_params["id"])
    if prediction is None or prediction.family != family.name:
        return family.not_found("request")
    status = prediction.status(state.now())
    if status not in FINAL_STATUSES:
        return responses.fal_error(400, "Request is still in progress")
    nsfw = status == "failed" and prediction.outcome.error == NSFW_ERROR
    if status == "canceled":
        return responses.fal_error(400, "Request was cancelled")
    if status == "aborted":
        return responses.fal_error(500, "The request timed out before a runner took it")
    if status == "failed" and not nsfw:
        return responses.fal_error(500, prediction.outcome.error or "Internal error")
    count = prediction.params.num_outputs
    base = f"{files_base(request, state)}/files/{prediction.id}"
    width, height = prediction.size or prediction.params.pixel_size()
    content_type = _CONTENT_TYPES[prediction.params.output_format]
    # sync_mode: the images come inside the result as data URIs (docs/protocol.md).
    inline = prediction.input.get("sync_mode") is True
    images = [
        {
            "url": await state.data_uri(prediction, i)
            if inline
            else f"{base}/{prediction.file_name(i)}",
            "width": width,
            "height": height,
            "content_type": content_type,
        }
        for i in range(count)
    ]
    body = {
        "images": images,
        "timings": {"inference": prediction.generation_time},
        "seed": prediction.seed,
        # fal blacks out flagged images and says so here, instead of failing the request.
        "has_nsfw_concepts": [nsfw] * count,
        "prompt": prediction.params.prompt,
    }
    return JSONResponse(body)


async def _cancel(request: Request, state: MockState, family: FalQueue) -> Response:
    prediction = state.predictions.get(request.path_params["id"])
    if prediction is None or prediction.family != family.name:
        return family.not_found("request")
    now = state.now()
    if state.injector.cancel_arrives_late():
        prediction.finish_now(now)
    if prediction.is_final(now):
        return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
    prediction.cancel(now)
    return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)


FAL = FalQueue()
