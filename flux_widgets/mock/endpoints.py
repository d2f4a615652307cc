"""What every API route of the mock shares: its state, the key check in each family's scheme."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from . import responses
from .state import MockState

Endpoint = Callable[[Request], Awaitable[Response]]
ApiHandler = Callable[[Request, MockState, str], Awaitable[Response]]

# The word before the key in Authorization, per family (docs/protocol.md): fal's is "Key".
AUTH_SCHEMES = {
    responses.COMETAPI: "bearer",
    responses.REPLICATE: "bearer",
    responses.FAL: "key",
    responses.TOGETHER: "bearer",
}


def state_of(request: Request) -> MockState:
    """The mock's state behind ``request``'s app."""
    state: MockState = request.app.state.mock
    return state


def authorized(request: Request, state: MockState, family: str) -> bool:
    """Whether ``request`` carries the configured key in ``family``'s scheme (any, if none)."""
    key = state.config.api_key
    if key is None:
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = AUTH_SCHEMES[family]
    return scheme.lower() == expected and hmac.compare_digest(token.encode(), key.encode())


def api_endpoint(family: str, handler: ApiHandler) -> Endpoint:
    """An API route of ``family``: the key is checked before ``handler`` runs."""

    async def endpoint(request: Request) -> Response:
        state = state_of(request)
        if not authorized(request, state, family):
            return responses.unauthenticated(family)
        return await handler(request, state, family)

    return endpoint


def files_base(request: Request, state: MockState) -> str:
    """Where output file URLs point: the configured host, or this server."""
    return state.config.files_base_url or str(request.base_url).rstrip("/")
