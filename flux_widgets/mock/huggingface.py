"""Hugging Face's router in the mock: the Hub's provider mapping and the routes' own shapes.

Wire facts: docs/protocol.md, "Hugging Face Inference Providers". Served here:

- ``GET /api/models/black-forest-labs/FLUX.1-schnell?expand[]=inferenceProviderMapping``: the
  mapping, a provider this client does not speak and one in ``staging`` listed before the first
  live route it speaks (``hf-inference``), so ``route="auto"`` must skip them.
- ``POST /hf-inference/models/{owner}/{name}``: ``{"inputs", "parameters"}`` -> PNG bytes.
- ``POST /together/v1/images/generations`` and ``/nscale/v1/images/generations``: OpenAI-style,
  base64 answers (nscale: ``size: "WxH"``, no steps).
- ``POST /fal-ai/fal-ai/flux/schnell``: fal's input, synchronous, image URLs on the file host.
- The ``replicate`` route's path (``/replicate/v1/models/.../predictions``) is CometAPI's in the
  mock: the same Replicate protocol, answered by ``cometapi.py``.

Errors as HF sends them: ``{"error": "..."}`` with ``X-Error-Message``. Prompt directives beside
the shared ones: ``[mock:loading]`` answers 503 with ``estimated_time`` to the first request of
that prompt (a model loading), ``[mock:credits]`` 402 (monthly credits used up).
"""

from __future__ import annotations

import asyncio
import base64
import weakref
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..params import FluxParams
from .endpoints import api_endpoint, files_base
from .family import MockFamily
from .faults import NSFW_ERROR
from .state import MockState

MODEL_ID = "black-forest-labs/FLUX.1-schnell"
FAL_ID = "fal-ai/flux/schnell"
# How long the mock says a loading model needs (seconds): short, so tests wait it out.
LOADING_SECONDS = 0.2
CREDITS_MESSAGE = (
    "You have exceeded your monthly included credits for Inference Providers. Subscribe to PRO "
    "to get 20x more monthly included credits."
)
MAPPING = [
    {"provider": "wavespeed", "providerId": "flux-schnell", "status": "live"},
    {"provider": "together", "providerId": MODEL_ID, "status": "staging"},
    {"provider": "hf-inference", "providerId": MODEL_ID, "status": "live"},
    {"provider": "nscale", "providerId": MODEL_ID, "status": "live"},
    {"provider": "fal-ai", "providerId": FAL_ID, "status": "live"},
    {"provider": "replicate", "providerId": "black-forest-labs/flux-schnell", "status": "live"},
]
_MAX_HOLD = 300.0
# Prompts whose model has "loaded" already, per mock state ([mock:loading]).
_loaded: weakref.WeakKeyDictionary[MockState, set[str]] = weakref.WeakKeyDictionary()


def hf_error(status: int, message: str, **extra: Any) -> JSONResponse:
    """An error as the router sends it: ``{"error": message}`` and ``X-Error-Message``."""
    return JSONResponse(
        {"error": message, **extra}, status_code=status, headers={"X-Error-Message": message}
    )


class HuggingFace(MockFamily):
    """The router's routes and the Hub's model API; Bearer ``hf_`` tokens."""

    name = "huggingface"

    def routes(self) -> list[Route]:
        return [
            Route(f"/api/models/{MODEL_ID}", api_endpoint(self, _model_card), methods=["GET"]),
            Route(
                "/hf-inference/models/{owner}/{name}",
                api_endpoint(self, _hf_inference),
                methods=["POST"],
            ),
            Route(
                "/together/v1/images/generations", api_endpoint(self, _together), methods=["POST"]
            ),
            Route("/nscale/v1/images/generations", api_endpoint(self, _nscale), methods=["POST"]),
            Route(f"/fal-ai/{FAL_ID}", api_endpoint(self, _fal), methods=["POST"]),
        ]

    def unauthenticated(self) -> JSONResponse:
        return hf_error(401, "Invalid credentials in Authorization header")

    def not_found(self, what: str) -> JSONResponse:
        return hf_error(404, f"{what} not found")

    def bad_request(self, detail: str) -> JSONResponse:
        return hf_error(400, detail)

    def rate_limited(self, message: str, headers: dict[str, str]) -> JSONResponse:
        response = hf_error(429, message)
        response.headers.update(headers)
        return response

    def no_credit(self) -> JSONResponse:
        return hf_error(402, CREDITS_MESSAGE)

    def refused_request(self) -> JSONResponse:
        return hf_error(400, "invalid request: mock create_errors")

    def server_error(self, status: int, phrase: str) -> JSONResponse:
        return hf_error(status, phrase)


async def _model_card(request: Request, state: MockState, family: HuggingFace) -> Response:
    return JSONResponse({"id": MODEL_ID, "inferenceProviderMapping": MAPPING})


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        data = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _int(data: dict[str, Any], name: str, default: int, low: int, high: int) -> int | str:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return f"{name} must be an integer from {low} to {high}, got {value!r}"
    return value


async def _generate(
    request: Request,
    state: MockState,
    family: HuggingFace,
    data: dict[str, Any],
    prompt_key: str = "prompt",
    size: tuple[int, int] | None = None,
    steps: int = 4,
    output_format: str = "png",
) -> tuple[Any, FluxParams] | Response:
    """Start and finish a generation; the prediction, or the error answer."""
    fault = state.injector.on_create()
    if fault is not None:
        return family.fault_response(fault, state.faults)
    prompt = data.get(prompt_key)
    if not isinstance(prompt, str) or not prompt.strip():
        return hf_error(400, f"{prompt_key} is required and must be a non-empty string")
    if "[mock:credits]" in prompt:
        return family.no_credit()
    if "[mock:loading]" in prompt:
        loaded = _loaded.setdefault(state, set())
        if prompt not in loaded:
            loaded.add(prompt)
            message = f"Model {MODEL_ID} is currently loading"
            return hf_error(503, message, estimated_time=LOADING_SECONDS)
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        return hf_error(400, "seed must be an integer")
    params = FluxParams(
        prompt=prompt, num_inference_steps=steps, seed=seed, output_format=output_format
    )
    prediction = state.start(
        {"prompt": prompt}, prompt=prompt, params=params, family=family.name, size=size
    )
    await prediction.wait_final(_MAX_HOLD)
    status = prediction.status(state.now())
    if status == "failed":
        error = prediction.outcome.error or "the generation failed"
        return hf_error(400 if error == NSFW_ERROR else 500, error)
    if status != "succeeded":
        return hf_error(503, "Service Unavailable: the generation did not finish")
    return prediction, params


async def _image(state: MockState, prediction: Any) -> bytes:
    data: bytes = await asyncio.wrap_future(state.renderer.submit(prediction.render_spec(0)))
    return data


async def _hf_inference(request: Request, state: MockState, family: HuggingFace) -> Response:
    owner, name = request.path_params["owner"], request.path_params["name"]
    if f"{owner}/{name}" != MODEL_ID:
        return family.not_found(f"model {owner}/{name}")
    data = await _body(request)
    parameters = data.get("parameters", {}) if data is not None else None
    if data is None or not isinstance(parameters, dict):
        return family.bad_request('send {"inputs": prompt, "parameters": {...}}')
    checked = [
        _int(parameters, "width", 1024, 64, 1792),
        _int(parameters, "height", 1024, 64, 1792),
        _int(parameters, "num_inference_steps", 4, 1, 4),
    ]
    problems = [c for c in checked if isinstance(c, str)]
    if problems:
        return hf_error(400, problems[0])
    width, height, steps = (int(c) for c in checked)
    made = await _generate(
        request,
        state,
        family,
        {"inputs": data.get("inputs"), "seed": parameters.get("seed")},
        prompt_key="inputs",
        size=(width, height),
        steps=steps,
    )
    if isinstance(made, Response):
        return made
    prediction, _ = made
    return Response(await _image(state, prediction), media_type="image/png")


async def _openai_style(
    request: Request, state: MockState, family: HuggingFace, data: dict[str, Any], nscale: bool
) -> Response:
    if data.get("model") != MODEL_ID:
        return family.not_found(f"model {data.get('model')!r}")
    if nscale:
        size = str(data.get("size", "1024x1024"))
        width_text, _, height_text = size.partition("x")
        if not (width_text.isdigit() and height_text.isdigit()):
            return hf_error(400, f"size must be WxH, got {size!r}")
        width, height, steps = int(width_text), int(height_text), 4
    else:
        checked = [
            _int(data, "width", 1024, 64, 1792),
            _int(data, "height", 1024, 64, 1792),
            _int(data, "steps", 20, 1, 4),  # the server's default of 20 is refused, as in
        ]  # openai_images.py: a client that forgets steps fails its tests
        problems = [c for c in checked if isinstance(c, str)]
        if problems:
            return hf_error(400, problems[0])
        width, height, steps = (int(c) for c in checked)
    if data.get("n", 1) != 1 and not nscale:
        return hf_error(400, "this mock route makes one image per call")
    fmt = "jpg" if data.get("output_format", "png" if nscale else "jpeg") == "jpeg" else "png"
    made = await _generate(
        request, state, family, data, size=(width, height), steps=steps, output_format=fmt
    )
    if isinstance(made, Response):
        return made
    prediction, _ = made
    encoded = base64.b64encode(await _image(state, prediction)).decode()
    return JSONResponse({"id": prediction.id, "data": [{"index": 0, "b64_json": encoded}]})


async def _together(request: Request, state: MockState, family: HuggingFace) -> Response:
    data = await _body(request)
    if data is None:
        return family.bad_request("the request body must be a JSON object")
    return await _openai_style(request, state, family, data, nscale=False)


async def _nscale(request: Request, state: MockState, family: HuggingFace) -> Response:
    data = await _body(request)
    if data is None:
        return family.bad_request("the request body must be a JSON object")
    return await _openai_style(request, state, family, data, nscale=True)


async def _fal(request: Request, state: MockState, family: HuggingFace) -> Response:
    data = await _body(request)
    if data is None:
        return family.bad_request("the request body must be a JSON object")
    image_size = data.get("image_size") or {}
    size = (1024, 768)
    if isinstance(image_size, dict):
        size = (int(image_size.get("width", 1024)), int(image_size.get("height", 768)))
    steps = _int(data, "num_inference_steps", 4, 1, 12)
    if isinstance(steps, str):
        return hf_error(422, steps)
    fmt = "png" if data.get("output_format") == "png" else "jpg"
    made = await _generate(
        request, state, family, data, size=size, steps=min(steps, 4), output_format=fmt
    )
    if isinstance(made, Response):
        return made
    prediction, params = made
    url = f"{files_base(request, state)}/files/{prediction.id}/{prediction.file_name(0)}"
    image = {"url": url, "width": size[0], "height": size[1]}
    return JSONResponse({"images": [image], "seed": params.seed, "has_nsfw_concepts": [False]})


HUGGINGFACE = HuggingFace()
