"""What a key has left, as its provider reports it: ``KeyQuota`` and how to read the answer.

A provider that has such a route says so with ``Provider.quota_request`` and reads the answer
with ``Provider.read_quota`` (sans-IO, like the rest of the interface); CometAPI's is
``GET /api/usage/token`` (docs/protocol.md, "CometAPI key usage").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx


@dataclass(frozen=True)
class KeyQuota:
    """The key's quota as the provider reports it, in the provider's own units (CometAPI does
    not say whether they are credits or dollars, so no currency is claimed)."""

    total_granted: float | None
    total_used: float | None
    total_available: float | None
    unlimited: bool = False
    expires_at: datetime | None = None
    name: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> KeyQuota | None:
        """Parse the route's answer (``{"data": {...}}`` as new-api servers answer, or the
        fields at the top); None when it holds none of the fields."""
        if isinstance(data, Mapping) and isinstance(data.get("data"), Mapping):
            data = data["data"]
        if not isinstance(data, Mapping):
            return None
        fields = ("total_granted", "total_used", "total_available")
        if not any(name in data for name in fields):
            return None
        expires = _number(data.get("expires_at"))
        return cls(
            total_granted=_number(data.get("total_granted")),
            total_used=_number(data.get("total_used")),
            total_available=_number(data.get("total_available")),
            unlimited=bool(data.get("unlimited_quota", False)),
            # 0 means "never expires" on this route.
            expires_at=(
                datetime.fromtimestamp(expires, timezone.utc) if expires and expires > 0 else None
            ),
            name=str(data["name"]) if isinstance(data.get("name"), str) else None,
        )


def read_quota_answer(response: httpx.Response) -> KeyQuota | None:
    """The quota in a key-usage answer; None when the route is missing (404), the key is
    refused (401/403), or the answer is not the route's JSON."""
    if not response.is_success:
        return None
    try:
        return KeyQuota.from_json(response.json())
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
