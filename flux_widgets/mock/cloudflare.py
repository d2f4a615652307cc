"""Cloudflare Workers AI in the mock: one image per synchronous POST, in the v4 envelope.

``POST /client/v4/accounts/{account}/ai/run/@cf/black-forest-labs/flux-1-schnell``
(docs/protocol.md, "Cloudflare Workers AI") with a Bearer token and ``{"prompt", "steps", "seed"}``
holds the answer until the image is made, then answers ``{"result": {"image": <base64 JPEG>},
"success": true, "errors": [], "messages": []}``: a 1024x1024 JPEG whatever is asked. Errors are
``{"success": false, "errors": [{"code", "message"}], ...}``: 3003/400 bad input (any property
but those three, steps outside 1-8, a prompt outside 1-2,048 characters), 3036/429 the daily
free allocation used up, 3040/429 out of capacity, 3007/408 a timeout; another model's path
is not served (404).

The daily allocation is counted per account and per UTC day, in neurons, as Cloudflare bills
them (512x512 tiles and steps at $0.011 per 1,000 neurons): ``daily_neurons`` (10,000) a day,
so about 168 images of 1 MP at 4 steps, then 3036 until 00:00 UTC. Outcomes: ``[mock:nsfw]`` and
``[mock:fail]`` answer errors, ``[mock:abort]`` a 3040 (never started: safe to retry),
``[mock:stuck]`` a 3007 after ``MAX_HOLD`` seconds, ``[mock:daily-limit]`` a 3036. Create
faults apply in this envelope; there are no queries and no cancel.
"""

from __future__ import annotations

import asyncio
import base64
import math
import weakref
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..params import FluxParams
from .endpoints import api_endpoint, generate_synchronously
from .family import MockFamily
from .faults import NSFW_ERROR
from .state import MockState

MODEL = "@cf/black-forest-labs/flux-1-schnell"
PATH = "/client/v4/accounts/{account}/ai/run/" + MODEL
MAX_HOLD = 300.0
SIZE = (1024, 1024)  # what the service returns [unconfirmed, docs/protocol.md]
MAX_PROMPT = 2048
MAX_STEPS = 8
DAILY_NEURONS = 10_000.0
# The price in neurons: $0.000053 per 512x512 tile and $0.00011 per step, $0.011 per 1,000.
_NEURONS_PER_TILE = 0.000053 / 0.011 * 1000
_NEURONS_PER_STEP = 0.00011 / 0.011 * 1000
_ALLOWED_KEYS = frozenset({"prompt", "steps", "seed"})


def envelope_error(status: int, code: int, message: str, **headers: str) -> JSONResponse:
    """The v4 envelope of a failure."""
    body = {
        "result": None,
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
    }
    return JSONResponse(body, status_code=status, headers=headers or None)


def neurons(steps: int, size: tuple[int, int] = SIZE) -> float:
    """Neurons one image costs (its 512x512 tiles and its steps)."""
    tiles = math.ceil(size[0] / 512) * math.ceil(size[1] / 512)
    return tiles * _NEURONS_PER_TILE + steps * _NEURONS_PER_STEP


class WorkersAI(MockFamily):
    """The Workers AI run route for FLUX.1 [schnell]; its errors in the v4 envelope."""

    name = "cloudflare"

    def __init__(self, daily_neurons: float = DAILY_NEURONS) -> None:
        self.daily_neurons = daily_neurons
        # Neurons used per (mock state, account, UTC day): a mock app's own count.
        self._used: weakref.WeakKeyDictionary[MockState, dict[tuple[str, str], float]]
        self._used = weakref.WeakKeyDictionary()

    def routes(self) -> list[Route]:
        return [Route(PATH, api_endpoint(self, _run), methods=["POST"])]

    def used(self, state: MockState, account: str) -> float:
        """Neurons ``account`` used today on ``state``'s app."""
        return self._used.get(state, {}).get((account, _today()), 0.0)

    def spend(self, state: MockState, account: str, amount: float) -> bool:
        """Count ``amount`` neurons for ``account`` today; False (nothing counted) when the
        daily allocation cannot cover it."""
        day = self._used.setdefault(state, {})
        key = (account, _today())
        if day.get(key, 0.0) + amount > self.daily_neurons:
            return False
        day[key] = day.get(key, 0.0) + amount
        return True

    def forget(self, state: MockState) -> None:
        """Start the daily count again for ``state``'s app (tests)."""
        self._used.pop(state, None)

    # -- answers in the v4 envelope ----------------------------------------------------------

    def unauthenticated(self) -> JSONResponse:
        return envelope_error(401, 10000, "Authentication error")

    def not_found(self, what: str) -> JSONResponse:
        return envelope_error(400, 5007, f"No such model {what}")

    def bad_request(self, detail: str) -> JSONResponse:
        return envelope_error(400, 3003, detail)

    def rate_limited(self, message: str, headers: dict[str, str]) -> JSONResponse:
        return envelope_error(429, 3040, f"Capacity temporarily exceeded. {message}", **headers)

    def no_credit(self) -> JSONResponse:
        return _allocation_used()

    def refused_request(self) -> JSONResponse:
        return envelope_error(400, 3003, "Bad input: mock create_errors")

    def server_error(self, status: int, phrase: str) -> JSONResponse:
        # [guess] Workers AI's code for an internal error; the status decides the client's error.
        return envelope_error(status, 3043, phrase)


def _today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def _allocation_used() -> JSONResponse:
    return envelope_error(
        429,
        3036,
        "You have used up your daily free allocation of 10,000 neurons. Please upgrade to "
        "Cloudflare's Workers Paid plan if you would like to continue usage.",
    )


def read_input(data: Any) -> FluxParams | JSONResponse:
    """Mock parameters for a run body, or the 3003 answer for a body the model refuses."""
    if not isinstance(data, dict):
        return envelope_error(400, 3003, "Bad input: the body must be a JSON object")
    unknown = sorted(set(data) - _ALLOWED_KEYS)
    if unknown:
        return envelope_error(400, 3003, f"Bad input: unknown properties {', '.join(unknown)}")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= MAX_PROMPT:
        return envelope_error(400, 3003, f"Bad input: prompt must be 1-{MAX_PROMPT} characters")
    steps = data.get("steps", 4)
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        return envelope_error(400, 3003, f"Bad input: steps must be 1-{MAX_STEPS}, got {steps!r}")
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        return envelope_error(400, 3003, "Bad input: seed must be an integer")
    try:
        # The package's schema may allow fewer steps than the model: render with what it allows.
        return FluxParams(
            prompt=prompt,
            num_inference_steps=min(steps, 4),
            seed=seed,
            output_format="jpg",
            go_fast=False,
        )
    except ValueError as error:
        return envelope_error(400, 3003, f"Bad input: {error}")


async def _run(request: Request, state: MockState, family: WorkersAI) -> Response:
    fault = state.injector.on_create()
    if fault is not None:
        return family.fault_response(fault, state.faults)
    try:
        data = await request.json()
    except ValueError:
        return family.bad_request("Bad input: the body is not valid JSON")
    params = read_input(data)
    if isinstance(params, JSONResponse):
        return params
    account = str(request.path_params["account"])
    if state.faults.prompt_directives and "[mock:daily-limit]" in params.prompt.lower():
        return _allocation_used()
    if not family.spend(state, account, neurons(data.get("steps", 4))):
        return _allocation_used()
    prediction, status = await generate_synchronously(state, family, params, SIZE, MAX_HOLD)
    if status == "aborted":
        return envelope_error(429, 3040, "Capacity temporarily exceeded, please try again.")
    if status == "failed":
        error = prediction.outcome.error or "the generation failed"
        if error == NSFW_ERROR:
            return envelope_error(400, 3030, error)  # [guess] the code; the text is the mock's
        return envelope_error(500, 3043, error)
    if status != "succeeded":
        return envelope_error(408, 3007, "Request timeout")
    encoded = await asyncio.wrap_future(state.renderer.submit(prediction.render_spec(0)))
    body = {
        "result": {"image": base64.b64encode(encoded).decode()},
        "success": True,
        "errors": [],
        "messages": [],
    }
    return JSONResponse(body)


CLOUDFLARE = WorkersAI()
