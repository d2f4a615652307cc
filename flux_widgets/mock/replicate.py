"""Replicate's predictions protocol in the mock: create (with ``Prefer: wait``), query, cancel.

Routes (docs/protocol.md, "Replicate"): ``POST /v1/models/{owner}/{name}/predictions``,
``GET /v1/predictions/{id}``, ``POST /v1/predictions/{id}/cancel``, under a prefix (CometAPI
serves them under ``/replicate``: ``cometapi.py``). Bearer key; errors in problem+json; an
invalid input is a 422 naming every field. The prediction object is ``MockPrediction.to_json``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..params import FIELD_NAMES, FieldError, input_errors
from . import responses
from .endpoints import api_endpoint, files_base
from .family import MockFamily
from .predictions import MODEL, MockPrediction
from .state import MockState

_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait(?:\s*=\s*([0-9]+))?\s*(?:$|[,;])", re.IGNORECASE)
_SECRET_KEY = re.compile(r"key|token|secret|passw|auth|credential", re.IGNORECASE)
_MAX_WAIT = 60


class ReplicatePredictions(MockFamily):
    """The predictions routes under ``prefix`` ("" on Replicate's own host)."""

    name = "replicate"
    prefix = ""

    def sync_wait(self, state: MockState) -> bool:
        """Whether a create honours ``Prefer: wait`` (``MockConfig.sync_wait_replicate``)."""
        return state.config.sync_wait_replicate

    def routes(self) -> list[Route]:
        prefix = self.prefix
        return [
            Route(
                f"{prefix}/v1/models/{{owner}}/{{name}}/predictions",
                api_endpoint(self, _create),
                methods=["POST"],
            ),
            Route(f"{prefix}/v1/predictions/{{id}}", api_endpoint(self, _query), methods=["GET"]),
            Route(
                f"{prefix}/v1/predictions/{{id}}/cancel",
                api_endpoint(self, _cancel),
                methods=["POST"],
            ),
        ]


async def prediction_json(
    request: Request, state: MockState, prediction: MockPrediction
) -> dict[str, Any]:
    """The prediction object as the API sends it now (with ``data_uri_outputs``, its outputs
    as ``data:`` URIs, as Replicate answers for short-lived predictions: docs/protocol.md)."""
    body = prediction.to_json(
        state.now(),
        files_base_url=files_base(request, state),
        urls_base_url=state.config.urls_base_url,
    )
    if body["output"] and state.faults.data_uri_outputs:
        body["output"] = [
            await state.data_uri(prediction, index) for index in range(len(body["output"]))
        ]
    return body


def _prefer_wait(header: str | None) -> tuple[float, str] | None:
    """Seconds to hold the create and the Preference-Applied value, or None (no valid wait)."""
    if not header:
        return None
    match = _PREFER_WAIT.search(header)
    if match is None:
        return None
    if match.group(1) is None:
        return float(_MAX_WAIT), "wait"
    seconds = int(match.group(1))
    if not 1 <= seconds <= _MAX_WAIT:
        return None
    return float(seconds), f"wait={seconds}"


def _echo_input(data: dict[str, Any]) -> dict[str, Any]:
    # Unknown keys are ignored, as Replicate does, but one named like a secret is not echoed.
    return {k: v for k, v in data.items() if k in FIELD_NAMES or not _SECRET_KEY.search(k)}


async def _create(request: Request, state: MockState, family: ReplicatePredictions) -> Response:
    owner, name = request.path_params["owner"], request.path_params["name"]
    if f"{owner}/{name}" != MODEL:
        return family.not_found(f"model {owner}/{name}")
    fault = state.injector.on_create()
    if fault is not None:
        return family.fault_response(fault, state.faults)
    try:
        body = await request.json()
    except ValueError:
        return family.bad_request("The request body is not valid JSON.")
    data = body.get("input") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        message = 'input is required: send {"input": {"prompt": "..."}}'
        return responses.validation_failed([FieldError("input", message)], present=())
    errors = input_errors(data)
    if errors:
        return responses.validation_failed(errors, present=list(data))

    prediction = state.start(_echo_input(data), prompt=data["prompt"], family=family.name)

    if state.faults.create_delay > 0:
        # The prediction has started (and is paid for); only the answer is late.
        await asyncio.sleep(state.faults.create_delay)
    headers: dict[str, str] = {}
    wait = _prefer_wait(request.headers.get("prefer")) if family.sync_wait(state) else None
    if wait is not None:
        seconds, applied = wait
        await prediction.wait_final(seconds)
        headers["Preference-Applied"] = applied
    return JSONResponse(
        await prediction_json(request, state, prediction), status_code=201, headers=headers
    )


async def _query(request: Request, state: MockState, family: MockFamily) -> Response:
    if state.faults.query_delay > 0:
        await asyncio.sleep(state.faults.query_delay)
    fault = state.injector.on_query()
    if fault is not None:
        return family.fault_response(fault, state.faults)
    prediction = state.predictions.get(request.path_params["id"])
    if prediction is None:
        return family.not_found("prediction")
    return JSONResponse(await prediction_json(request, state, prediction))


async def _cancel(request: Request, state: MockState, family: MockFamily) -> Response:
    if state.faults.cancel_missing:
        # CometAPI does not document the cancel route (docs/protocol.md): clients must cope.
        return family.not_found("route")
    prediction = state.predictions.get(request.path_params["id"])
    if prediction is None:
        return family.not_found("prediction")
    if state.injector.cancel_arrives_late():
        prediction.finish_now(state.now())
    prediction.cancel(state.now())
    return JSONResponse(await prediction_json(request, state, prediction))


REPLICATE = ReplicatePredictions()
