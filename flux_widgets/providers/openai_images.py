"""OpenAI-style image generation: one synchronous POST answers with the images (Together AI).

Wire facts (docs/protocol.md, "Together AI images"): ``POST {base}/v1/images/generations`` with
``model``, ``prompt``, ``width``, ``height``, ``steps``, ``n``, ``seed``, ``response_format``
and ``output_format``; ``steps`` defaults to 20 on the server, so it is always sent; the answer
``{"id", "data": [{"index", "b64_json"} | {"index", "url"}]}`` holds the whole generation; errors
come in OpenAI's ``{"error": {"message", "type", "code"}}`` envelope; there is no cancel route.

Other hosts speak the same shape with small differences (a path, a model id, ``size: "WxH"``,
``response_format: "b64_json"``): they are another ``OpenAIImages(...)`` with those arguments.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import ProtocolError
from ..params import FluxParams, random_seed
from .base import (
    FieldMap,
    Job,
    Output,
    Provider,
    Request,
    data_uri,
    decode_base64_image,
    http_url,
    json_object,
)
from .pricing import UNPUBLISHED, Price

# The request (docs/protocol.md): the pixel size from aspect ratio and megapixels, written by
# ``request_body`` in the host's shape; jpeg/png only; no go_fast, quality or safety switch, so
# those cannot be honoured (Provider.capabilities).
FIELD_MAP = FieldMap(
    keys={
        "prompt": "prompt",
        "aspect_ratio": "width_height",
        "megapixels": "width_height",
        # Always sent: the server's default is 20 steps, wrong for schnell (docs/protocol.md).
        "num_inference_steps": "steps",
        "num_outputs": "n",
        "output_format": "output_format",
        # The answer does not say which seed was used, so ``prepare`` picks one when none is
        # given and it is sent: every image then records its seed (from RANDOM_SEED_RANGE).
        "seed": "seed",
    },
    values={"output_format": {"jpg": "jpeg", "png": "png"}},
    computed=frozenset({"aspect_ratio", "megapixels"}),
)


class OpenAIImages(Provider):
    """FLUX.1 [schnell] behind an OpenAI-style ``images/generations`` endpoint.

    ``response_format`` is what the request asks for: ``"base64"`` (Together; the images come
    inside the answer, no second download) or ``"url"``/``"b64_json"`` on other hosts;
    ``size_field`` is ``"width_height"`` (Together) or ``"size"`` (``"WxH"``).
    """

    family = "OpenAI-style images"
    field_map = FIELD_MAP
    cancel_note = (
        "no server-side cancel: the generation happens inside one request, so Cancel only stops "
        "waiting; the images are still made and billed"
    )

    def __init__(
        self,
        name: str,
        *,
        title: str,
        default_base_url: str,
        key_env_vars: tuple[str, ...],
        console: str,
        model: str,
        price: Price = UNPUBLISHED,
        path: str = "/v1/images/generations",
        response_format: str = "base64",
        size_field: str = "width_height",
    ) -> None:
        if size_field not in ("width_height", "size"):
            raise ValueError(f"size_field must be 'width_height' or 'size', got {size_field!r}")
        self.name = name
        self.title = title
        self.default_base_url = default_base_url
        self.key_env_vars = key_env_vars
        self.console = console
        self.model = model
        self.price = price
        self.path = path
        self.response_format = response_format
        self.size_field = size_field

    def prepare(self, params: FluxParams) -> FluxParams:
        self.check(params)
        if params.seed is None:
            return params.replace(seed=random_seed())
        return params

    def request_body(self, params: FluxParams) -> dict[str, Any]:
        """The JSON body for ``params`` (prepared: the seed is set)."""
        width, height = params.pixel_size()
        body: dict[str, Any] = {"model": self.model, **FIELD_MAP.body(params)}
        if self.size_field == "size":
            body["size"] = f"{width}x{height}"
        else:
            body.update(width=width, height=height)
        body["response_format"] = self.response_format
        return body

    def create_request(
        self, params: FluxParams, base_url: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        # The whole generation happens before the answer: it may be held up to the deadline.
        return Request("POST", self.url(base_url), json=self.request_body(params), hold=deadline)

    def url(self, base_url: str) -> str:
        """The endpoint under ``base_url``, which may be the host or, as OpenAI-style SDKs
        write it, the host plus ``/v1``."""
        path = self.path
        if base_url.endswith("/v1") and path.startswith("/v1/"):
            path = path[len("/v1") :]
        return f"{base_url}{path}"

    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        body = json_object(response, "an images answer (data)")
        answer_id = body.get("id")
        job_id = answer_id if isinstance(answer_id, str) and answer_id else None
        data = body.get("data")
        if not isinstance(data, list) or not data:
            raise ProtocolError(f"the images answer {job_id or ''} lists no images".strip())
        items = [item for item in data if isinstance(item, dict)]
        if len(items) != len(data):
            raise ProtocolError(f"the images answer {job_id} has entries that are not objects")
        items.sort(key=_index)
        outputs = tuple(_output(item, position, job_id) for position, item in enumerate(items))
        seed = body.get("seed")
        return Job(
            id=job_id,
            status="succeeded",
            outputs=outputs,
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else params.seed,
            ready=True,
        )


def _index(item: dict[str, Any]) -> int:
    index = item.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else 0


def _output(item: dict[str, Any], position: int, job_id: str | None) -> Output:
    where = f"image {position} of the answer {job_id or ''}".strip()
    if item.get("b64_json") is not None:
        return Output(data=decode_base64_image(item["b64_json"], where))
    url = item.get("url")
    if http_url(url):
        return Output(url=url)
    if data_uri(url):  # decoded with the downloads' checks (transport/downloads.py)
        return Output(data_uri=url)
    raise ProtocolError(f"{where} has neither b64_json nor a URL")


TOGETHER = OpenAIImages(
    "together",
    title="Together AI",
    default_base_url="https://api.together.xyz",
    key_env_vars=("TOGETHER_API_KEY",),
    console="https://api.together.ai/settings/api-keys",
    model="black-forest-labs/FLUX.1-schnell",
    price=Price(per_image=0.0027, source="third-party listing", as_of="2026-01"),
)
