"""Together AI's OpenAI-style images endpoint in the mock: one synchronous POST, no cancel.

``POST /v1/images/generations`` (docs/protocol.md, "Together AI images") holds the answer until the
generation is done and answers ``{"id", "model", "object": "list", "data": [...]}`` with
``b64_json`` (``response_format`` ``base64``/``b64_json``) or ``url`` entries; errors come in the
``{"error": {"message", "type", "code"}}`` envelope. Bearer key. ``steps`` left out means the
server's default of 20, which the real server would run (slower, and not what schnell is for);
the mock refuses it as out of range, so a client that forgets to send ``steps`` fails its tests.
URL outputs are served by the file routes, which answer 403 to an empty User-Agent, as
Together's CDN does. Outcomes: ``[mock:nsfw]`` and ``[mock:fail]`` answer errors,
``[mock:abort]`` a 503 (never started: safe to retry), ``[mock:stuck]`` a 504 after
``MAX_HOLD`` seconds. Create faults apply; there are no queries.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..params import FluxParams
from . import responses
from .endpoints import api_endpoint, files_base, generate_synchronously
from .family import MockFamily
from .faults import NSFW_ERROR
from .state import MockState

PATH = "/v1/images/generations"
MODELS = ("black-forest-labs/FLUX.1-schnell", "black-forest-labs/FLUX.1-schnell-Free")
# The longest the mock holds an answer for a generation that never ends ([mock:stuck]).
MAX_HOLD = 300.0
_FORMATS = {"jpeg": "jpg", "png": "png"}
_RESPONSE_FORMATS = ("base64", "b64_json", "url")
_SERVER_DEFAULT_STEPS = 20


class OpenAIImages(MockFamily):
    """Together's images endpoint; its errors in the OpenAI-style envelope."""

    name = "together"

    def routes(self) -> list[Route]:
        return [Route(PATH, api_endpoint(self, _generate), methods=["POST"])]

    def unauthenticated(self) -> JSONResponse:
        return responses.openai_error(
            401, "Invalid API key provided", "invalid_request_error", "invalid_api_key"
        )

    def rate_limited(self, message: str, headers: dict[str, str]) -> JSONResponse:
        response = responses.openai_error(
            429, message, "rate_limit_exceeded", "rate_limit_exceeded"
        )
        response.headers.update(headers)
        return response

    def no_credit(self) -> JSONResponse:
        return responses.openai_error(
            402,
            "Exhausted balance: top up your account to continue.",
            "insufficient_quota",
            "insufficient_quota",
        )

    def refused_request(self) -> JSONResponse:
        return responses.openai_error(
            400, "invalid request: mock create_errors", "invalid_request_error", "invalid_request"
        )

    def server_error(self, status: int, phrase: str) -> JSONResponse:
        return responses.openai_error(status, phrase, "server_error")

    def file_refusal(self, request: Request) -> Response | None:
        if not request.headers.get("user-agent", "").strip():
            # docs/protocol.md [seen]: Together's CDN answers 403 to an empty User-Agent.
            return PlainTextResponse("Forbidden", status_code=403)
        return None


def _invalid(message: str, param: str) -> JSONResponse:
    return responses.openai_error(
        400, message, "invalid_request_error", "invalid_parameter", param=param
    )


def read_input(data: dict[str, Any]) -> tuple[FluxParams, tuple[int, int], str] | JSONResponse:
    """Mock parameters, pixel size and response format, or the 400/404 answer for bad input."""
    model = data.get("model")
    if model not in MODELS:
        return responses.openai_error(
            404, f"Unable to access model {model!r}", "invalid_request_error", "model_not_found"
        )
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return _invalid("prompt is required and must be a non-empty string", "prompt")
    values: dict[str, int] = {}
    for name, default, low, high, step in (
        ("width", 1024, 64, 1792, 16),
        ("height", 1024, 64, 1792, 16),
        ("steps", _SERVER_DEFAULT_STEPS, 1, 4, 1),
        ("n", 1, 1, 4, 1),
    ):
        value = data.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool):
            return _invalid(f"{name} must be an integer", name)
        if not low <= value <= high or value % step:
            multiple = f", a multiple of {step}" if step > 1 else ""
            return _invalid(
                f"{name} must be from {low} to {high}{multiple} for {model}, got {value}", name
            )
        values[name] = value
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        return _invalid("seed must be an integer", "seed")
    response_format = data.get("response_format", "url")
    if response_format not in _RESPONSE_FORMATS:
        return _invalid("response_format must be 'base64' or 'url'", "response_format")
    output_format = data.get("output_format", "jpeg")
    if output_format not in _FORMATS:
        return _invalid("output_format must be 'jpeg' or 'png'", "output_format")
    try:
        params = FluxParams(
            prompt=prompt,
            num_outputs=values["n"],
            num_inference_steps=values["steps"],
            seed=seed,
            output_format=_FORMATS[output_format],
            go_fast=False,  # no fp8 switch in this API: a seed gives the same image
        )
    except ValueError as error:
        return _invalid(str(error), "seed")
    return params, (values["width"], values["height"]), response_format


async def _generate(request: Request, state: MockState, family: OpenAIImages) -> Response:
    fault = state.injector.on_create()
    if fault is not None:
        return family.fault_response(fault, state.faults)
    try:
        data = await request.json()
    except ValueError:
        return _invalid("the request body is not valid JSON", "body")
    if not isinstance(data, dict):
        return _invalid("the request body must be a JSON object", "body")
    read = read_input(data)
    if isinstance(read, JSONResponse):
        return read
    params, size, response_format = read
    prediction, status = await generate_synchronously(state, family, params, size, MAX_HOLD)
    if status == "aborted":
        return responses.openai_error(
            503, "The server is overloaded or not ready yet.", "server_error", "service_unavailable"
        )
    if status == "failed":
        error = prediction.outcome.error or "the generation failed"
        if error == NSFW_ERROR:
            return responses.openai_error(422, error, "invalid_request_error", "nsfw_content")
        return responses.openai_error(500, error, "server_error")
    if status != "succeeded":  # canceled by [mock:cancel], or still running after MAX_HOLD
        return responses.openai_error(504, "The generation did not finish.", "timeout")
    data_items: list[dict[str, Any]] = []
    for index in range(params.num_outputs):
        if response_format == "url":
            base = f"{files_base(request, state)}/files/{prediction.id}"
            data_items.append({"index": index, "url": f"{base}/{prediction.file_name(index)}"})
        else:
            spec = prediction.render_spec(index)
            encoded = await asyncio.wrap_future(state.renderer.submit(spec))
            data_items.append({"index": index, "b64_json": base64.b64encode(encoded).decode()})
    body = {"id": prediction.id, "model": data["model"], "object": "list", "data": data_items}
    return JSONResponse(body)


TOGETHER = OpenAIImages()
