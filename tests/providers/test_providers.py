"""Reading the providers' answers: predictions, both error envelopes, Retry-After, odd shapes.

Pure functions are tested on hand-built responses; shapes the mock never produces go through a
real FluxClient over ``httpx.MockTransport``.
"""

from __future__ import annotations

import email.utils
import io
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image

from flux_widgets import (
    APIError,
    AuthenticationError,
    FluxClient,
    InsufficientCreditError,
    InvalidRequestError,
    ProtocolError,
    RateLimitError,
    ServerError,
)
from flux_widgets.providers import parse_prediction, parse_timestamp
from flux_widgets.transport.http_errors import (
    MAX_RETRY_AFTER,
    error_from_response,
    retry_after_seconds,
)
from flux_widgets.transport.retry import Backoff, is_retryable

QUERY_URL = "https://api.example.test/replicate/v1/predictions/abc"


def _response(
    status: int = 200,
    *,
    json: Any = None,
    text: str | None = None,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> httpx.Response:
    request = httpx.Request(method, QUERY_URL)
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    return httpx.Response(status, json=json, headers=headers, request=request)


# --- parse_prediction ----------------------------------------------------------------------


def test_prediction_with_nanosecond_timestamps_and_a_list_of_urls() -> None:
    body = {
        "id": "abc",
        "status": "succeeded",
        "output": ["https://replicate.delivery/a.webp", "https://replicate.delivery/b.webp"],
        "logs": "Using seed: 7\n",
        "metrics": {"predict_time": 0.56},
        "created_at": "2025-02-26T15:02:03.35548709Z",
        "completed_at": "2025-02-26T15:02:04.1Z",
    }
    prediction = parse_prediction(_response(json=body))
    assert prediction.output == tuple(body["output"])
    assert prediction.predict_time == 0.56 and prediction.is_final
    assert prediction.duration == pytest.approx(0.744513, abs=1e-6)


def test_output_as_a_single_string_is_one_url() -> None:
    body = {"id": "abc", "status": "succeeded", "output": "https://replicate.delivery/a.png"}
    assert parse_prediction(_response(json=body)).output == ("https://replicate.delivery/a.png",)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status": "starting"}, "has no id"),
        ({"id": "", "status": "starting"}, "has no id"),
        ({"id": 12, "status": "starting"}, "has no id"),
        ({"id": "abc"}, "has no status"),
        ({"id": "abc", "status": None}, "has no status"),
        ({"id": "abc", "status": "succeeded", "output": {"url": "x"}}, "not URLs"),
        ({"id": "abc", "status": "succeeded", "output": [1, 2]}, "not URLs"),
        ({"id": "abc", "status": "succeeded", "output": ["file:///etc/passwd"]}, "not a URL"),
        (["a", "list"], "expected a prediction object"),
        ("just a string", "expected a prediction object"),
    ],
)
def test_broken_predictions_are_protocol_errors(body: Any, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_prediction(_response(json=body))


@pytest.mark.parametrize(
    ("text", "content_type"),
    [
        ("<html><body>Sign in</body></html>", "text/html"),
        ("not json at all", "text/plain"),
        ("", "application/json"),
        ("[" * 100_000, "application/json"),  # nested too deep for the decoder
    ],
)
def test_non_json_bodies_are_protocol_errors(text: str, content_type: str) -> None:
    response = _response(text=text, headers={"content-type": content_type})
    with pytest.raises(ProtocolError, match="not JSON"):
        parse_prediction(response)


def test_odd_optional_fields_are_tolerated() -> None:
    body = {
        "id": "abc",
        "status": "processing",
        "output": None,
        "logs": None,
        "metrics": "n/a",
        "error": None,
        "created_at": "yesterday",
        "completed_at": 17,
    }
    prediction = parse_prediction(_response(json=body))
    assert prediction.logs == "" and prediction.predict_time is None
    assert prediction.duration is None and prediction.output == ()


@pytest.mark.parametrize(
    ("text", "microsecond"),
    [
        ("2025-02-26T15:02:03.355487090Z", 355487),
        ("2025-02-26T15:02:03.35Z", 350000),
        ("2025-02-26T15:02:03Z", 0),
        ("2025-02-26T15:02:03.1+0100", 100000),
    ],
)
def test_timestamps_with_any_fraction_length(text: str, microsecond: int) -> None:
    parsed = parse_timestamp(text)
    assert parsed is not None and parsed.microsecond == microsecond and parsed.tzinfo


# --- error_from_response -------------------------------------------------------------------


def _comet(status: int, message: str, code: str = "") -> httpx.Response:
    body = {"error": {"message": message, "type": "comet_api_error", "param": "", "code": code}}
    return _response(status, json=body, method="POST")


def test_cometapi_401_is_an_authentication_error_with_the_request_id() -> None:
    error = error_from_response(_comet(401, "Invalid Token (request id: 2026031211)"))
    assert isinstance(error, AuthenticationError)
    assert error.status_code == 401 and error.request_id == "2026031211"
    assert "Invalid Token" in str(error)


def test_replicate_problem_json_401() -> None:
    body = {"title": "Unauthenticated", "detail": "You did not pass a valid authentication token"}
    error = error_from_response(_response(401, json=body))
    assert isinstance(error, AuthenticationError) and "valid authentication token" in str(error)


@pytest.mark.parametrize(
    "response",
    [
        _comet(402, "Insufficient account balance", "insufficient_quota"),
        _response(402, json={"title": "Insufficient credit", "detail": "Top up.", "status": 402}),
    ],
)
def test_402_is_insufficient_credit_in_both_envelopes(response: httpx.Response) -> None:
    error = error_from_response(response)
    assert isinstance(error, InsufficientCreditError) and "credit" in str(error)
    assert not is_retryable(error, create=True) and not is_retryable(error, create=False)


def test_replicate_422_names_the_invalid_fields() -> None:
    body = {
        "title": "Input validation failed",
        "detail": "- input.num_outputs: Must be less than or equal to 4\n",
        "status": 422,
        "invalid_fields": [
            {"type": "less_than_equal", "field": "input.num_outputs", "description": "..."}
        ],
    }
    error = error_from_response(_response(422, json=body))
    assert isinstance(error, InvalidRequestError)
    assert error.invalid_fields == ("input.num_outputs",)
    assert "Must be less than or equal to 4" in str(error)


def test_422_with_a_malformed_invalid_fields_list_is_still_read() -> None:
    body = {"title": "Input validation failed", "invalid_fields": 42}
    error = error_from_response(_response(422, json=body))
    assert isinstance(error, InvalidRequestError) and error.invalid_fields == ()


def test_cometapi_500_invalid_request_is_the_callers_fault_and_not_retried() -> None:
    error = error_from_response(_comet(500, "bad input (request id: x1)", "invalid_request"))
    assert isinstance(error, InvalidRequestError) and error.status_code == 500
    assert not is_retryable(error, create=False) and not is_retryable(error, create=True)


def test_an_html_error_page_says_so() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head></html>"
    response = _response(502, text=page, headers={"content-type": "text/html"})
    error = error_from_response(response)
    assert isinstance(error, ServerError) and "HTML page instead of JSON" in str(error)


def test_a_redirect_is_a_protocol_error_naming_the_location() -> None:
    response = _response(302, text="", headers={"location": "https://example.test/login"})
    error = error_from_response(response)
    assert isinstance(error, ProtocolError) and "https://example.test/login" in str(error)


def test_a_key_echoed_by_the_server_is_redacted() -> None:
    key = "sk-echoed-key-123456"
    error = error_from_response(_comet(401, f"Invalid Token {key}"), key)
    assert key not in str(error) and key not in (error.detail or "")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "on_create", "on_query"),
    [
        (429, True, True),
        (503, True, True),
        # A create that got a 500/502/504 may have started a prediction: not sent twice.
        (500, False, True),
        (502, False, True),
        (504, False, True),
        (400, False, False),
        (404, False, False),
        (401, False, False),
    ],
)
def test_which_statuses_are_retried(status: int, on_create: bool, on_query: bool) -> None:
    error = error_from_response(_response(status, json={"detail": "x"}))
    assert is_retryable(error, create=True) is on_create
    assert is_retryable(error, create=False) is on_query


@pytest.mark.parametrize(
    ("error", "on_create", "on_query"),
    [
        (httpx.ConnectError("refused"), True, True),
        (httpx.ConnectTimeout("slow"), True, True),
        (httpx.ReadTimeout("slow"), False, True),  # the prediction may have started
        (httpx.RemoteProtocolError("closed"), False, True),
        (ProtocolError("html"), False, False),
    ],
)
def test_which_network_errors_are_retried(
    error: BaseException, on_create: bool, on_query: bool
) -> None:
    assert is_retryable(error, create=True) is on_create
    assert is_retryable(error, create=False) is on_query


# --- Retry-After ---------------------------------------------------------------------------


def test_retry_after_in_seconds() -> None:
    assert retry_after_seconds(_response(429, headers={"retry-after": "2.5"})) == 2.5
    assert retry_after_seconds(_response(429, headers={"ratelimit-reset": "3"})) == 3.0


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    seconds = retry_after_seconds(_response(429, headers={"retry-after": when}))
    assert seconds is not None and 18 <= seconds <= 20


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("99999", MAX_RETRY_AFTER),
        ("inf", MAX_RETRY_AFTER),
        ("-5", 0.0),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("nan", None),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_is_capped_and_garbage_ignored(value: str, expected: float | None) -> None:
    assert retry_after_seconds(_response(429, headers={"retry-after": value})) == expected


def test_429_and_503_carry_retry_after_for_the_backoff() -> None:
    for status in (429, 503):
        error = error_from_response(_response(status, json={}, headers={"retry-after": "4"}))
        assert isinstance(error, APIError) and error.retry_after == 4.0
        assert 4.0 <= Backoff(base=0.01).delay(1, error) <= 4.01
    assert isinstance(error_from_response(_response(429, json={})), RateLimitError)


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(base=0.1, cap=1.0)
    for attempt, ceiling in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)):
        delays = {backoff.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


# --- shapes the mock cannot produce, through a real client ---------------------------------


def _webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "teal").save(out, "WEBP")
    return out.getvalue()


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> FluxClient:
    client = FluxClient(
        api_key="sk-transport",
        base_url="https://api.example.test",
        transport=httpx.MockTransport(handler),
        sync_wait=False,
        timeout=5,
    )
    client._backoff = Backoff(base=0.01, cap=0.02)
    return client


async def test_client_accepts_output_as_a_single_string() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = {"id": "p", "status": "succeeded", "output": "https://cdn.example.test/o.webp"}
            return httpx.Response(201, json=body)
        return httpx.Response(200, content=_webp())

    async with _client(handler) as client:
        (image,) = await client.generate("a boat")
    assert image.url == "https://cdn.example.test/o.webp" and image.width == 16


async def test_client_accepts_any_2xx_for_create_and_polls_the_query_url() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            return httpx.Response(200, json={"id": "p9", "status": "starting"})
        if request.url.host == "api.example.test":
            body = {"id": "p9", "status": "succeeded", "output": ["https://cdn.example.test/o"]}
            return httpx.Response(200, json=body)
        return httpx.Response(200, content=_webp())

    async with _client(handler) as client:
        assert len(await client.generate("a boat")) == 1
    assert "GET /replicate/v1/predictions/p9" in paths


@pytest.mark.parametrize(
    "query_answer",
    [
        httpx.Response(200, text="<html>maintenance</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, json={"status": "processing"}),
        httpx.Response(200, json={"id": "p"}),
        httpx.Response(200, json={"id": "p", "status": "succeeded", "output": 5}),
        httpx.Response(200, json={"id": "p", "status": "succeeded", "output": []}),
        httpx.Response(200, json={"id": "p", "status": "succeeded"}),
    ],
)
async def test_client_reports_broken_query_answers_as_protocol_errors(
    query_answer: httpx.Response,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"id": "p", "status": "starting"})
        return query_answer

    async with _client(handler) as client:
        with pytest.raises(ProtocolError) as caught:
            await client.generate("a boat")
    assert caught.value.prediction_id == "p"


async def test_client_retries_a_query_429_after_its_retry_after() -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"id": "p", "status": "starting"})
        if request.url.host == "api.example.test":
            times.append(time.monotonic())
            if len(times) == 1:
                return httpx.Response(
                    429, json={"detail": "slow down"}, headers={"retry-after": "0.3"}
                )
            return httpx.Response(
                200, json={"id": "p", "status": "succeeded", "output": ["https://c.test/o"]}
            )
        return httpx.Response(200, content=_webp())

    async with _client(handler) as client:
        assert len(await client.generate("a boat")) == 1
    assert len(times) == 2 and times[1] - times[0] >= 0.3
