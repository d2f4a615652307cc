"""The mock's faults and prompt directives over HTTP (mock/faults.py)."""

from __future__ import annotations

import io
import struct
import time

import httpx
import pytest
from mock_support import (
    REPLICATE,
    Configure,
    create,
    created,
    query,
    submit,
    wait_done,
)
from PIL import Image, UnidentifiedImageError

from flux_widgets.mock import FaultConfig
from flux_widgets.mock.faults import NSFW_ERROR, FaultInjector

# --- faults over HTTP -------------------------------------------------------------------------


def test_rate_limit_creates_answers_429_with_retry_after_then_accepts(
    mock: Configure, http: httpx.Client
) -> None:
    mock(faults=FaultConfig(rate_limit_creates=2, retry_after=0.5))
    for _ in range(2):
        response = create(http)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "0.5"
        assert response.headers["ratelimit-remaining"] == "0"
        assert response.headers["ratelimit-reset"] == "0.5"
        assert "throttled" in response.json()["detail"]
    assert create(http).status_code == 201


def test_create_errors_answer_500_invalid_request(mock: Configure, http: httpx.Client) -> None:
    mock(faults=FaultConfig(create_errors=1))
    response = create(http, REPLICATE)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "invalid_request"
    assert create(http).status_code == 201


def test_insufficient_credit_answers_402_in_both_envelopes(
    mock: Configure, http: httpx.Client
) -> None:
    mock(faults=FaultConfig(insufficient_credit=True))
    assert create(http).status_code == 402
    assert "error" in create(http).json()
    assert create(http, REPLICATE).json()["status"] == 402


def test_query_errors_alternate_503_502_500_then_recover(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0, faults=FaultConfig(query_errors=4))
    prediction = created(http)
    url = f"/replicate/v1/predictions/{prediction['id']}"
    assert [http.get(url).status_code for _ in range(5)] == [503, 502, 500, 503, 200]


def test_query_delay_slows_every_query(mock: Configure, http: httpx.Client) -> None:
    mock(faults=FaultConfig(query_delay=0.3))
    prediction = created(http)
    started = time.monotonic()
    query(http, prediction["id"])
    assert time.monotonic() - started >= 0.3


def test_redirect_queries_answers_302_to_an_html_page(mock: Configure, http: httpx.Client) -> None:
    mock(faults=FaultConfig(redirect_queries=True))
    prediction = created(http)
    response = http.get(f"/replicate/v1/predictions/{prediction['id']}")
    assert response.status_code == 302
    assert response.headers["location"] == "/mock/elsewhere"
    followed = http.get(f"/replicate/v1/predictions/{prediction['id']}", follow_redirects=True)
    assert followed.status_code == 200
    assert followed.headers["content-type"].startswith("text/html")


def test_html_errors_answer_an_html_502_page(mock: Configure, http: httpx.Client) -> None:
    mock(faults=FaultConfig(html_errors=True))
    for response in (create(http), http.get("/replicate/v1/predictions/x")):
        assert response.status_code == 502
        assert response.headers["content-type"].startswith("text/html")
        assert "<html>" in response.text


def test_file_errors_answer_503_then_the_file(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0, faults=FaultConfig(file_errors=2))
    url = created(http)["output"][0]
    assert [http.get(url).status_code for _ in range(3)] == [503, 503, 200]


def test_missing_files_answer_404(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0, faults=FaultConfig(missing_files=True))
    assert http.get(created(http)["output"][0]).status_code == 404


def test_corrupt_images_are_not_decodable(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0, faults=FaultConfig(corrupt_images=True))
    response = http.get(created(http)["output"][0])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(response.content))


def test_huge_image_claims_100000_by_100000_pixels(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0, faults=FaultConfig(huge_image=True))
    data = http.get(created(http)["output"][0]).content
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", data[16:24]) == (100_000, 100_000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(data))


def test_fail_rate_one_fails_every_prediction(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0, faults=FaultConfig(fail_rate=1.0))
    prediction = created(http)
    assert prediction["status"] == "failed"
    assert prediction["error"] and prediction["output"] is None


def test_random_faults_are_deterministic_for_a_seed(mock: Configure, http: httpx.Client) -> None:
    def statuses() -> list[int]:
        mock(generation_time=0, faults=FaultConfig(random_fault_rate=0.5, fault_seed=7))
        codes = [create(http).status_code for _ in range(12)]
        return codes + [http.get("/replicate/v1/predictions/x").status_code for _ in range(12)]

    first = statuses()
    assert first == statuses()
    assert {429, 503} <= set(first) and 201 in first and 404 in first


def test_fault_injector_sequences_repeat_for_the_same_seed() -> None:
    def run() -> list[object]:
        injector = FaultInjector(FaultConfig(random_fault_rate=0.3, fail_rate=0.3, fault_seed=3))
        return [(injector.on_query(), injector.outcome("x").status) for _ in range(50)]

    assert run() == run()


# --- prompt directives ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("directive", "status", "error"),
    [
        ("[mock:nsfw]", "failed", NSFW_ERROR),
        ("[mock:fail]", "failed", ...),
        ("[mock:cancel]", "canceled", None),
        ("[mock:abort]", "aborted", None),
        ("[MOCK:unknown-status]", "succeeded", None),
    ],
)
def test_prompt_directives_decide_how_a_prediction_ends(
    mock: Configure, http: httpx.Client, directive: str, status: str, error: object
) -> None:
    mock(generation_time=0.15, start_delay=0.05)
    prediction = created(http, prompt=f"a cat {directive}")
    done = wait_done(http, prediction["id"])
    assert done["status"] == status
    assert done["output"] is None or status == "succeeded"
    if error is ...:
        assert done["error"]
    else:
        assert done["error"] == error


def test_abort_directive_never_starts(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0.15, start_delay=0.01)
    prediction = created(http, prompt="[mock:abort]")
    time.sleep(0.05)
    assert query(http, prediction["id"])["status"] == "starting"
    done = wait_done(http, prediction["id"])
    assert done["started_at"] is None and done["completed_at"] is not None


def test_unknown_status_directive_reports_an_unknown_pending_status(
    mock: Configure, http: httpx.Client
) -> None:
    prediction = created(http, prompt="[mock:unknown-status]")
    assert prediction["status"] == "queued_somewhere"


def test_stuck_directive_stays_processing_until_canceled(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0.05, start_delay=0.01)
    prediction = created(http, prompt="[mock:stuck]")
    time.sleep(0.1)
    assert query(http, prediction["id"])["status"] == "processing"
    http.post(f"/replicate/v1/predictions/{prediction['id']}/cancel")
    assert query(http, prediction["id"])["status"] == "canceled"


def test_slow_directive_sets_the_generation_time(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0.05)
    prediction = created(http, prompt="a cat [mock:slow=0.4]")
    time.sleep(0.15)
    assert query(http, prediction["id"])["status"] == "processing"
    time.sleep(0.3)
    assert query(http, prediction["id"])["status"] == "succeeded"


def test_prompt_directives_can_be_switched_off(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0, faults=FaultConfig(prompt_directives=False))
    assert created(http, prompt="[mock:nsfw]")["status"] == "succeeded"


# --- the races and cut files of issue #17 -----------------------------------------------------


def test_a_late_cancel_finds_the_prediction_succeeded_with_its_output(
    mock: Configure, http: httpx.Client
) -> None:
    mock(faults=FaultConfig(late_cancels=1))
    stuck = created(http, prompt="[mock:stuck] a")
    answer = http.post(f"/replicate/v1/predictions/{stuck['id']}/cancel").json()
    assert answer["status"] == "succeeded" and len(answer["output"]) == 1
    assert http.get(answer["output"][0].removeprefix(str(http.base_url))).status_code == 200
    # Used up: the next cancel arrives in time.
    other = created(http, prompt="[mock:stuck] b")
    again = http.post(f"/replicate/v1/predictions/{other['id']}/cancel").json()
    assert again["status"] == "canceled" and again["output"] is None


def test_a_late_fal_cancel_answers_already_completed_and_the_result_has_the_images(
    mock: Configure, http: httpx.Client
) -> None:
    mock(faults=FaultConfig(late_cancels=1))
    request_id = submit(http, prompt="[mock:stuck] a", num_images=2)["request_id"]
    answer = http.put(f"/fal-ai/flux/requests/{request_id}/cancel")
    assert (answer.status_code, answer.json()) == (400, {"status": "ALREADY_COMPLETED"})
    result = http.get(f"/fal-ai/flux/requests/{request_id}").json()
    assert len(result["images"]) == 2 and result["has_nsfw_concepts"] == [False, False]


@pytest.mark.parametrize("fault", ["truncated_files", "short_bodies"])
def test_cut_files_are_half_the_file_with_their_own_or_the_whole_content_length(
    mock: Configure, http: httpx.Client, fault: str
) -> None:
    mock(generation_time=0, faults=FaultConfig(**{fault: 1}))
    url = wait_done(http, created(http, output_format="png")["id"])["output"][0]
    path = url.removeprefix(str(http.base_url).rstrip("/"))
    if fault == "short_bodies":  # over a socket the server drops the connection instead
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(path)
    else:
        cut = http.get(path)
        assert int(cut.headers["content-length"]) == len(cut.content)
        assert not cut.content.endswith(b"IEND\xaeB`\x82")
    whole = http.get(path).content
    assert whole.endswith(b"IEND\xaeB`\x82")
    if fault == "truncated_files":
        assert cut.content == whole[: len(whole) // 2]
