"""What the mock app serves for every family: the output files, the admin routes, its state."""

from __future__ import annotations

import io
import re
import time

import httpx
import pytest
from mock_support import (
    COMET,
    MAGIC,
    Configure,
    create,
    created,
)
from PIL import Image

import flux_widgets.mock as mock_package
from flux_widgets.mock import FaultConfig, MockConfig, MockServer, create_app
from flux_widgets.mock.families import FAMILIES
from flux_widgets.mock.family import MockFamily
from flux_widgets.params import ASPECT_RATIOS, MEGAPIXELS, pixel_size

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


# --- the app and the package ---------------------------------------------------------------


def test_create_app_keeps_its_state_on_app_state_mock() -> None:
    app = create_app(MockConfig(generation_time=2))
    assert app.state.mock.config.generation_time == 2
    assert app.state.mock.predictions == {}


def test_package_exports_a_sorted_complete_all() -> None:
    assert mock_package.__all__ == sorted(mock_package.__all__)
    assert set(mock_package.__all__) == {"FaultConfig", "MockConfig", "MockServer", "create_app"}


# --- every family of the registry --------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_every_route_of_every_family_wants_the_key_in_its_scheme(
    mock: Configure, http: httpx.Client, family: MockFamily
) -> None:
    mock(api_key="sk-mock")
    for route in family.routes():
        path = route.path.format(
            owner="black-forest-labs", name="flux-schnell", id="nope", account="acct"
        )
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            refused = http.request(method, path, headers={"Authorization": "Bearer wrong"})
            assert refused.status_code == 401, (method, path)
            assert "sk-mock" not in refused.text and "wrong" not in refused.text.lower()
            right = {"Authorization": f"{family.auth_scheme.title()} sk-mock"}
            accepted = http.request(method, path, headers=right, json={})
            assert accepted.status_code != 401, (method, path, accepted.text)
