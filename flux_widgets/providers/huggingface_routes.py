"""The routes behind Hugging Face's router: one class per serving provider's protocol.

Wire facts: docs/protocol.md, "Hugging Face Inference Providers" ("Route shapes"). Each route
builds its request under the router and reads its answer, pure as every provider is; which
route is used, the key, the errors and ``route="auto"`` are ``huggingface.py``'s.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import httpx

from ..errors import ProtocolError
from ..params import FluxParams
from ..schema import FIELDS
from ..transport.http_errors import json_body
from . import fal
from .base import (
    EVERY_FIELD,
    FieldMap,
    Job,
    Output,
    Request,
    decode_base64_image,
    http_url,
    json_object,
    quote,
)
from .openai_images import TOGETHER
from .pricing import Price
from .replicate import ReplicatePredictions

ROUTER_URL = "https://router.huggingface.co"
MODEL_ID = "black-forest-labs/FLUX.1-schnell"
TOKENS_URL = "https://huggingface.co/settings/tokens"


class Route(ABC):
    """One serving provider behind the router: its path, body shape and answer."""

    name: str
    field_map: FieldMap
    provider_id: str
    """The model's name at that provider when the Hub does not say (inferenceProviderMapping)."""

    @abstractmethod
    def create_request(
        self, params: FluxParams, router: str, provider_id: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        """The request that makes one generation of ``params`` (prepared: the seed is set)."""

    @abstractmethod
    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        """The job from a 2xx answer."""

    def poll_request(self, job: Job, router: str) -> Request:
        raise ProtocolError(f"the {self.name} route answers in one call; nothing to poll")

    def read_polled(self, response: httpx.Response, job: Job, params: FluxParams) -> Job:
        raise ProtocolError(f"the {self.name} route answers in one call; nothing to poll")


class _HfInference(Route):
    """HF's own serving: ``{"inputs", "parameters"}`` in, the image's bytes out."""

    name = "hf-inference"
    provider_id = MODEL_ID
    field_map = FieldMap(
        keys={
            "prompt": "inputs",
            "aspect_ratio": "width_height",
            "megapixels": "width_height",
            "num_inference_steps": "num_inference_steps",
            "seed": "seed",
            "num_outputs": "calls",  # one image per call: Provider.calls makes as many
            "output_format": "Accept",
        },
        # docs/protocol.md: the request asks for image/png; no other format is documented.
        values={"output_format": {"png": "image/png"}},
        computed=frozenset({"aspect_ratio", "megapixels", "num_outputs", "output_format"}),
    )

    def create_request(
        self, params: FluxParams, router: str, provider_id: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        width, height = params.pixel_size()
        body = self.field_map.body(params)
        prompt = body.pop("inputs")
        return Request(
            "POST",
            f"{router}/hf-inference/models/{provider_id}",
            json={"inputs": prompt, "parameters": {**body, "width": width, "height": height}},
            headers={"Accept": "image/png"},
            hold=deadline,  # the whole generation happens before the answer
        )

    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        job_id = response.headers.get("x-request-id")
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind.startswith("image/"):
            if not response.content:
                raise ProtocolError("the hf-inference answer is an empty image")
            outputs: tuple[Output, ...] = (Output(data=response.content),)
        else:
            # docs/protocol.md: some answers are JSON ({"data": [{"b64_json"}]}, {"output": [url]}).
            outputs = _json_outputs(json_body(response), job_id)
        return Job(id=job_id, status="succeeded", outputs=outputs, seed=params.seed, ready=True)


class _OpenAIStyle(Route):
    """Together and nscale: OpenAI-style ``images/generations`` with their own body keys."""

    def __init__(self, name: str, field_map: FieldMap, provider_id: str, size: str) -> None:
        self.name = name
        self.field_map = field_map
        self.provider_id = provider_id
        self.size = size  # "width_height" (together) or "size" ("WxH", nscale)

    def create_request(
        self, params: FluxParams, router: str, provider_id: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        width, height = params.pixel_size()
        body: dict[str, Any] = {"model": provider_id, **self.field_map.body(params)}
        if self.size == "size":
            body.update(size=f"{width}x{height}", response_format="b64_json")
        else:
            body.update(width=width, height=height, response_format="base64")
        url = f"{router}/{self.name}/v1/images/generations"
        return Request("POST", url, json=body, hold=deadline)

    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        # The OpenAI-style answer, read as for Together itself (openai_images.py).
        return TOGETHER.read_created(response, params)


class _FalSync(Route):
    """fal's synchronous endpoint: fal's input, an answer listing image URLs on fal's CDN."""

    name = "fal-ai"
    provider_id = fal.APP_ID
    field_map = fal.FIELD_MAP

    def create_request(
        self, params: FluxParams, router: str, provider_id: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        url = f"{router}/fal-ai/{provider_id}"
        return Request("POST", url, json=fal.request_body(params), hold=deadline)

    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        body = json_object(response, "a fal result (images)")
        job = Job(id=response.headers.get("x-request-id"), status="processing")
        return fal._result_job(job, body, params)  # fal's own result reader


class _ReplicateRoute(Route):
    """Replicate's predictions under ``/replicate``: a prediction, polled if not done in time."""

    name = "replicate"
    provider_id = "black-forest-labs/flux-schnell"
    field_map = EVERY_FIELD
    _protocol = ReplicatePredictions(
        "huggingface",
        title="Replicate through Hugging Face",
        default_base_url=ROUTER_URL,
        api_prefix="/replicate",
        key_env_vars=("HF_TOKEN",),
        console=TOKENS_URL,
        cancel_note="",
        price=Price(source="billed through Hugging Face credits", as_of="2026-12"),
    )

    def create_request(
        self, params: FluxParams, router: str, provider_id: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        return self._protocol.create_request(params, router, deadline=deadline, sync_wait=True)

    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        return self._protocol.read_created(response, params)

    def poll_request(self, job: Job, router: str) -> Request:
        # [unconfirmed] that the router serves the query route; a prediction not done within
        # Prefer: wait is asked for where Replicate would answer it.
        return self._protocol.poll_request(job, router)

    def read_polled(self, response: httpx.Response, job: Job, params: FluxParams) -> Job:
        return self._protocol.read_polled(response, job, params)


_TOGETHER_MAP = FieldMap(
    keys={
        "prompt": "prompt",
        "aspect_ratio": "width_height",
        "megapixels": "width_height",
        # Together's server default is 20 steps (docs/protocol.md): always sent.
        "num_inference_steps": "steps",
        "num_outputs": "n",
        "seed": "seed",
        "output_format": "output_format",
    },
    values={"output_format": {"jpg": "jpeg", "png": "png"}},
    computed=frozenset({"aspect_ratio", "megapixels"}),
)
_NSCALE_MAP = FieldMap(
    keys={
        "prompt": "prompt",
        "aspect_ratio": "size",
        "megapixels": "size",
        "num_outputs": "calls",  # no n: Provider.calls makes one call per image
        "seed": "seed",
        "output_format": "format",
    },
    # docs/protocol.md gives no format field for nscale; b64_json answers are PNG [guess]: only
    # png is offered, so no other format is promised. Steps are not sent (nscale drops them).
    values={"output_format": {"png": "png"}},
    computed=frozenset({"aspect_ratio", "megapixels", "num_outputs", "output_format"}),
)

ROUTES: Mapping[str, Route] = {
    route.name: route
    for route in (
        _HfInference(),
        _OpenAIStyle("together", _TOGETHER_MAP, MODEL_ID, "width_height"),
        _OpenAIStyle("nscale", _NSCALE_MAP, MODEL_ID, "size"),
        _FalSync(),
        _ReplicateRoute(),
    )
}
"""The routes this client speaks, in the order the docs list them."""


def _common_field_map(maps: list[FieldMap]) -> FieldMap:
    """What every one of ``maps`` can honour: ``route="auto"`` accepts only that before it
    knows the route, so a value accepted is honoured whichever route the Hub offers."""
    keys: dict[str, str] = {}
    values: dict[str, dict[Any, Any]] = {}
    for name, spec in FIELDS.items():
        if not all(name in m.keys for m in maps):
            continue
        keys[name] = name
        narrowed = [set(m.values[name]) for m in maps if name in m.values]
        if narrowed:
            allowed = set.intersection(*narrowed)
            values[name] = {v: v for v in (spec.choices or ()) if v in allowed}
    return FieldMap(keys=keys, values=values, computed=frozenset(keys))


AUTO_FIELD_MAP = _common_field_map([route.field_map for route in ROUTES.values()])


def _json_outputs(body: object, job_id: str | None) -> tuple[Output, ...]:
    where = f"the hf-inference answer {job_id or ''}".strip()
    if isinstance(body, dict) and isinstance(body.get("data"), list) and body["data"]:
        return tuple(
            Output(
                data=decode_base64_image(
                    item.get("b64_json") if isinstance(item, dict) else None, where
                )
            )
            for item in body["data"]
        )
    urls = body.get("output") if isinstance(body, dict) else None
    if isinstance(urls, list) and urls and all(http_url(url) for url in urls):
        return tuple(Output(url=url) for url in urls)
    raise ProtocolError(f"{where} holds no image: {quote(body)}")
