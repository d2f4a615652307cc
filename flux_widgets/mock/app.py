"""The fake FLUX.1 [schnell] API as an ASGI app: every family's routes, one file host, admin.

The families (CometAPI, Replicate, fal's queue, Together's images endpoint) are listed in
``families.py``, one module each; this module mounts their routes and serves what they share:
the output files and the ``/mock/*`` admin routes.

Per-request work is a dict lookup and a small JSON answer; images are rendered in worker threads
as soon as a prediction is created, so downloads come from memory and the loop never blocks.
"""

from __future__ import annotations

import asyncio
import re

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

from . import responses
from .config import MockConfig
from .endpoints import state_of
from .families import BY_NAME, FAMILIES
from .faults import FaultConfig
from .state import MockState

_FILE_NAME = re.compile(r"out-([0-9]{1,2})\.(webp|jpg|png)")
# What S3 answers for a presigned URL past its expiry.
S3_EXPIRED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Request has expired</Message><RequestId>MOCK0000</RequestId></Error>"
)


def create_app(config: MockConfig | None = None) -> Starlette:
    """A new mock API; its state (predictions, recorded requests, faults) is ``app.state.mock``."""
    state = MockState(config or MockConfig())
    routes: list[Route] = []
    for family in FAMILIES:
        routes += family.routes()
    routes += [
        Route("/files/{id}/{name}", _file, methods=["GET"]),
        Route("/mock/requests", _requests, methods=["GET"]),
        Route("/mock/reset", _reset, methods=["POST"]),
        Route("/mock/faults", _faults, methods=["GET", "PUT"]),
        Route("/mock/health", _health, methods=["GET"]),
        Route("/mock/elsewhere", _elsewhere, methods=["GET"]),
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
    refusal = BY_NAME[prediction.family].file_refusal(request)
    if refusal is not None:
        return refusal
    spec = prediction.render_spec(int(match.group(1)))
    if fault is not None and fault.kind == "corrupt":
        return Response(responses.corrupt_bytes(), media_type=spec.content_type)
    if fault is not None and fault.kind == "huge":
        return Response(responses.huge_png(), media_type="image/png")
    data = await asyncio.wrap_future(state.renderer.submit(spec))
    if fault is not None and fault.kind == "truncated":  # a cut copy, its length its own
        return Response(data[: len(data) // 2], media_type=spec.content_type)
    if fault is not None and fault.kind == "short":  # declares the whole file, sends half
        headers = {"content-length": str(len(data))}
        return Response(data[: len(data) // 2], headers=headers, media_type=spec.content_type)
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
