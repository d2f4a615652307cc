"""CometAPI in the mock: Replicate's predictions under ``/replicate``, in CometAPI's envelope,
plus its key-usage route ``GET /api/usage/token`` (docs/protocol.md, "CometAPI").

Errors come as ``{"error": {"message": "... (request id: ...)", "type", "param", "code"}}``.
``Prefer: wait`` is not documented by CometAPI, so it is honoured only with
``MockConfig.sync_wait_cometapi``. The key-usage route answers as new-api servers (CometAPI's
base) do: ``{"code": true, "message": "ok", "data": {"object": "token_usage", "total_granted",
"total_used", "total_available", ...}}``, the quota going down as predictions are created, so a
usage view has something true to show; a wrong key gets the same 401 as every other route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .endpoints import api_endpoint
from .replicate import ReplicatePredictions
from .responses import cometapi_error
from .state import MockState

KEY_USAGE_PATH = "/api/usage/token"
GRANTED_UNITS = 500_000
"""The mock key's quota, in the provider's units (new-api's default: 500,000 per US dollar)."""
UNITS_PER_IMAGE = 1_500
"""What one image uses of it ($0.003 at 500,000 units per dollar)."""


class CometAPI(ReplicatePredictions):
    """Replicate's predictions at ``/replicate`` in CometAPI's error envelope, and key usage."""

    name = "cometapi"
    prefix = "/replicate"

    def sync_wait(self, state: MockState) -> bool:
        # CometAPI does not document Prefer: wait (MockConfig.sync_wait_cometapi).
        return state.config.sync_wait_cometapi

    def routes(self) -> list[Route]:
        return [
            *super().routes(),
            Route(KEY_USAGE_PATH, api_endpoint(self, key_usage), methods=["GET"]),
        ]

    def unauthenticated(self) -> JSONResponse:
        return cometapi_error(401, "Invalid Token")

    def not_found(self, what: str) -> JSONResponse:
        return cometapi_error(404, f"{what} not found")

    def bad_request(self, detail: str) -> JSONResponse:
        return cometapi_error(400, detail, code="invalid_request")

    def no_credit(self) -> JSONResponse:
        return cometapi_error(402, "Insufficient account balance", code="insufficient_quota")


def key_usage_json(state: MockState) -> dict[str, object]:
    """The key-usage route's answer for the mock's current state."""
    images = sum(p.params.num_outputs for p in state.predictions.values())
    used = min(GRANTED_UNITS, images * UNITS_PER_IMAGE)
    return {
        "code": True,
        "message": "ok",
        "data": {
            "object": "token_usage",
            "name": "mock key",
            "total_granted": GRANTED_UNITS,
            "total_used": used,
            "total_available": GRANTED_UNITS - used,
            "unlimited_quota": False,
            "model_limits": {},
            "model_limits_enabled": False,
            "expires_at": 0,
        },
    }


async def key_usage(request: Request, state: MockState, family: CometAPI) -> Response:
    """``GET /api/usage/token`` (wrapped by the family's key check)."""
    return JSONResponse(key_usage_json(state))


COMETAPI = CometAPI()
