"""The fake FLUX.1 [schnell] API as an ASGI app: every provider's routes, files, admin.

CometAPI and Replicate (here), fal's queue (``fal.py``), Together's images endpoint
(``images_api.py``); one file host for all.

Per-request work is a dict lookup and a small JSON answer; images are rendered in worker threads
as soon as a prediction is created, so downloads come from memory and the loop never blocks.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..params import FIELD_NAMES, FieldError, input_errors
from . import fal, images_api, responses
from .config import MockConfig
from .endpoints import api_endpoint, files_base, state_of
from .faults import FaultConfig
from .key_usage import KEY_USAGE_PATH, key_usage
from .predictions import MODEL, MockPrediction
from .responses import COMETAPI, REPLICATE, TOGETHER
from .state import MockState

_FILE_NAME = re.compile(r"out-([0-9]{1,2})\.(webp|jpg|png)")
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait(?:\s*=\s*([0-9]+))?\s*(?:$|[,;])", re.IGNORECASE)
_SECRET_KEY = re.compile(r"key|token|secret|passw|auth|credential", re.IGNORECASE)
_MAX_WAIT = 60
# What S3 answers for a presigned URL past its expiry.
S3_EXPIRED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Request has expired</Message><RequestId>MOCK0000</RequestId></Error>"
)


def create_app(config: MockConfig | None = None) -> Starlette:
    """A new mock API; its state (predictions, recorded requests, faults) is ``app.state.mock``."""
    state = MockState(config or MockConfig())
    routes: list[Route] = []
    for prefix, family in (("/replicate", COMETAPI), ("", REPLICATE)):
        routes += [
            Route(
                f"{prefix}/v1/models/{{owner}}/{{name}}/predictions",
                api_endpoint(family, _create),
                methods=["POST"],
            ),
            Route(f"{prefix}/v1/predictions/{{id}}", api_endpoint(family, _query), methods=["GET"]),
            Route(
                f"{prefix}/v1/predictions/{{id}}/cancel",
                api_endpoint(family, _cancel),
                methods=["POST"],
            ),
        ]
    routes += fal.routes() + images_api.routes()
    routes += [
        Route("/files/{id}/{name}", _file, methods=["GET"]),
        Route("/mock/requests", _requests, methods=["GET"]),
        Route("/mock/reset", _reset, methods=["POST"]),
        Route("/mock/faults", _faults, methods=["GET", "PUT"]),
        Route("/mock/health", _health, methods=["GET"]),
        Route("/mock/elsewhere", _elsewhere, methods=["GET"]),
        # CometAPI's key-usage route (docs/protocol.md), behind the same key check.
        Route(KEY_USAGE_PATH, api_endpoint(COMETAPI, key_usage), methods=["GET"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(_RecordRequests, state=state)])
    app.state.mock = state
    return app


# Every answer says it comes from the mock, so a client pointed here by FLUX_BASE_URL can tell
# its users plainly that the images are placeholders.
MOCK_HEADER = (b"x-flux-mock", b"placeholder images")


class _RecordRequests:
    """Pure ASGI middleware (no per-request task): records requests, labels every answer."""

    def __init__(self, app: ASGIApp, state: MockState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/mock/"):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            self.state.record(scope["method"], scope["path"], headers)

        async def labelled_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), MOCK_HEADER]
            await send(message)

        await self.app(scope, receive, labelled_send)


def _prediction_json(request: Request, state: MockState, prediction: MockPrediction) -> Any:
    return prediction.to_json(
        state.now(),
        files_base_url=files_base(request, state),
        urls_base_url=state.config.urls_base_url,
    )


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


async def _create(request: Request, state: MockState, family: str) -> Response:
    config = state.config
    owner, name = request.path_params["owner"], request.path_params["name"]
    if f"{owner}/{name}" != MODEL:
        return responses.not_found(family, f"model {owner}/{name}")
    fault = state.injector.on_create()
    if fault is not None:
        return responses.fault_response(fault, family, state.faults)
    try:
        body = await request.json()
    except ValueError:
        return responses.bad_request(family, "The request body is not valid JSON.")
    data = body.get("input") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        message = 'input is required: send {"input": {"prompt": "..."}}'
        return responses.validation_failed([FieldError("input", message)], present=())
    errors = input_errors(data)
    if errors:
        return responses.validation_failed(errors, present=list(data))

    prediction = state.start(_echo_input(data), prompt=data["prompt"])

    if state.faults.create_delay > 0:
        # The prediction has started (and is paid for); only the answer is late.
        await asyncio.sleep(state.faults.create_delay)
    headers: dict[str, str] = {}
    sync = config.sync_wait_cometapi if family == COMETAPI else config.sync_wait_replicate
    wait = _prefer_wait(request.headers.get("prefer")) if sync else None
    if wait is not None:
        seconds, applied = wait
        await prediction.wait_final(seconds)
        headers["Preference-Applied"] = applied
    return JSONResponse(
        _prediction_json(request, state, prediction), status_code=201, headers=headers
    )


async def _query(request: Request, state: MockState, family: str) -> Response:
    if state.faults.query_delay > 0:
        await asyncio.sleep(state.faults.query_delay)
    fault = state.injector.on_query()
    if fault is not None:
        return responses.fault_response(fault, family, state.faults)
    prediction = state.predictions.get(request.path_params["id"])
    if prediction is None:
        return responses.not_found(family, "prediction")
    return JSONResponse(_prediction_json(request, state, prediction))


async def _cancel(request: Request, state: MockState, family: str) -> Response:
    if state.faults.cancel_missing:
        # CometAPI does not document the cancel route (docs/protocol.md): clients must cope.
        return responses.not_found(family, "route")
    prediction = state.predictions.get(request.path_params["id"])
    if prediction is None:
        return responses.not_found(family, "prediction")
    prediction.cancel(state.now())
    return JSONResponse(_prediction_json(request, state, prediction))


async def _file(request: Request) -> Response:
    """An output file from the public delivery host: no key needed, 404 once expired."""
    state = state_of(request)
    text = request.query_params.get("hop", "0")
    hop = int(text) if text.isdigit() else 0
    if hop < state.faults.file_redirects:  # a CDN hop: counted per download, not consumed
        return RedirectResponse(f"{request.url.path}?hop={hop + 1}", status_code=302)
    if state.faults.file_delay > 0:
        await asyncio.sleep(state.faults.file_delay)
    fault = state.injector.on_file()
    if fault is not None and fault.kind == "expired_signature":
        return Response(S3_EXPIRED, status_code=403, media_type="application/xml")
    if fault is not None and fault.kind in ("server_error", "not_found"):
        if fault.status == 404:
            return PlainTextResponse("Not Found", status_code=404)
        return responses.proxy_page(fault.status)
    prediction = state.predictions.get(request.path_params["id"])
    match = _FILE_NAME.fullmatch(request.path_params["name"])
    if (
        prediction is None
        or match is None
        or not prediction.has_outputs(state.now())
        or int(match.group(1)) >= prediction.params.num_outputs
        or match.group(2) != prediction.params.output_format
    ):
        return PlainTextResponse("Not Found", status_code=404)
    if prediction.family == TOGETHER and not request.headers.get("user-agent", "").strip():
        # docs/protocol.md [seen]: Together's CDN answers 403 to an empty User-Agent.
        return PlainTextResponse("Forbidden", status_code=403)
    spec = prediction.render_spec(int(match.group(1)))
    if fault is not None and fault.kind == "corrupt":
        return Response(responses.corrupt_bytes(), media_type=spec.content_type)
    if fault is not None and fault.kind == "huge":
        return Response(responses.huge_png(), media_type="image/png")
    data = await asyncio.wrap_future(state.renderer.submit(spec))
    return Response(data, media_type=spec.content_type)


async def _requests(request: Request) -> Response:
    return JSONResponse([r.to_dict() for r in state_of(request).requests])


async def _reset(request: Request) -> Response:
    state_of(request).reset()
    return JSONResponse({"reset": True})


async def _faults(request: Request) -> Response:
    state = state_of(request)
    if request.method == "PUT":
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("send a JSON object of fault settings")
            state.faults = FaultConfig.from_dict(data)
        except (ValueError, TypeError) as error:
            return responses.problem(422, "Invalid fault config", str(error))
    return JSONResponse(state.faults.to_dict())


async def _health(request: Request) -> Response:
    state = state_of(request)
    return JSONResponse(
        {"status": "ok", "predictions": len(state.predictions), "creates": state.creates}
    )


async def _elsewhere(request: Request) -> Response:
    # Where redirect_queries points: a 200 HTML page, so a client that follows redirects sees HTML.
    return HTMLResponse("<html><body><h1>Sign in</h1><p>mock: not the API</p></body></html>")
