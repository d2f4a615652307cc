"""Helpers for tests that talk to the mock over HTTP: its routes and polling (tests/mock/*)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from flux_widgets.mock import MockServer

Configure = Callable[..., MockServer]
"""The ``mock`` fixture (tests/mock/conftest.py): ``server = mock(generation_time=0)``."""

# Replicate's predictions, under CometAPI's prefix and at Replicate's root.
COMET = "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"
REPLICATE = "/v1/models/black-forest-labs/flux-schnell/predictions"
# fal's queue and Together's images endpoint.
SUBMIT = "/fal-ai/flux/schnell"
REQUESTS = "/fal-ai/flux/requests"
IMAGES = "/v1/images/generations"
TOGETHER_MODEL = "black-forest-labs/FLUX.1-schnell"
MAGIC = {"webp": (b"RIFF", "WEBP"), "jpg": (b"\xff\xd8\xff", "JPEG"), "png": (b"\x89PNG", "PNG")}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def create(http: httpx.Client, path: str = COMET, **input: Any) -> httpx.Response:
    input.setdefault("prompt", "a paper boat on calm water")
    return http.post(path, json={"input": input})


def created(http: httpx.Client, path: str = COMET, **input: Any) -> dict[str, Any]:
    response = create(http, path, **input)
    assert response.status_code == 201, response.text
    prediction: dict[str, Any] = response.json()
    return prediction


def query(http: httpx.Client, prediction_id: str, prefix: str = "/replicate") -> dict[str, Any]:
    response = http.get(f"{prefix}/v1/predictions/{prediction_id}")
    assert response.status_code == 200, response.text
    prediction: dict[str, Any] = response.json()
    return prediction


def wait_done(http: httpx.Client, prediction_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        prediction = query(http, prediction_id)
        if prediction["status"] in ("succeeded", "failed", "canceled", "aborted"):
            return prediction
        assert time.monotonic() < deadline, f"still {prediction['status']}"
        time.sleep(0.02)


def submit(http: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("prompt", "a paper boat on calm water")
    response = http.post(SUBMIT, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def status(http: httpx.Client, request_id: str, logs: bool = False) -> dict[str, Any]:
    response = http.get(f"{REQUESTS}/{request_id}/status", params={"logs": "1"} if logs else None)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def completed(http: httpx.Client, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (answer := status(http, request_id, logs=True))["status"] != "COMPLETED":
        assert time.monotonic() < deadline, answer
        time.sleep(0.02)
    return answer


def generate(http: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("model", TOGETHER_MODEL)
    body.setdefault("prompt", "a paper boat on calm water")
    body.setdefault("steps", 4)
    return http.post(IMAGES, json=body)
