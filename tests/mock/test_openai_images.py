"""Together's images endpoint in the mock (mock/openai_images.py)."""

from __future__ import annotations

import base64
import io

import httpx
from mock_support import (
    IMAGES,
    TOGETHER_MODEL,
    Configure,
    generate,
)
from PIL import Image

from flux_widgets.mock import FaultConfig

# --- Together's images endpoint ---------------------------------------------------------------


def test_together_answers_base64_images_of_the_requested_size_and_format(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0.05)
    response = generate(
        http, width=768, height=1344, n=2, seed=7, response_format="base64", output_format="png"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list" and body["id"]
    assert [item["index"] for item in body["data"]] == [0, 1]
    for item in body["data"]:
        data = base64.b64decode(item["b64_json"])
        assert data.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(data)).size == (768, 1344)


def test_together_url_results_need_a_user_agent(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0.0)
    url = generate(http, response_format="url").json()["data"][0]["url"]
    assert httpx.get(url, headers={"User-Agent": ""}).status_code == 403
    file = httpx.get(url, headers={"User-Agent": "flux-widgets/test"})
    assert file.status_code == 200 and file.content.startswith(b"\xff\xd8\xff")


def test_together_refuses_the_server_default_of_20_steps(
    mock: Configure, http: httpx.Client
) -> None:
    body = {"model": TOGETHER_MODEL, "prompt": "x"}
    response = http.post(IMAGES, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "steps" and "got 20" in error["message"]


def test_together_errors_use_the_openai_envelope(mock: Configure, http: httpx.Client) -> None:
    mock(api_key="together-secret")
    unauthorized = generate(http)
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "invalid_api_key"
    headers = {"Authorization": "Bearer together-secret"}
    wrong_model = http.post(
        IMAGES, json={"model": "x/y", "prompt": "p", "steps": 4}, headers=headers
    )
    assert wrong_model.status_code == 404
    assert wrong_model.json()["error"]["code"] == "model_not_found"


def test_together_faults_and_outcomes(mock: Configure, http: httpx.Client) -> None:
    server = mock(generation_time=0.0, faults=FaultConfig(create_unavailable=1))
    unavailable = generate(http)
    assert unavailable.status_code == 503 and unavailable.json()["error"]["type"] == "server_error"
    assert server.state.creates == 0  # refused before any generation
    nsfw = generate(http, prompt="x [mock:nsfw]")
    assert nsfw.status_code == 422 and "NSFW" in nsfw.json()["error"]["message"]
    failed = generate(http, prompt="x [mock:fail]")
    assert failed.status_code == 500
    aborted = generate(http, prompt="x [mock:abort]")
    assert aborted.status_code == 503
    assert server.state.creates == 3
