"""Cloudflare Workers AI: one synchronous POST per image, the image as base64 JPEG in the answer.

Wire facts (docs/protocol.md, "Cloudflare Workers AI"): ``POST {base}/client/v4/accounts/
{CLOUDFLARE_ACCOUNT_ID}/ai/run/@cf/black-forest-labs/flux-1-schnell`` with a Bearer token and
``{"prompt", "steps", "seed"}``; the answer ``{"result": {"image": "<base64 JPEG>"}, "success",
"errors", "messages"}`` holds one image (no second download); errors come in the v4 envelope
``{"success": false, "errors": [{"code", "message"}]}``. There is no cancel route.

Two settings make a key here: the token (``CLOUDFLARE_API_TOKEN``) and the account id
(``CLOUDFLARE_ACCOUNT_ID``), which is part of the URL (``for_environment``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import (
    AllowanceExhaustedError,
    APIError,
    AuthenticationError,
    FluxError,
    InvalidRequestError,
    MissingAPIKeyError,
    ProtocolError,
    RateLimitError,
    ServerError,
)
from ..params import FluxParams, random_seed
from ..schema import FIELDS
from ..transport.http_errors import error_from_response
from ..transport.redaction import clip, redact, redact_secrets
from .base import (
    Capabilities,
    FieldMap,
    Job,
    Output,
    Provider,
    Request,
    decode_base64_image,
    json_object,
)
from .pricing import FreeAllowance, Price

MODEL = "@cf/black-forest-labs/flux-1-schnell"
ACCOUNT_ENV_VAR = "CLOUDFLARE_ACCOUNT_ID"
# Where the account id is shown: the dashboard's Workers AI page ("Use REST API").
ACCOUNT_CONSOLE = "https://dash.cloudflare.com/?to=/:account/ai/workers-ai"
TOKEN_CONSOLE = "https://dash.cloudflare.com/profile/api-tokens"
# The model's schema: steps 1-8 (docs/protocol.md); the package's schema may allow fewer.
MAX_STEPS = 8
# The account id in a URL on a host that is not Cloudflare's own (the mock, a recording proxy)
# when none is set: those hosts do not check it.
LOCAL_ACCOUNT = "local-account"
# An account id is 32 hex characters; anything safe in a URL path segment is accepted, so a
# future format still works, but nothing that could change the path.
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The v4 envelope's error codes (docs/protocol.md).
DAILY_ALLOCATION_USED = 3036
OUT_OF_CAPACITY = 3040

# The request: prompt, steps, seed. The model returns a 1024x1024 JPEG whatever is asked
# [unconfirmed]: only the aspect ratio, megapixels and format it gives are accepted, refused
# before any request otherwise (``check``), rather than returning a size nobody asked for.
FIELD_MAP = FieldMap(
    keys={
        "prompt": "prompt",
        "num_inference_steps": "steps",
        # The answer does not say which seed was used: ``prepare`` picks one when none is
        # given, so every image records its seed.
        "seed": "seed",
        "num_outputs": "num_outputs",  # one image per call: the client makes as many calls
        "aspect_ratio": "aspect_ratio",
        "megapixels": "megapixels",
        "output_format": "output_format",
    },
    values={
        "aspect_ratio": {"1:1": "1:1"},
        "megapixels": {"1": "1"},
        "output_format": {"jpg": "jpg"},
    },
    computed=frozenset({"num_outputs", "aspect_ratio", "megapixels", "output_format"}),
)


class WorkersAI(Provider):
    """FLUX.1 [schnell] on Cloudflare Workers AI (``provider="cloudflare"``).

    ``account_id`` is the account in the URL, set from ``CLOUDFLARE_ACCOUNT_ID`` by
    ``for_environment`` (``resolve_settings`` calls it); one image per call, so
    ``num_outputs=4`` is four requests with seeds ``seed`` .. ``seed + 3``.
    """

    family = "Cloudflare Workers AI"
    field_map = FIELD_MAP
    images_per_call = 1
    setting_env_vars = (ACCOUNT_ENV_VAR,)
    cancel_note = (
        "no server-side cancel: each image is made inside one request, so Cancel only stops "
        "waiting; images already started are still made and count against the allowance"
    )

    def __init__(
        self,
        name: str = "cloudflare",
        *,
        account_id: str | None = None,
        default_base_url: str = "https://api.cloudflare.com",
        price: Price,
        free_allowance: FreeAllowance | None,
    ) -> None:
        self.name = name
        self.title = "Cloudflare Workers AI"
        self.default_base_url = default_base_url
        self.key_env_vars = ("CLOUDFLARE_API_TOKEN",)
        self.console = TOKEN_CONSOLE
        self.price = price
        self.free_allowance = free_allowance
        self.account_id = account_id

    @property
    def capabilities(self) -> Capabilities:
        capabilities = super().capabilities
        low, high = FIELDS["num_inference_steps"].bounds or (1, MAX_STEPS)
        # Up to the model's 8 steps where the schema allows that many (it allows 4 today).
        bounds = {**capabilities.bounds, "num_inference_steps": (low, min(high, MAX_STEPS))}
        return dataclasses.replace(capabilities, bounds=bounds)

    # -- settings -----------------------------------------------------------------------

    def for_environment(self, environ: Mapping[str, str], *, own_host: bool) -> WorkersAI:
        account = (environ.get(ACCOUNT_ENV_VAR) or "").strip() or self.account_id
        if account is None:
            if own_host:
                raise MissingAPIKeyError(
                    f"no account id for {self.name}: set {ACCOUNT_ENV_VAR} as well as the "
                    f"token (the dashboard's Workers AI page shows it under 'Use REST API': "
                    f"{ACCOUNT_CONSOLE}), or use FluxClient.mock() to try everything offline"
                )
            return self
        if not _ACCOUNT_ID.match(account):
            raise ValueError(
                f"{ACCOUNT_ENV_VAR} must be the 32-character account id from the dashboard "
                f"(letters and digits only), got {clip(account, 40)!r}"
            )
        return _with_account(self, account)

    def key_origin(self, base_url: str) -> str:
        # The token goes to the API's origin only (the path holds the account id).
        parts = urlsplit(base_url)
        return f"{parts.scheme}://{parts.netloc}"

    # -- inputs -------------------------------------------------------------------------

    def check(self, params: FluxParams) -> None:
        problems = self.capabilities.problems(params, self.name)
        if not problems:
            return
        message = "; ".join(problems)
        if any(name in message for name in ("aspect_ratio", "megapixels", "output_format")):
            message += (
                ". Workers AI returns one 1024x1024 JPEG per image [unconfirmed]: use "
                "aspect_ratio='1:1', megapixels='1' and output_format='jpg' (convert "
                "afterwards with image.save('name.png')), or another provider"
            )
        raise ValueError(message)

    def prepare(self, params: FluxParams) -> FluxParams:
        self.check(params)
        if params.seed is None:
            return params.replace(seed=random_seed())
        return params

    # -- the protocol -------------------------------------------------------------------

    def url(self, base_url: str) -> str:
        """The model's endpoint under ``base_url`` (the host, or the host plus ``/client/v4``)."""
        root = base_url.removesuffix("/client/v4")
        account = self.account_id or LOCAL_ACCOUNT
        return f"{root}/client/v4/accounts/{account}/ai/run/{MODEL}"

    def create_request(
        self, params: FluxParams, base_url: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        # The image is made before the answer: it may be held up to the deadline.
        body = FIELD_MAP.body(params)
        return Request("POST", self.url(base_url), json=body, hold=deadline)

    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        body = json_object(response, "a Workers AI answer (result.image)")
        if body.get("success") is False:
            raise self.error_for(response, None, None)
        result = body.get("result")
        if not isinstance(result, dict):
            raise ProtocolError("the Workers AI answer has no result object")
        data = decode_base64_image(result.get("image"), "the Workers AI answer's result.image")
        return Job(
            id=None,  # the answer names no job
            status="succeeded",
            outputs=(Output(data=data),),
            seed=params.seed,  # sent by the client (prepare): the answer does not say it
            ready=True,
        )

    def error_for(
        self, response: httpx.Response, job: Job | None, api_key: str | None
    ) -> FluxError:
        found = envelope_error(response, api_key)
        if found is None:
            return super().error_for(response, job, api_key)
        code, message = found
        typed = error_from_response(response, api_key)
        info: dict[str, Any] = {
            "status_code": response.status_code,
            "request_id": getattr(typed, "request_id", None),
            "detail": message,
        }
        said = f"{message} (code {code})"
        if code == DAILY_ALLOCATION_USED:
            return _allocation_used(self, said, info)
        if code == OUT_OF_CAPACITY:
            return RateLimitError(
                f"Workers AI is out of capacity for this model ({said}); try again shortly",
                retry_after=getattr(typed, "retry_after", None),
                **info,
            )
        if isinstance(typed, AuthenticationError) or response.status_code in (401, 403):
            return AuthenticationError(
                f"Cloudflare refused the token or account ({said}): the token needs the "
                f"'Workers AI' permission for account {self.account_id or '?'}; make one at "
                f"{TOKEN_CONSOLE}",
                **info,
            )
        text = _MESSAGES.get(code, "Workers AI refused the request")
        if isinstance(typed, InvalidRequestError):
            return InvalidRequestError(f"{text} ({said})", **info)
        if isinstance(typed, ServerError) or response.status_code == 408:
            return ServerError(f"{text} ({said})", **info)
        return type(typed)(f"{text} ({said})", **info) if isinstance(typed, APIError) else typed


_MESSAGES = {
    3003: "the request was incomplete",
    3006: "the request was too large (the prompt is at most 2,048 characters)",
    3007: "Workers AI timed out running the model",
    3023: "the account is blocked from Workers AI: see the Cloudflare dashboard",
    5007: f"Workers AI has no model {MODEL} (it may have been renamed)",
}


def _allocation_used(provider: WorkersAI, said: str, info: dict[str, Any]) -> FluxError:
    allowance = provider.free_allowance
    now = datetime.now(timezone.utc)
    resets = allowance.next_reset(now) if allowance is not None else None
    when = ""
    if resets is not None:
        hours, rest = divmod(int((resets - now).total_seconds()), 3600)
        when = f" It resets at 00:00 UTC, in {hours} h {rest // 60:02d} min."
    return AllowanceExhaustedError(
        f"the daily free allocation of Workers AI is used up ({said}).{when} Until then, use "
        "a paid Workers AI plan (https://dash.cloudflare.com/?to=/:account/workers/plans), "
        "another provider, or FluxClient.mock()",
        resets_at=resets,
        **info,
    )


def envelope_error(response: httpx.Response, api_key: str | None) -> tuple[int, str] | None:
    """The first ``(code, message)`` of a v4 envelope's ``errors``, redacted and clipped; None
    when the answer is not that envelope."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return None
    for item in body["errors"]:
        if isinstance(item, dict) and isinstance(item.get("code"), int):
            message = redact_secrets(redact(str(item.get("message") or ""), api_key))
            return item["code"], clip(message, 200)
    return None


def _with_account(provider: WorkersAI, account: str) -> WorkersAI:
    return WorkersAI(
        provider.name,
        account_id=account,
        default_base_url=provider.default_base_url,
        price=provider.price,
        free_allowance=provider.free_allowance,
    )


CLOUDFLARE = WorkersAI(
    # docs/protocol.md, "Cloudflare Workers AI": billed per 512x512 tile and per step.
    price=Price(
        per_tile=0.000053,
        per_step=0.00011,
        source="developers.cloudflare.com Workers AI pricing",
        as_of="2026-12-04",
    ),
    # 10,000 neurons a day on every plan, $0.011 per 1,000 beyond (docs/protocol.md).
    free_allowance=FreeAllowance(
        units="neurons",
        amount=10_000,
        period="day",
        dollars_per_unit=0.011 / 1000,
        source="developers.cloudflare.com Workers AI pricing",
        as_of="2026-12-04",
    ),
)
