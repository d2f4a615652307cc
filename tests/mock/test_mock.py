"""The mock API over real HTTP on loopback: protocol shape, timing, files, auth, faults, CLI."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image, UnidentifiedImageError

import flux_widgets.mock as mock_package
from flux_widgets.mock import FaultConfig, MockConfig, MockServer, create_app
from flux_widgets.mock.faults import NSFW_ERROR, FaultInjector
from flux_widgets.mock.render import Renderer, RenderSpec, render
from flux_widgets.mock.server import shared_server
from flux_widgets.params import ASPECT_RATIOS, MEGAPIXELS, pixel_size

COMET = "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"
REPLICATE = "/v1/models/black-forest-labs/flux-schnell/predictions"
MAGIC = {"webp": (b"RIFF", "WEBP"), "jpg": (b"\xff\xd8\xff", "JPEG"), "png": (b"\x89PNG", "PNG")}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")

Configure = Callable[..., MockServer]


@pytest.fixture
def mock(module_server: MockServer) -> Configure:
    """Reconfigure the module's server: ``server = mock(generation_time=0)``."""

    def configure(**settings: Any) -> MockServer:
        module_server.state.reset(MockConfig(**settings))
        return module_server

    configure(generation_time=0.3, start_delay=0.1)
    return configure


@pytest.fixture
def http(module_server: MockServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=module_server.url, timeout=10) as client:
        yield client


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


# --- the prediction lifecycle -----------------------------------------------------------------


def test_create_answers_201_starting_then_processing_then_succeeded_with_file_urls(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0.4, start_delay=0.15)
    response = create(http, num_outputs=2)
    assert response.status_code == 201
    prediction = response.json()
    assert prediction["status"] == "starting"
    assert prediction["output"] is None and prediction["started_at"] is None
    assert prediction["logs"] == ""

    time.sleep(0.2)
    processing = query(http, prediction["id"])
    assert processing["status"] == "processing"
    assert TIMESTAMP.match(processing["started_at"])
    assert processing["output"] is None and processing["completed_at"] is None

    time.sleep(0.25)
    done = query(http, prediction["id"])
    assert done["status"] == "succeeded"
    assert TIMESTAMP.match(done["completed_at"])
    assert done["metrics"]["image_count"] == 2
    assert done["metrics"]["predict_time"] == pytest.approx(0.25)
    base = f"{http.base_url}".rstrip("/")
    assert done["output"] == [
        f"{base}/files/{prediction['id']}/out-0.webp",
        f"{base}/files/{prediction['id']}/out-1.webp",
    ]


def test_prediction_object_has_every_protocol_field(mock: Configure, http: httpx.Client) -> None:
    sent: dict[str, Any] = {
        "prompt": "a red fox",
        "aspect_ratio": "16:9",
        "seed": 5,
        "go_fast": False,
    }
    prediction = created(http, **sent)
    assert set(prediction) == {
        "id", "model", "version", "input", "logs", "output", "data_removed", "error",
        "source", "status", "created_at", "started_at", "completed_at", "metrics", "urls",
    }  # fmt: skip
    assert re.fullmatch(r"[a-z0-9]{26}", prediction["id"])
    assert prediction["model"] == "black-forest-labs/flux-schnell"
    assert prediction["version"] == "hidden"
    assert prediction["input"] == sent
    assert prediction["source"] == "api"
    assert prediction["error"] is None and prediction["data_removed"] is False
    assert TIMESTAMP.match(prediction["created_at"])


def test_replicate_routes_serve_the_same_lifecycle(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0.05, start_delay=0.01)
    prediction = created(http, REPLICATE)
    time.sleep(0.1)
    done = query(http, prediction["id"], prefix="")
    assert done["status"] == "succeeded"
    assert http.get(done["output"][0]).status_code == 200


def test_unknown_model_and_unknown_prediction_answer_404_json(
    mock: Configure, http: httpx.Client
) -> None:
    other = http.post("/v1/models/black-forest-labs/flux-dev/predictions", json={"input": {}})
    assert other.status_code == 404 and other.headers["content-type"] == "application/problem+json"
    other = http.post("/replicate/v1/models/x/y/predictions", json={"input": {"prompt": "a"}})
    assert other.status_code == 404 and "error" in other.json()
    for prefix in ("/replicate", ""):
        assert http.get(f"{prefix}/v1/predictions/nope").status_code == 404
        assert http.post(f"{prefix}/v1/predictions/nope/cancel").status_code == 404


# --- files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("megapixels", MEGAPIXELS)
def test_files_have_the_exact_pixel_size_of_every_aspect_ratio(
    mock: Configure, http: httpx.Client, megapixels: str
) -> None:
    mock(generation_time=0)
    for aspect_ratio in ASPECT_RATIOS:
        prediction = created(
            http, aspect_ratio=aspect_ratio, megapixels=megapixels, output_format="jpg"
        )
        assert prediction["status"] == "succeeded"
        data = http.get(prediction["output"][0]).content
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == pixel_size(aspect_ratio, megapixels)


@pytest.mark.parametrize("output_format", ["webp", "jpg", "png"])
def test_files_have_the_requested_format_content_type_and_length(
    mock: Configure, http: httpx.Client, output_format: str
) -> None:
    mock(generation_time=0)
    prediction = created(http, output_format=output_format, megapixels="0.25")
    url = prediction["output"][0]
    assert url.endswith(f"/out-0.{output_format}")
    response = http.get(url)
    assert response.status_code == 200
    magic, pil_format = MAGIC[output_format]
    assert response.content.startswith(magic)
    assert response.headers["content-type"] == {
        "webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"
    }[output_format]  # fmt: skip
    assert int(response.headers["content-length"]) == len(response.content)
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == pil_format


@pytest.mark.parametrize("output_format", ["webp", "jpg"])
def test_output_quality_changes_lossy_files(
    mock: Configure, http: httpx.Client, output_format: str
) -> None:
    mock(generation_time=0)
    low, high = (
        created(http, seed=1, output_format=output_format, output_quality=q, megapixels="0.25")
        for q in (5, 100)
    )
    assert len(http.get(low["output"][0]).content) < len(http.get(high["output"][0]).content)


def test_output_quality_is_ignored_for_png(mock: Configure, http: httpx.Client) -> None:
    mock(generation_time=0)
    low, high = (
        created(
            http, seed=1, output_format="png", output_quality=q, megapixels="0.25", go_fast=False
        )
        for q in (5, 100)
    )
    assert http.get(low["output"][0]).content == http.get(high["output"][0]).content


def test_same_prompt_seed_and_index_give_the_same_bytes(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0)
    # go_fast off: with it on, each prediction varies slightly, as fp8 does on the real API.
    first, second = (
        created(http, seed=42, num_outputs=2, megapixels="0.25", go_fast=False) for _ in range(2)
    )
    assert first["id"] != second["id"]
    a0, a1 = (http.get(url).content for url in first["output"])
    b0, b1 = (http.get(url).content for url in second["output"])
    assert a0 == b0 and a1 == b1
    assert a0 != a1, "another index must give another image"
    other_seed = created(http, seed=43, megapixels="0.25")
    assert http.get(other_seed["output"][0]).content != a0


def test_seed_used_is_in_the_logs_random_when_none_given(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0)
    seeds = set()
    for _ in range(2):
        logs = created(http)["logs"]
        match = re.search(r"Using seed: (\d+)", logs)
        assert match, logs
        seeds.add(int(match.group(1)))
    assert len(seeds) == 2
    assert "Using seed: 1234\n" in created(http, seed=1234)["logs"]


def test_files_need_no_key_and_expire_after_the_ttl(mock: Configure, http: httpx.Client) -> None:
    # Long enough that a loaded machine still fetches the file before it expires.
    server = mock(generation_time=0, api_key="sk-secret", file_ttl=1.5)
    headers = {"Authorization": "Bearer sk-secret"}
    prediction = http.post(COMET, json={"input": {"prompt": "x"}}, headers=headers).json()
    with httpx.Client(timeout=10) as anonymous:
        assert anonymous.get(prediction["output"][0]).status_code == 200
        time.sleep(1.6)
        assert anonymous.get(prediction["output"][0]).status_code == 404
    later = http.get(f"/replicate/v1/predictions/{prediction['id']}", headers=headers).json()
    assert later["data_removed"] is True
    file_requests = [r for r in server.state.requests if r.path.startswith("/files/")]
    assert len(file_requests) == 2
    assert not any(r.has_authorization for r in file_requests)


def test_file_urls_use_files_base_url_and_urls_use_urls_base_url(
    mock: Configure, http: httpx.Client, module_server: MockServer
) -> None:
    files_host = f"localhost:{module_server.port}"
    mock(
        generation_time=0,
        files_base_url=f"http://{files_host}/",
        urls_base_url="http://127.0.0.1:9/trap",
    )
    prediction = created(http)
    assert prediction["output"][0].startswith(f"http://{files_host}/files/")
    assert prediction["urls"] == {
        "get": f"http://127.0.0.1:9/trap/v1/predictions/{prediction['id']}",
        "cancel": f"http://127.0.0.1:9/trap/v1/predictions/{prediction['id']}/cancel",
        "stream": f"http://127.0.0.1:9/trap/v1/predictions/{prediction['id']}/stream",
        "web": f"http://127.0.0.1:9/trap/p/{prediction['id']}",
    }
    with httpx.Client(timeout=10) as files:
        assert files.get(prediction["output"][0]).status_code == 200
    assert module_server.state.requests[-1].host == files_host


def test_urls_point_at_api_replicate_com_by_default_as_cometapi_does(
    mock: Configure, http: httpx.Client
) -> None:
    prediction = created(http)
    assert prediction["urls"]["get"].startswith("https://api.replicate.com/v1/predictions/")


# --- synchronous wait -------------------------------------------------------------------------


def test_prefer_wait_returns_a_finished_prediction_with_preference_applied(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0.3)
    started = time.monotonic()
    response = http.post(REPLICATE, json={"input": {"prompt": "x"}}, headers={"Prefer": "wait"})
    elapsed = time.monotonic() - started
    assert response.status_code == 201
    assert response.headers["preference-applied"] == "wait"
    assert response.json()["status"] == "succeeded"
    assert response.json()["output"]
    assert 0.28 <= elapsed < 1.0


def test_prefer_wait_n_returns_an_incomplete_prediction_after_n_seconds(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=3)
    started = time.monotonic()
    response = http.post(REPLICATE, json={"input": {"prompt": "x"}}, headers={"Prefer": "wait=1"})
    elapsed = time.monotonic() - started
    assert response.headers["preference-applied"] == "wait=1"
    assert response.json()["status"] == "processing"
    assert response.json()["output"] is None
    assert 0.95 <= elapsed < 1.6


def test_cometapi_routes_ignore_prefer_wait_unless_enabled(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0.3)
    response = http.post(COMET, json={"input": {"prompt": "x"}}, headers={"Prefer": "wait"})
    assert response.json()["status"] == "starting"
    assert "preference-applied" not in response.headers

    mock(generation_time=0.3, sync_wait_cometapi=True)
    response = http.post(COMET, json={"input": {"prompt": "x"}}, headers={"Prefer": "wait"})
    assert response.json()["status"] == "succeeded"
    assert response.headers["preference-applied"] == "wait"


def test_replicate_routes_ignore_prefer_wait_when_disabled(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0.3, sync_wait_replicate=False)
    response = http.post(REPLICATE, json={"input": {"prompt": "x"}}, headers={"Prefer": "wait"})
    assert response.json()["status"] == "starting"


def test_prefer_wait_out_of_range_is_not_applied(mock: Configure, http: httpx.Client) -> None:
    response = http.post(REPLICATE, json={"input": {"prompt": "x"}}, headers={"Prefer": "wait=0"})
    assert response.json()["status"] == "starting"
    assert "preference-applied" not in response.headers


async def test_cancel_wakes_a_create_held_by_prefer_wait(
    mock: Configure, module_server: MockServer
) -> None:
    mock(generation_time=0.2)
    async with httpx.AsyncClient(base_url=module_server.url, timeout=10) as client:
        started = time.monotonic()
        held = asyncio.ensure_future(
            client.post(
                REPLICATE,
                json={"input": {"prompt": "[mock:stuck]"}},
                headers={"Prefer": "wait=10"},
            )
        )
        for _ in range(500):  # until the held create has made its prediction
            if module_server.state.predictions:
                break
            await asyncio.sleep(0.01)
        (prediction_id,) = module_server.state.predictions
        await asyncio.sleep(0.1)
        canceled = await client.post(f"/v1/predictions/{prediction_id}/cancel")
        assert canceled.json()["status"] == "canceled"
        response = await held
    assert response.json()["status"] == "canceled"
    assert time.monotonic() - started < 2


async def test_many_concurrent_waiting_creates_finish_together(
    mock: Configure, module_server: MockServer
) -> None:
    mock(generation_time=0.5)
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=module_server.url, timeout=20, limits=limits) as client:

        async def one(seed: int) -> float:
            body = {"input": {"prompt": "load", "seed": seed, "megapixels": "0.25"}}
            response = await client.post(REPLICATE, json=body, headers={"Prefer": "wait"})
            assert response.json()["status"] == "succeeded"
            image = await client.get(response.json()["output"][0])
            assert image.status_code == 200
            return time.monotonic()

        started = time.monotonic()
        finished = await asyncio.gather(*(one(seed) for seed in range(50)))
    # One after another would take 25 s; held together, they end soon after 0.5 s.
    assert max(finished) - started < 4.0


# --- cancel -----------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/replicate", ""])
def test_cancel_of_a_pending_prediction_makes_it_canceled(
    mock: Configure, http: httpx.Client, prefix: str
) -> None:
    prediction = created(http, f"{prefix}/v1/models/black-forest-labs/flux-schnell/predictions")
    response = http.post(f"{prefix}/v1/predictions/{prediction['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert response.json()["completed_at"] is not None
    time.sleep(0.35)
    assert query(http, prediction["id"])["status"] == "canceled"
    assert query(http, prediction["id"])["output"] is None


def test_cancel_of_a_finished_prediction_leaves_it_as_it_is(
    mock: Configure, http: httpx.Client
) -> None:
    mock(generation_time=0)
    prediction = created(http)
    response = http.post(f"/replicate/v1/predictions/{prediction['id']}/cancel")
    assert response.json()["status"] == "succeeded"


# --- validation -------------------------------------------------------------------------------


def test_invalid_input_is_a_422_problem_naming_every_field(
    mock: Configure, http: httpx.Client
) -> None:
    for path in (COMET, REPLICATE):
        response = create(
            http, path, num_outputs=5, aspect_ratio="7:3", output_quality=101, go_fast="yes"
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["title"] == "Input validation failed"
        assert body["status"] == 422
        fields = [f["field"] for f in body["invalid_fields"]]
        assert sorted(fields) == [
            "input.aspect_ratio", "input.go_fast", "input.num_outputs", "input.output_quality"
        ]  # fmt: skip
        assert all(f["type"] and f["description"] for f in body["invalid_fields"])
        assert body["detail"].startswith("- input.")
        assert body["detail"].endswith("\n")
        assert body["detail"].count("\n") == 4
    assert http.get("/mock/health").json()["creates"] == 0


def test_missing_prompt_or_input_is_a_422(mock: Configure, http: httpx.Client) -> None:
    no_prompt = http.post(COMET, json={"input": {"seed": 1}})
    assert no_prompt.status_code == 422
    assert no_prompt.json()["invalid_fields"][0]["type"] == "required"
    for body in ({}, {"input": "a cat"}, [1, 2]):
        response = http.post(COMET, json=body)
        assert response.status_code == 422
        assert response.json()["invalid_fields"][0]["field"] == "input"


def test_a_body_that_is_not_json_is_a_400(mock: Configure, http: httpx.Client) -> None:
    response = http.post(COMET, content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "comet_api_error"


def test_unknown_input_keys_are_ignored_but_secret_named_ones_not_echoed(
    mock: Configure, http: httpx.Client
) -> None:
    prediction = created(http, style="vivid", api_key="sk-leak", Authorization="Bearer x")
    assert prediction["input"] == {"prompt": "a paper boat on calm water", "style": "vivid"}


# --- auth -------------------------------------------------------------------------------------


def test_a_wrong_or_missing_key_gets_401_in_the_cometapi_envelope(
    mock: Configure, http: httpx.Client
) -> None:
    mock(api_key="sk-right")
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": "sk-right"}):
        response = http.post(COMET, json={"input": {"prompt": "x"}}, headers=headers)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["type"] == "comet_api_error"
        assert error["message"].startswith("Invalid Token (request id: ")
        assert error["param"] == "" and error["code"] == ""
        assert "sk-" not in response.text
    assert http.get("/replicate/v1/predictions/x").status_code == 401
    assert http.post("/replicate/v1/predictions/x/cancel").status_code == 401


def test_a_wrong_key_gets_401_problem_json_on_replicate_routes(
    mock: Configure, http: httpx.Client
) -> None:
    mock(api_key="r8_right")
    headers = {"Authorization": "Bearer r8_wrong"}
    response = http.post(REPLICATE, json={"input": {"prompt": "x"}}, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "title": "Unauthenticated",
        "detail": "You did not pass a valid authentication token",
        "status": 401,
    }
    assert http.get("/v1/predictions/x", headers=headers).status_code == 401


def test_the_right_key_is_accepted(mock: Configure, http: httpx.Client) -> None:
    mock(api_key="sk-right")
    headers = {"Authorization": "Bearer sk-right"}
    response = http.post(COMET, json={"input": {"prompt": "x"}}, headers=headers)
    assert response.status_code == 201
    prediction_id = response.json()["id"]
    assert http.get(f"/replicate/v1/predictions/{prediction_id}", headers=headers).is_success


# --- admin ------------------------------------------------------------------------------------


def test_recorded_requests_show_host_and_auth_scheme_never_the_key(
    mock: Configure, http: httpx.Client, module_server: MockServer
) -> None:
    http.post(COMET, json={"input": {"prompt": "x"}}, headers={"Authorization": "Bearer sk-1"})
    http.get("/replicate/v1/predictions/nope", headers={"Prefer": "wait=5"})
    records = http.get("/mock/requests").json()
    assert [(r["method"], r["path"]) for r in records] == [
        ("POST", COMET),
        ("GET", "/replicate/v1/predictions/nope"),
    ]
    assert records[0]["has_authorization"] is True
    assert records[0]["auth_scheme"] == "Bearer"
    assert records[1]["has_authorization"] is False and records[1]["prefer"] == "wait=5"
    assert records[0]["host"] == f"127.0.0.1:{module_server.port}"
    assert "sk-1" not in str(records) and "sk-1" not in repr(module_server.state.requests)
    assert module_server.state.creates == 1


def test_reset_forgets_predictions_requests_and_restores_faults(
    mock: Configure, http: httpx.Client, module_server: MockServer
) -> None:
    mock(faults=FaultConfig(query_errors=2))
    prediction = created(http)
    assert http.get(f"/replicate/v1/predictions/{prediction['id']}").status_code == 503
    assert http.get("/mock/faults").json()["query_errors"] == 1
    assert http.post("/mock/reset").status_code == 200
    assert http.get("/mock/requests").json() == []
    assert http.get("/mock/faults").json()["query_errors"] == 2
    assert http.get("/mock/health").json() == {"status": "ok", "predictions": 0, "creates": 0}


def test_faults_can_be_read_and_replaced_at_runtime(mock: Configure, http: httpx.Client) -> None:
    assert http.get("/mock/faults").json() == FaultConfig().to_dict()
    response = http.put("/mock/faults", json={"create_unavailable": 1})
    assert response.status_code == 200 and response.json()["create_unavailable"] == 1
    assert create(http).status_code == 503
    assert create(http).status_code == 201
    assert http.get("/mock/faults").json()["create_unavailable"] == 0
    assert http.put("/mock/faults", json={"no_such_fault": 1}).status_code == 422
    assert http.put("/mock/faults", json={"query_errors": "many"}).status_code == 422
    assert http.put("/mock/faults", json=[1]).status_code == 422


def test_fault_config_round_trips_through_json() -> None:
    faults = FaultConfig(rate_limit_creates=2, retry_after=0.5, html_errors=True, fail_rate=0.1)
    assert FaultConfig.from_dict(faults.to_dict()) == faults
    with pytest.raises(ValueError, match="unknown fault"):
        FaultConfig.from_dict({"rate_limits": 1})
    with pytest.raises(ValueError, match="probability"):
        FaultConfig(fail_rate=2)
    with pytest.raises(ValueError, match="whole number"):
        FaultConfig(query_errors=True)


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


# --- rendering, servers, package --------------------------------------------------------------


def test_render_is_deterministic_and_fast_enough_for_load_tests() -> None:
    spec = RenderSpec("a lighthouse", 7, 0, "webp", 80, 1024, 1024)
    assert render(spec) == render(spec)
    timings = []
    for seed in range(3):
        started = time.perf_counter()
        render(RenderSpec("a lighthouse", seed, 0, "webp", 80, 1024, 1024))
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[1] < 0.25  # measured ~25 ms; generous for slow CI machines


def test_renderer_shares_renders_in_flight_and_bounds_its_cache() -> None:
    renderer = Renderer(max_bytes=30_000, max_workers=2)
    spec = RenderSpec("x", 1, 0, "jpg", 80, 512, 512)
    assert renderer.submit(spec) is renderer.submit(spec) or renderer.cached(spec) is not None
    data = renderer.submit(spec).result(timeout=10)
    assert renderer.cached(spec) == data
    assert renderer.submit(spec).result() == data
    for seed in range(2, 6):
        renderer.submit(RenderSpec("x", seed, 0, "jpg", 80, 512, 512)).result(timeout=10)
    assert renderer.cached(spec) is None, "the oldest file must be evicted past max_bytes"


def test_png_quality_does_not_split_the_cache() -> None:
    assert RenderSpec("x", 1, 0, "png", 5, 64, 64) == RenderSpec("x", 1, 0, "png", 90, 64, 64)


def test_servers_on_port_zero_get_distinct_free_ports() -> None:
    with MockServer() as first, MockServer() as second:
        assert first.port != second.port and first.port > 0
        assert httpx.get(f"{first.url}/mock/health").json()["status"] == "ok"
        assert httpx.get(f"{second.url}/mock/health").json()["status"] == "ok"
        url = first.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/mock/health")


def test_shared_server_is_one_started_instance() -> None:
    server = shared_server()
    assert server is shared_server()
    assert server.running
    assert httpx.get(f"{server.url}/mock/health").json()["status"] == "ok"


def test_create_app_keeps_its_state_on_app_state_mock() -> None:
    app = create_app(MockConfig(generation_time=2))
    assert app.state.mock.config.generation_time == 2
    assert app.state.mock.predictions == {}


def test_package_exports_a_sorted_complete_all() -> None:
    assert mock_package.__all__ == sorted(mock_package.__all__)
    assert set(mock_package.__all__) == {"FaultConfig", "MockConfig", "MockServer", "create_app"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_command_line_serves_the_api_until_terminated() -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "flux_widgets.mock", "--port", str(port)]
    command += ["--generation-time", "0.05", "--query-errors", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/mock/health").status_code == 200:
                    break
            except httpx.ConnectError:
                pass
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the mock did not start"
            time.sleep(0.05)
        assert httpx.get(f"{url}/mock/faults").json()["query_errors"] == 1
        body = {"input": {"prompt": "cli", "output_format": "png", "megapixels": "0.25"}}
        response = httpx.post(f"{url}{REPLICATE}", json=body, headers={"Prefer": "wait"})
        assert response.json()["status"] == "succeeded"
        image = httpx.get(response.json()["output"][0])
        assert image.content.startswith(b"\x89PNG")
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert url in stdout.decode()
