"""Hugging Face Inference Providers: FLUX.1 [schnell] through HF's router, billed to HF credits.

Wire facts: docs/protocol.md, "Hugging Face Inference Providers". One token (``HF_TOKEN``) reaches
several serving providers under ``https://router.huggingface.co/{route}``, each route keeping its
provider's own protocol:

```
route          request                                               answer
hf-inference   POST /hf-inference/models/{id} {"inputs", "parameters"}  raw image bytes
together       POST /together/v1/images/generations (OpenAI-style)     data[i].b64_json
nscale         POST /nscale/v1/images/generations (size "WxH")         data[i].b64_json
fal-ai         POST /fal-ai/{id} (fal's input, synchronous)            images[i].url (file host)
replicate      POST /replicate/v1/models/.../predictions, Prefer: wait a prediction
auto           GET huggingface.co/api/models/{id}?expand[]=inferenceProviderMapping first,
               then the first ``live`` route above (cached for the process)
```

Every call makes one image, with a seed the client chose (``calls``): the answers do not all say
the seed, and a call with ``n=4`` would make four images sharing one seed that none of them can
be made again from. There is no cancel route for text-to-image.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ..errors import (
    APIError,
    AuthenticationError,
    FluxError,
    InsufficientCreditError,
    InvalidRequestError,
    ProtocolError,
    ServerError,
)
from ..params import FluxParams, random_seed
from ..transport.redaction import clip, redact, redact_secrets
from .base import Job, Provider, Request, json_object, quote
from .huggingface_routes import AUTO_FIELD_MAP, MODEL_ID, ROUTER_URL, ROUTES, TOKENS_URL, Route
from .pricing import Price

HUB_URL = "https://huggingface.co"
AUTO = "auto"
BILLING_URL = "https://huggingface.co/settings/billing"
# The most of a 503's estimated_time we wait before one retry (the deadline bounds the rest).
MAX_LOADING_WAIT = 120.0


# route="auto": (route, providerId) found per Hub URL, for the life of the process.
_discovered: dict[str, tuple[str, str]] = {}
_discovered_lock = threading.Lock()


def forget_discovered_routes() -> None:
    """Forget what ``route="auto"`` learnt from the Hub (the next generation asks again)."""
    with _discovered_lock:
        _discovered.clear()


def hub_url(base_url: str) -> str:
    """Where the Hub's model API is: huggingface.co for the router, else the same server (a
    mock or a proxy serves both)."""
    return HUB_URL if base_url == ROUTER_URL else base_url


class HuggingFaceRouter(Provider):
    """FLUX.1 [schnell] through Hugging Face's router, on one ``route`` (serving provider).

    ``route`` is one of ``ROUTES`` (``"hf-inference"``, ``"together"``, ``"nscale"``,
    ``"fal-ai"``, ``"replicate"``) or ``"auto"``: ask the Hub which providers serve the model now
    and take the first ``live`` one this client speaks (cached for the process). None (the
    registered provider) means ``FLUX_HF_ROUTE``, else auto. What a route cannot honour follows
    from its field map; auto accepts only what every route honours. ``num_outputs`` images are
    made by as many calls, concurrently, with seeds ``seed, seed+1, ...`` (a random seed is
    chosen when none is given), so every image records the seed that makes it again.
    ``ValueError`` for an unknown route.
    """

    name = "huggingface"
    title = "Hugging Face"
    family = "Hugging Face router"
    default_base_url = ROUTER_URL
    # Every route makes one image per call here (docs/protocol.md: whether n/num_images pass
    # through is [unconfirmed], and n images from one seed could not each be made again).
    images_per_call = 1
    # docs/protocol.md: HF_TOKEN, then the legacy variable, then the token file (key_file).
    key_env_vars = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
    console = TOKENS_URL
    cancel_note = (
        "no server-side cancel: the router has no cancel route for text-to-image, so Cancel "
        "only stops waiting; an image already being made is still billed to your HF credits"
    )
    # docs/protocol.md, "Free credits": billed at the serving provider's price (about $0.003 a
    # 1 MP image on Replicate, fal and Together); $0.10 a month free, $2 with PRO.
    price = Price(
        per_image=0.003,
        source="the serving provider's price, paid from HF credits ($0.10/month free, $2 PRO)",
        as_of="2026-12",
    )

    def __init__(self, route: str | None = None) -> None:
        if route is not None:
            route = route.strip().lower()
            if route != AUTO and route not in ROUTES:
                names = ", ".join(map(repr, (*ROUTES, AUTO)))
                raise ValueError(f"the Hugging Face route must be one of {names}, got {route!r}")
        self._route = route
        self.field_map = AUTO_FIELD_MAP if self.route == AUTO else ROUTES[self.route].field_map

    @property
    def route(self) -> str:
        """The route asked for: a name in ``ROUTES``, or ``"auto"``."""
        return self._route or AUTO

    def configured(self, environ: Mapping[str, str]) -> Provider:
        if self._route is None and environ.get("FLUX_HF_ROUTE", "").strip():
            return HuggingFaceRouter(environ["FLUX_HF_ROUTE"])
        return self

    def variants(self) -> tuple[Provider, ...]:
        return tuple(HuggingFaceRouter(name) for name in ROUTES)

    def key_origins(self, base_url: str) -> tuple[str, ...]:
        return (base_url, hub_url(base_url))

    def key_file(self, environ: Mapping[str, str]) -> Path | None:
        return token_file(environ)

    def image_source(self, *, mock: bool = False) -> str | None:
        # Auto picks a serving provider per process (the Hub's answer): not one source.
        source = super().image_source(mock=mock)
        return None if self.route == AUTO else f"{source}/{self.route}"

    def __repr__(self) -> str:
        return f"<HuggingFaceRouter {self.name!r} route={self.route!r} {self.default_base_url}>"

    # -- inputs -------------------------------------------------------------------------

    def prepare(self, params: FluxParams) -> FluxParams:
        self.check(params)
        if params.seed is None:
            return params.replace(seed=random_seed())
        return params

    # -- route="auto" -------------------------------------------------------------------

    def resolved(self, base_url: str) -> tuple[Route, str]:
        """The route and the model's id there; ``ProtocolError`` if auto has not asked yet."""
        if self.route != AUTO:
            route = ROUTES[self.route]
            return route, route.provider_id
        with _discovered_lock:
            found = _discovered.get(hub_url(base_url))
        if found is None:
            raise ProtocolError("route='auto' has not asked the Hub which providers serve it yet")
        return ROUTES[found[0]], found[1]

    def discovery_request(self, base_url: str) -> Request | None:
        if self.route != AUTO:
            return None
        hub = hub_url(base_url)
        with _discovered_lock:
            if hub in _discovered:
                return None
        return Request(
            "GET",
            f"{hub}/api/models/{MODEL_ID}",
            params={"expand[]": "inferenceProviderMapping"},
        )

    def read_discovery(self, response: httpx.Response, base_url: str) -> None:
        entries = _mapping_entries(json_object(response, "a model card (inferenceProviderMapping)"))
        live = [e for e in entries if e.get("status") == "live"]
        for entry in live:
            name = entry.get("provider")
            if isinstance(name, str) and name in ROUTES:
                provider_id = entry.get("providerId")
                if not isinstance(provider_id, str) or not provider_id:
                    provider_id = ROUTES[name].provider_id
                with _discovered_lock:
                    _discovered[hub_url(base_url)] = (name, provider_id)
                return
        said = ", ".join(str(e.get("provider")) for e in live) or "none"
        raise ProtocolError(
            f"no provider this client speaks serves {MODEL_ID} through Hugging Face now (live: "
            f"{quote(said)}); choose a route: {', '.join(ROUTES)}"
        )

    # -- the protocol -------------------------------------------------------------------

    def create_request(
        self, params: FluxParams, base_url: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        route, provider_id = self.resolved(base_url)
        return route.create_request(
            params, base_url, provider_id, deadline=deadline, sync_wait=sync_wait
        )

    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        return self._route_of(response).read_created(response, params)

    def poll_request(self, job: Job, base_url: str) -> Request:
        return self.resolved(base_url)[0].poll_request(job, base_url)

    def read_polled(self, response: httpx.Response, job: Job, params: FluxParams) -> Job:
        return self._route_of(response).read_polled(response, job, params)

    def _route_of(self, response: httpx.Response) -> Route:
        """The route whose answer ``response`` is (by its path under the router)."""
        if self.route != AUTO:
            return ROUTES[self.route]
        try:
            path = response.request.url.path
        except RuntimeError:  # a response built by hand has no request
            path = ""
        first = path.strip("/").split("/", 1)[0]
        if first in ROUTES:
            return ROUTES[first]
        raise ProtocolError(f"an answer from {quote(path)} is not from a Hugging Face route")

    def error_for(
        self, response: httpx.Response, job: Job | None, api_key: str | None
    ) -> FluxError:
        return hf_error(super().error_for(response, job, api_key), response, api_key)


def hf_error(error: FluxError, response: httpx.Response, api_key: str | None) -> FluxError:
    """``error`` (read by ``http_errors``) in Hugging Face's words: the ``X-Error-Message``
    header, a model still loading (503 with ``estimated_time``: retried after it, within the
    deadline), credits used up, the token's permission, the retired host's 410."""
    if not isinstance(error, APIError):
        return error
    header = response.headers.get("x-error-message", "")
    detail = error.detail or clip(redact_secrets(redact(header, api_key)), 200)
    info: dict[str, Any] = {
        "status_code": error.status_code,
        "request_id": error.request_id,
        "detail": detail,
    }
    status = response.status_code
    said = f" ({detail})" if detail else ""
    if status == 402 or (status in (403, 429) and "credit" in detail.lower()):
        return InsufficientCreditError(
            f"your Hugging Face credits for Inference Providers are used up{said}: see what is "
            f"left, or buy more, at {BILLING_URL} (free accounts get $0.10 a month, PRO $2)",
            **info,
        )
    if status in (401, 403):
        return AuthenticationError(
            f"Hugging Face refused the token ({status}){said}: use a token with the "
            f'"Make calls to Inference Providers" permission, made at {TOKENS_URL}',
            **info,
        )
    if status == 410:
        return InvalidRequestError(
            f"this host was retired (410){said}: Hugging Face serves models through "
            f"{ROUTER_URL} now",
            **info,
        )
    if status == 503:
        loading = _estimated_time(response)
        if loading is not None:
            return ServerError(
                f"the model is loading on Hugging Face (about {loading:.0f} s){said}; it is "
                "asked again after that, within the deadline",
                retry_after=min(loading, MAX_LOADING_WAIT),
                **info,
            )
    if detail and not error.detail:
        return type(error)(f"{error}: {detail}", retry_after=error.retry_after, **info)
    return error


def _estimated_time(response: httpx.Response) -> float | None:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    value = body.get("estimated_time") if isinstance(body, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _mapping_entries(card: dict[str, Any]) -> list[dict[str, Any]]:
    """``inferenceProviderMapping`` as a list of entries with ``provider``: the Hub has answered
    both a list of objects and an object keyed by provider name."""
    mapping = card.get("inferenceProviderMapping")
    if isinstance(mapping, list):
        return [entry for entry in mapping if isinstance(entry, dict)]
    if isinstance(mapping, dict):
        return [
            {"provider": name, **entry}
            for name, entry in mapping.items()
            if isinstance(entry, dict)
        ]
    raise ProtocolError(f"the model card lists no inferenceProviderMapping: {quote(mapping)}")


def token_file(environ: Mapping[str, str]) -> Path:
    """Where ``hf auth login`` writes the token, as huggingface_hub reads it: ``HF_TOKEN_PATH``,
    else ``$HF_HOME/token``, else ``$XDG_CACHE_HOME/huggingface/token``, else
    ``~/.cache/huggingface/token``."""
    if environ.get("HF_TOKEN_PATH"):
        return Path(environ["HF_TOKEN_PATH"]).expanduser()
    if environ.get("HF_HOME"):
        return Path(environ["HF_HOME"]).expanduser() / "token"
    cache = environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "huggingface" / "token"


HUGGINGFACE = HuggingFaceRouter()
