"""The provider interface, pure: requests built and answers read for every protocol family."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import httpx
import pytest

from flux_widgets import (
    AuthenticationError,
    ContentFilteredError,
    FluxParams,
    InsufficientCreditError,
    InvalidRequestError,
    MissingAPIKeyError,
    PredictionCanceledError,
    PredictionFailedError,
    ProtocolError,
    RateLimitError,
    ServerError,
)
from flux_widgets.providers import (
    COMETAPI,
    FAL,
    PROVIDERS,
    REPLICATE,
    TOGETHER,
    Job,
    Output,
    Provider,
    resolve_settings,
)
from flux_widgets.schema import FIELDS, SCHEMA
from flux_widgets.transport.downloads import inline_bytes
from flux_widgets.transport.http_errors import error_from_response

BASE = "https://queue.fal.run"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def answer(
    status: int = 200, *, json: Any = None, url: str = BASE, method: str = "GET"
) -> httpx.Response:
    return httpx.Response(status, json=json, request=httpx.Request(method, url))


def params(**values: Any) -> FluxParams:
    values.setdefault("prompt", "a paper boat")
    return FluxParams(**values)


# --- the schema table -----------------------------------------------------------------------


def test_flux_params_fields_and_defaults_are_the_schema_tables() -> None:
    fields = dataclasses.fields(FluxParams)
    assert [f.name for f in fields] == [f.name for f in SCHEMA]
    for field in fields[1:]:
        assert field.default == FIELDS[field.name].default, field.name


def test_every_field_has_a_label_help_and_unique_cli_flags_and_a1111_keys() -> None:
    flags = [flag for f in SCHEMA for flag in f.cli_flags]
    keys = [f.a1111_key for f in SCHEMA if f.a1111_key]
    assert len(flags) == len(set(flags)) and len(keys) == len(set(keys))
    for field in SCHEMA:
        assert field.label and field.help
        assert field.name == "prompt" or (field.cli_flags and field.a1111_key)


def test_schema_problems_match_flux_params_validation() -> None:
    assert FIELDS["num_outputs"].problem(5) == "num_outputs must be from 1 to 4, got 5"
    assert FIELDS["num_outputs"].problem(True) is not None
    assert FIELDS["seed"].problem(None) is None
    with pytest.raises(ValueError, match="num_outputs must be from 1 to 4, got 5"):
        params(num_outputs=5)


def test_a1111_text_round_trips_every_schema_field() -> None:
    from flux_widgets.recipes import a1111_parameters, parse_a1111_parameters

    odd = params(
        aspect_ratio="9:21",
        num_outputs=3,
        num_inference_steps=2,
        seed=-5,
        output_format="png",
        output_quality=7,
        disable_safety_checker=True,
        go_fast=False,
        megapixels="0.25",
    )
    from flux_widgets.recipes.embedding import A1111_LAYOUT

    leading = {"num_inference_steps", "seed"}  # A1111's own Steps and Seed, written first
    assert sorted(A1111_LAYOUT) == sorted(
        f.name for f in SCHEMA if f.a1111_key and f.name not in leading
    )
    text = a1111_parameters(odd)
    assert all(f"{f.a1111_key}: " in text for f in SCHEMA if f.a1111_key)
    assert parse_a1111_parameters(text) == odd


# --- capabilities ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "values", "message"),
    [
        (FAL, {"output_format": "webp"}, "fal cannot give output_format='webp'"),
        (FAL, {"go_fast": False}, "fal has no go_fast setting"),
        (FAL, {"output_quality": 50}, "fal has no output_quality setting"),
        (TOGETHER, {"output_format": "webp"}, "together cannot give output_format='webp'"),
        (TOGETHER, {"disable_safety_checker": True}, "together has no disable_safety_checker"),
    ],
)
def test_a_value_a_provider_cannot_honour_raises_naming_it(
    provider: Provider, values: dict[str, Any], message: str
) -> None:
    base = {"output_format": "jpg"} if "output_format" not in values else {}
    with pytest.raises(ValueError, match=message):
        provider.prepare(params(**base, **values))


def test_predictions_providers_honour_every_value() -> None:
    odd = params(output_format="webp", go_fast=False, output_quality=5, megapixels="0.25")
    assert COMETAPI.prepare(odd) == odd and REPLICATE.prepare(odd) == odd


def test_provider_defaults_replace_what_they_cannot_honour() -> None:
    assert FAL.defaults() == {"output_format": "jpg"} == TOGETHER.defaults()
    assert COMETAPI.defaults() == {}
    assert not FAL.capabilities.supports("go_fast") and FAL.capabilities.supports("megapixels")
    assert FAL.capabilities.allowed_choices("output_format") == ("jpg", "png")


# --- fal ------------------------------------------------------------------------------------


def test_fal_submit_body_is_the_input_with_pixels_inverse_safety_and_jpeg() -> None:
    request = FAL.create_request(
        params(aspect_ratio="16:9", num_outputs=3, seed=9, output_format="jpg", go_fast=True),
        BASE,
        deadline=60,
        sync_wait=True,
    )
    assert (request.method, request.url, request.hold) == ("POST", f"{BASE}/fal-ai/flux/schnell", 0)
    assert request.json == {
        "prompt": "a paper boat",
        "image_size": {"width": 1344, "height": 768},
        "num_inference_steps": 4,
        "num_images": 3,
        "enable_safety_checker": True,
        "output_format": "jpeg",
        "seed": 9,
    }
    small = FAL.create_request(
        params(megapixels="0.25", disable_safety_checker=True, output_format="png"),
        BASE,
        deadline=60,
        sync_wait=False,
    )
    assert small.json["image_size"] == {"width": 512, "height": 512}
    assert small.json["enable_safety_checker"] is False and "seed" not in small.json


def test_fal_status_result_and_cancel_drop_the_schnell_subpath() -> None:
    job = Job(id="r1", status="starting")
    status = FAL.poll_request(job, BASE)
    assert (status.method, status.url, status.params) == (
        "GET",
        f"{BASE}/fal-ai/flux/requests/r1/status",
        {"logs": "1"},
    )
    result = FAL.poll_request(dataclasses.replace(job, fetch_result=True), BASE)
    assert (result.method, result.url) == ("GET", f"{BASE}/fal-ai/flux/requests/r1")
    cancel = FAL.cancel_request(job, BASE)
    assert cancel is not None and (cancel.method, cancel.url) == (
        "PUT",
        f"{BASE}/fal-ai/flux/requests/r1/cancel",
    )
    assert FAL.can_cancel and not TOGETHER.can_cancel and TOGETHER.cancel_request(job, BASE) is None


def test_fal_statuses_become_the_jobs_state() -> None:
    p = params(output_format="jpg")
    job = FAL.read_created(
        answer(json={"request_id": "r1", "status": "IN_QUEUE", "queue_position": 3}), p
    )
    assert (job.id, job.status, job.detail) == ("r1", "starting", "in queue, position 3")
    logs = [{"message": "loading"}, {"message": "step 2/4"}, {"message": "  "}]
    running = FAL.read_polled(answer(json={"status": "IN_PROGRESS", "logs": logs}), job, p)
    assert (running.status, running.detail, running.fetch_result) == (
        "processing",
        "step 2/4",
        False,
    )
    done = FAL.read_polled(answer(json={"status": "COMPLETED"}), running, p)
    assert done.fetch_result and not done.ready
    odd = FAL.read_polled(answer(json={"status": "WARMING_UP"}), job, p)
    assert not odd.ready and not odd.is_final
    canceled = FAL.read_polled(answer(json={"status": "CANCELED"}), job, p)
    assert canceled.is_final and isinstance(canceled.error, PredictionCanceledError)
    bare = FAL.read_created(answer(json={"request_id": "r2", "status_url": "..."}), p)
    assert (bare.id, bare.status, bare.detail) == ("r2", "starting", "in queue")
    with pytest.raises(ProtocolError, match="no request_id"):
        FAL.read_created(answer(json={"status": "IN_QUEUE"}), p)


def test_fal_result_gives_outputs_seed_and_timing() -> None:
    p = params(output_format="jpg", num_outputs=2)
    job = Job(id="r1", status="processing", fetch_result=True)
    body = {
        "images": [
            {"url": "https://v3.fal.media/files/a.jpeg", "width": 1024, "height": 1024},
            {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
        ],
        "seed": 1234,
        "has_nsfw_concepts": [False, False],
        "timings": {"inference": 0.41},
    }
    done = FAL.read_polled(answer(json=body), job, p)
    assert done.ready and done.status == "succeeded" and not done.fetch_result
    inline = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert done.outputs == (
        Output(url="https://v3.fal.media/files/a.jpeg"),
        Output(data_uri=inline),
    )
    # Decoded with the downloads' checks, so that one bad image does not lose the other.
    assert inline_bytes(done.outputs[1], "r1") == PNG
    assert (done.seed, done.predict_time) == (1234, 0.41)


def test_fal_nsfw_flags_filter_images_and_all_flagged_is_content_filtered() -> None:
    p = params(output_format="jpg", num_outputs=2)
    job = Job(id="r1", status="processing", fetch_result=True)
    images = [{"url": "https://fal.media/a.jpeg"}, {"url": "https://fal.media/b.jpeg"}]
    some = FAL.read_polled(
        answer(json={"images": images, "has_nsfw_concepts": [True, False]}), job, p
    )
    assert some.outputs == (Output(url="https://fal.media/b.jpeg"),)
    every = FAL.read_polled(
        answer(json={"images": images, "has_nsfw_concepts": [True, True]}), job, p
    )
    assert every.is_final and isinstance(every.error, ContentFilteredError)
    assert every.error.prediction_id == "r1"


def test_fal_error_of_the_result_fetch_is_the_generations_failure() -> None:
    job = Job(id="r1", status="processing", fetch_result=True)
    failed = FAL.error_for(answer(500, json={"detail": "CUDA out of memory"}), job, None)
    assert isinstance(failed, PredictionFailedError) and "CUDA out of memory" in str(failed)
    canceled = FAL.error_for(answer(400, json={"detail": "Request was cancelled"}), job, None)
    assert isinstance(canceled, PredictionCanceledError)
    busy = FAL.error_for(answer(503, json={"detail": "busy"}), job, None)
    assert isinstance(busy, ServerError)  # transient: the client retries it


def test_fal_validation_errors_name_the_fields() -> None:
    body = {
        "detail": [
            {"loc": ["body", "num_images"], "msg": "Input should be at most 4", "type": "le"},
            {"loc": ["body", "image_size", "width"], "msg": "too big", "type": "le"},
        ]
    }
    error = FAL.error_for(answer(422, json=body, method="POST"), None, None)
    assert isinstance(error, InvalidRequestError)
    assert error.invalid_fields == ("num_images", "image_size.width")
    assert "num_images: Input should be at most 4" in str(error)


def test_fal_key_goes_only_to_the_queue_origin_in_the_key_scheme() -> None:
    auth = FAL.auth("fal-secret", BASE)
    api = next(auth.auth_flow(httpx.Request("GET", f"{BASE}/fal-ai/flux/requests/r1")))
    cdn = next(auth.auth_flow(httpx.Request("GET", "https://v3.fal.media/files/a.jpeg")))
    assert api.headers["Authorization"] == "Key fal-secret"
    assert "Authorization" not in cdn.headers
    assert "fal-secret" not in repr(auth)


# --- Together (OpenAI-style images) ---------------------------------------------------------


def test_together_body_always_sends_steps_and_a_seed() -> None:
    prepared = TOGETHER.prepare(params(output_format="png", num_inference_steps=2, num_outputs=4))
    assert prepared.seed is not None and 0 <= prepared.seed < 2**32
    request = TOGETHER.create_request(
        prepared, "https://api.together.xyz", deadline=90, sync_wait=True
    )
    assert (request.method, request.url) == (
        "POST",
        "https://api.together.xyz/v1/images/generations",
    )
    assert request.hold == 90  # the whole generation happens inside the create
    assert request.json == {
        "model": "black-forest-labs/FLUX.1-schnell",
        "prompt": "a paper boat",
        "width": 1024,
        "height": 1024,
        "steps": 2,
        "n": 4,
        "response_format": "base64",
        "output_format": "png",
        "seed": prepared.seed,
    }
    assert TOGETHER.url("https://api.together.xyz/v1") == request.url  # an SDK-style base URL
    kept = TOGETHER.prepare(params(output_format="jpg", seed=5))
    assert kept.seed == 5


def test_together_answer_base64_and_urls_in_index_order() -> None:
    p = params(output_format="png", seed=5, num_outputs=2)
    body = {
        "id": "gen-1",
        "data": [
            {"index": 1, "url": "https://cdn.together.ai/b.png"},
            {"index": 0, "b64_json": base64.b64encode(PNG).decode()},
        ],
    }
    job = TOGETHER.read_created(answer(json=body, method="POST"), p)
    assert job.ready and job.status == "succeeded" and job.id == "gen-1" and job.seed == 5
    assert job.outputs == (Output(data=PNG), Output(url="https://cdn.together.ai/b.png"))


@pytest.mark.parametrize(
    "body",
    [{"data": []}, {"data": [{"index": 0}]}, {"data": [{"b64_json": "not base64!"}]}, [1]],
)
def test_together_answers_without_images_are_protocol_errors(body: Any) -> None:
    with pytest.raises(ProtocolError):
        TOGETHER.read_created(answer(json=body, method="POST"), params(output_format="jpg"))


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (402, InsufficientCreditError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_together_openai_envelope_becomes_typed_errors(status: int, error_type: type) -> None:
    body = {"error": {"message": "something about tg-secret-key", "type": "x", "code": None}}
    error = TOGETHER.error_for(answer(status, json=body, method="POST"), None, "tg-secret-key")
    assert type(error) is error_type
    assert "something about" in str(error) and "tg-secret-key" not in str(error)


def test_nsfw_message_in_an_error_answer_is_content_filtered() -> None:
    body = {"error": {"message": "NSFW content detected", "type": "invalid_request_error"}}
    error = TOGETHER.error_for(answer(422, json=body, method="POST"), None, None)
    assert isinstance(error, ContentFilteredError)


# --- settings -------------------------------------------------------------------------------


def test_every_provider_is_registered_with_its_own_key_variable() -> None:
    assert set(PROVIDERS) == {
        "cometapi",
        "replicate",
        "fal",
        "together",
        "huggingface",
        "cloudflare",
    }
    env = {"FAL_KEY": "f", "TOGETHER_API_KEY": "t", "COMETAPI_KEY": "c"}
    assert resolve_settings(provider="fal", environ=env).api_key == "f"
    assert resolve_settings(provider="Together", environ=env).api_key == "t"
    assert resolve_settings(environ={**env, "FLUX_PROVIDER": "fal"}).provider is FAL
    assert resolve_settings(provider=FAL, environ=env).provider is FAL


def test_a_key_for_another_provider_is_never_used() -> None:
    with pytest.raises(MissingAPIKeyError, match="FAL_KEY"):
        resolve_settings(provider="fal", environ={"COMETAPI_KEY": "c"})
    with pytest.raises(ValueError, match="provider must be one of"):
        resolve_settings(provider="dall-e", environ={})


def test_http_errors_reads_fastapi_string_detail_too() -> None:
    error = error_from_response(answer(401, json={"detail": "Invalid Key"}))
    assert isinstance(error, AuthenticationError) and "Invalid Key" in str(error)


# --- the %%flux magic -----------------------------------------------------------------------


def test_magic_provider_option_takes_its_defaults_and_refuses_what_it_cannot_honour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from IPython.core.error import UsageError

    from flux_widgets.magics import parse_magic

    params, options = parse_magic("--provider fal --seed 3", "a cat")
    assert (options.provider, params.output_format, params.seed) == ("fal", "jpg", 3)
    with pytest.raises(UsageError, match="fal cannot give output_format='webp'"):
        parse_magic("--provider fal --format webp", "a cat")
    monkeypatch.setenv("FLUX_PROVIDER", "together")
    with pytest.raises(UsageError, match="together has no go_fast"):
        parse_magic("--no-go-fast", "a cat")
    assert parse_magic("", "a cat")[0].output_format == "jpg"
