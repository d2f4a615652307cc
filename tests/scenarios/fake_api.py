"""A scripted fake API for scenario tests: an ``httpx.MockTransport`` handler that answers what
a test queues, serves a small PNG for every file, and logs each request with its time."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Callable
from typing import Any

import httpx
from PIL import Image


def png_bytes() -> bytes:
    """A 16 x 16 red PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, "PNG")
    return buffer.getvalue()


class FakeAPI:
    """An httpx MockTransport handler that answers what a test scripts, and logs requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, str, str]] = []
        self.creates: list[Callable[[], httpx.Response]] = []
        self.queries: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((time.monotonic(), request.method, request.url.path))
        if request.url.path.startswith("/files/"):
            return httpx.Response(200, content=png_bytes(), headers={"content-type": "image/png"})
        if request.method == "POST" and request.url.path.endswith("/predictions"):
            return self.creates.pop(0)()
        if request.method == "GET":
            return httpx.Response(200, json=self.queries.pop(0))
        return httpx.Response(200, json={"id": "p", "status": "canceled"})


def prediction_json(status: str, **extra: Any) -> dict[str, Any]:
    """A Replicate-style prediction in ``status`` (a succeeded one lists one PNG output)."""
    now = dt.datetime.now(dt.timezone.utc)
    body: dict[str, Any] = {
        "id": f"p{time.monotonic_ns()}",
        "status": status,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "output": None,
        "logs": "",
        "metrics": {},
    }
    if status == "succeeded":
        body["output"] = ["http://files.example/files/a/out-0.png"]
        body["completed_at"] = (now + dt.timedelta(seconds=0.3)).isoformat()
        body["metrics"] = {"predict_time": 0.2}
    body.update(extra)
    return body
