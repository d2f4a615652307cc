"""fal's queue in the mock (mock/fal.py): submit, status, result, cancel, faults."""

from __future__ import annotations

import io
import time

import httpx
from mock_support import (
    REQUESTS,
    SUBMIT,
    Configure,
    completed,
    status,
    submit,
)
from PIL import Image

from flux_widgets.mock import FaultConfig

# --- fal's queue ----------------------------------------------------------------------------


def test_fal_submit_queues_then_runs_then_completes_with_the_requested_size_and_seed(
    mock: Configure, http: httpx.Client
) -> None:
    server = mock(generation_time=0.3, start_delay=0.15)
    answer = submit(
        http, image_size={"width": 1344, "height": 768}, seed=42, num_images=2, output_format="png"
    )
    request_id = answer["request_id"]
    assert answer["status"] == "IN_QUEUE" and answer["queue_position"] == 0
    # The URLs drop the endpoint's subpath, as fal's do.
    assert answer["status_url"] == f"{server.url}{REQUESTS}/{request_id}/status"
    assert answer["response_url"] == f"{server.url}{REQUESTS}/{request_id}"
    assert answer["cancel_url"] == f"{server.url}{REQUESTS}/{request_id}/cancel"
    assert status(http, request_id)["status"] == "IN_QUEUE"
    time.sleep(0.17)
    running = status(http, request_id, logs=True)
    assert running["status"] == "IN_PROGRESS"
    assert running["logs"][0]["message"] == "Using seed: 42"
    completed(http, request_id)
    result = http.get(f"{REQUESTS}/{request_id}").json()
    assert result["seed"] == 42 and result["has_nsfw_concepts"] == [False, False]
    assert [(i["width"], i["height"], i["content_type"]) for i in result["images"]] == [
        (1344, 768, "image/png")
    ] * 2
    file = httpx.get(result["images"][1]["url"])  # the file host needs no key
    assert file.status_code == 200
    assert Image.open(io.BytesIO(file.content)).size == (1344, 768)
    assert file.content.startswith(b"\x89PNG")


def test_fal_image_size_names_and_the_jpeg_default(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0.0)
    request_id = submit(http, image_size="portrait_16_9")["request_id"]
    completed(http, request_id)
    image = http.get(f"{REQUESTS}/{request_id}").json()["images"][0]
    assert (image["width"], image["height"], image["content_type"]) == (576, 1024, "image/jpeg")
    assert httpx.get(image["url"]).content.startswith(b"\xff\xd8\xff")


def test_fal_queue_position_counts_the_requests_queued_before(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=2.0, start_delay=1.0)
    positions = [submit(http)["queue_position"] for _ in range(3)]
    assert positions == [0, 1, 2]


def test_fal_wants_the_key_scheme_not_bearer(mock: Configure, http: httpx.Client) -> None:
    mock(api_key="fal-secret-key")
    bearer = http.post(
        SUBMIT, json={"prompt": "x"}, headers={"Authorization": "Bearer fal-secret-key"}
    )
    assert bearer.status_code == 401 and "Key" in bearer.json()["detail"]
    assert "fal-secret-key" not in bearer.text
    keyed = http.post(SUBMIT, json={"prompt": "x"}, headers={"Authorization": "Key fal-secret-key"})
    assert keyed.status_code == 200


def test_fal_status_under_the_schnell_subpath_is_not_found(
    mock: Configure, http: httpx.Client
) -> None:
    request_id = submit(http)["request_id"]
    assert http.get(f"{SUBMIT}/requests/{request_id}/status").status_code in (404, 405)


def test_fal_invalid_input_is_a_fastapi_422_naming_each_field(
    mock: Configure, http: httpx.Client
) -> None:
    response = http.post(SUBMIT, json={"prompt": "x", "output_format": "webp", "num_images": 5})
    assert response.status_code == 422
    fields = [item["loc"] for item in response.json()["detail"]]
    assert fields == [["body", "num_images"], ["body", "output_format"]]


def test_fal_cancel_of_a_queued_request_then_of_a_completed_one(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=5.0, start_delay=2.0)
    request_id = submit(http)["request_id"]
    cancel = http.put(f"{REQUESTS}/{request_id}/cancel")
    assert (cancel.status_code, cancel.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    assert status(http, request_id)["status"] == "COMPLETED"
    result = http.get(f"{REQUESTS}/{request_id}")
    assert result.status_code == 400 and "cancel" in result.json()["detail"]
    again = http.put(f"{REQUESTS}/{request_id}/cancel")
    assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})


def test_fal_nsfw_is_flagged_in_the_result_and_a_failure_errors_the_result(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0.0)
    nsfw = submit(http, prompt="x [mock:nsfw]", num_images=2)["request_id"]
    failed = submit(http, prompt="x [mock:fail]")["request_id"]
    completed(http, nsfw)
    assert http.get(f"{REQUESTS}/{nsfw}").json()["has_nsfw_concepts"] == [True, True]
    assert completed(http, failed)["status"] == "COMPLETED"  # failure shows only in the result
    result = http.get(f"{REQUESTS}/{failed}")
    assert result.status_code == 500 and "crashed" in result.json()["detail"]


def test_fal_faults_apply_to_submit_and_status(mock: Configure, http: httpx.Client) -> None:
    mock(faults=FaultConfig(rate_limit_creates=1, query_errors=1, retry_after=2))
    limited = http.post(SUBMIT, json={"prompt": "x"})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    request_id = submit(http)["request_id"]
    assert http.get(f"{REQUESTS}/{request_id}/status").status_code == 503
    assert status(http, request_id)["status"] in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
