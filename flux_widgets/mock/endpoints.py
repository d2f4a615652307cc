"""What every API route of the mock shares: its state, the key check in each family's scheme."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

from ..params import FluxParams
from .family import MockFamily
from .predictions import MockPrediction
from .state import MockState

Endpoint = Callable[[Request], Awaitable[Response]]
FamilyT = TypeVar("FamilyT", bound=MockFamily)


def state_of(request: Request) -> MockState:
    """The mock's state behind ``request``'s app."""
    state: MockState = request.app.state.mock
    return state


def authorized(request: Request, state: MockState, family: MockFamily) -> bool:
    """Whether ``request`` carries the configured key in ``family``'s scheme (any, if none)."""
    key = state.config.api_key
    if key is None:
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == family.auth_scheme and hmac.compare_digest(
        token.encode(), key.encode()
    )


def api_endpoint(
    family: FamilyT, handler: Callable[[Request, MockState, FamilyT], Awaitable[Response]]
) -> Endpoint:
    """An API route of ``family``: the key is checked before ``handler`` runs."""

    async def endpoint(request: Request) -> Response:
        state = state_of(request)
        if not authorized(request, state, family):
            return family.unauthenticated()
        return await handler(request, state, family)

    return endpoint


def files_base(request: Request, state: MockState) -> str:
    """Where output file URLs point: the configured host, or this server."""
    return state.config.files_base_url or str(request.base_url).rstrip("/")


async def generate_synchronously(
    state: MockState, family: MockFamily, params: FluxParams, size: tuple[int, int], hold: float
) -> tuple[MockPrediction, str]:
    """One generation of a family that answers in the create's own response (Together,
    Cloudflare): started, held until final (``hold`` seconds at most), then late by the
    ``create_delay`` fault if it is on (the images are made and billed; only the answer is
    late). The prediction and its status then."""
    prediction = state.start(
        {"prompt": params.prompt},
        prompt=params.prompt,
        params=params,
        family=family.name,
        size=size,
    )
    await prediction.wait_final(hold)
    if state.faults.create_delay > 0:
        await asyncio.sleep(state.faults.create_delay)
    return prediction, prediction.status(state.now())
