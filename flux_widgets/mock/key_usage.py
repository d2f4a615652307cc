"""The mock's CometAPI key-usage route, ``GET /api/usage/token`` (docs/protocol.md).

It answers as new-api servers (CometAPI's base) do: ``{"code": true, "message": "ok", "data":
{"object": "token_usage", "total_granted", "total_used", "total_available", ...}}``, with the
quota units going down as predictions are created, so a usage view has something true to show.
A 401 in CometAPI's envelope for a wrong key, like every other API route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .state import MockState

KEY_USAGE_PATH = "/api/usage/token"
GRANTED_UNITS = 500_000
"""The mock key's quota, in the provider's units (new-api's default: 500,000 per US dollar)."""
UNITS_PER_IMAGE = 1_500
"""What one image uses of it ($0.003 at 500,000 units per dollar)."""


def key_usage_json(state: MockState) -> dict[str, object]:
    """The route's answer for the mock's current state."""
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


async def key_usage(request: Request, state: MockState, family: str) -> Response:
    """``GET /api/usage/token`` (wrapped by the app's key check)."""
    return JSONResponse(key_usage_json(state))
