"""The interface every protocol family implements, and the protocol-neutral job it reports.

A ``Provider`` is pure: it builds requests (``Request``) and reads answers (``httpx.Response``)
into a ``Job``, and never sends anything itself. The client sends, retries, waits, enforces the
deadline, cancels and downloads, the same way for every provider.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..errors import ContentFilteredError, FluxError, PredictionFailedError, ProtocolError
from ..params import FluxParams, random_seed
from ..schema import FIELDS, RANDOM_SEED_RANGE, SEED_RANGE, quoted, range_problem
from ..transport.auth import OriginAuth
from ..transport.http_errors import error_from_response, json_body, where
from ..transport.redaction import clip, redact_secrets
from .pricing import UNPUBLISHED, FreeAllowance, Price
from .quota import KeyQuota, read_quota_answer

# Longer than any flux-schnell generation could take: a bound on what a server's clock may claim.
_MAX_PLAUSIBLE_SECONDS = 3600.0
FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})
"""Statuses a job never leaves. Every provider reports these words (Replicate's); anything else
("starting", "processing", or a status nobody documented) counts as pending."""

logger = logging.getLogger("flux_widgets")

NSFW_MARKERS = ("nsfw", "safety checker", "content detected")


@dataclass(frozen=True)
class Request:
    """One HTTP request a provider wants sent.

    ``hold`` is how many seconds the server may hold the answer on purpose (a synchronous wait);
    the client adds it to the read timeout, so a slow answer it asked for is never taken for a
    dead connection.
    """

    method: str
    url: str
    json: Any = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    hold: float = 0.0


@dataclass(frozen=True)
class Output:
    """One output image: a URL to download (never with the key), bytes the answer held
    (Together's ``b64_json``), or a ``data:`` URI the answer held (Replicate's short-lived
    predictions, fal's ``sync_mode``; docs/protocol.md), decoded with the downloads' checks
    (``transport/downloads.py``) so that one bad image does not lose the others."""

    url: str | None = None
    data: bytes | None = field(default=None, repr=False)
    data_uri: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """What an error message names it by (never a data URI's contents)."""
        return self.url if self.url is not None else "an image inside the answer"


def output_of(value: str) -> Output:
    """The output an answer's http(s) URL or ``data:`` URI names (callers check it is one)."""
    if value[:5].lower() == "data:":
        return Output(data_uri=value)
    return Output(url=value)


def data_uri(value: object) -> bool:
    """Whether ``value`` is a ``data:`` URI (RFC 2397; the scheme is case-insensitive)."""
    return isinstance(value, str) and value[:5].lower() == "data:"


@dataclass(frozen=True)
class Job:
    """What the client knows about one generation on the server, in the same words everywhere.

    ``status`` uses ``FINAL_STATUSES`` plus ``starting``/``processing`` (any other word counts
    as pending). ``detail`` is what the provider says about progress (fal: the queue position or
    the runner's last log line). ``ready``: nothing more to wait for (final, or every output
    already listed). ``fetch_result``: the next request fetches the result at once, without
    waiting (fal's COMPLETED). ``error`` is the typed error of a job that ended without images.
    """

    id: str | None
    status: str
    detail: str = ""
    outputs: tuple[Output, ...] = ()
    seed: int | None = None
    predict_time: float | None = None
    duration: float | None = None
    error: FluxError | None = None
    ready: bool = False
    fetch_result: bool = False

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def failure(self) -> FluxError:
        """The error to raise for a final job that did not succeed."""
        if self.error is not None:
            return self.error
        return PredictionFailedError(
            f"the generation ended with status {self.status!r} and no images",
            prediction_id=self.id,
        )


@dataclass(frozen=True)
class Capabilities:
    """Which fields and values a provider can honour, against the schema table.

    ``choices``/``bounds`` narrow a field's allowed values; a field in ``lacks`` has no input on
    this provider, so only its schema default is accepted (it changes nothing there);
    ``defaults`` replace a schema default the provider cannot honour (fal has no webp).
    """

    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    bounds: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    lacks: frozenset[str] = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def supports(self, name: str) -> bool:
        """Whether the provider has an input for field ``name``."""
        return name not in self.lacks

    def allowed_choices(self, name: str) -> tuple[str, ...]:
        """The values of a choice field this provider accepts."""
        return self.choices.get(name, FIELDS[name].choices)

    def allowed_bounds(self, name: str) -> tuple[int, int] | None:
        """The range of a number field this provider accepts."""
        return self.bounds.get(name, FIELDS[name].bounds)

    def default(self, name: str) -> Any:
        """The value a field takes on this provider when nobody sets it."""
        return self.defaults.get(name, FIELDS[name].default)

    def problems(self, params: FluxParams, provider: str) -> list[str]:
        """One sentence per value of ``params`` that ``provider`` cannot honour."""
        found = []
        for name, spec in FIELDS.items():
            value = getattr(params, name)
            if name in self.lacks:
                if value != spec.default:
                    found.append(
                        f"{provider} has no {name} setting, so only its default "
                        f"{spec.default!r} is accepted, got {value!r}"
                    )
            elif name in self.choices and value not in self.choices[name]:
                found.append(
                    f"{provider} cannot give {name}={value!r}: it supports "
                    f"{quoted(self.choices[name])}"
                )
            elif name in self.bounds and value is not None:
                message = range_problem(name, value, *self.bounds[name])
                if message is not None:
                    found.append(f"{provider}: {message}")
        return found


@dataclass(frozen=True)
class FieldMap:
    """How a family's request carries the schema fields; what it cannot honour follows from it.

    ``keys`` maps a schema field to the request key that carries it. A field missing here is
    not sent, so the provider cannot honour any value but the field's schema default (a new
    schema field is "not honoured" until a family maps it). ``values`` maps a field's values to
    the request's spelling where they differ; only those values can be honoured. ``computed``
    fields are written by the family's own code (a pixel size made of two fields, a negated
    switch); ``body`` copies the others.
    """

    keys: Mapping[str, str]
    values: Mapping[str, Mapping[Any, Any]] = field(default_factory=dict)
    computed: frozenset[str] = frozenset()

    def body(self, params: FluxParams) -> dict[str, Any]:
        """The request keys of every mapped field that is not ``computed``, values translated;
        a field that is None (an unset seed) is left out."""
        body: dict[str, Any] = {}
        for name, key in self.keys.items():
            value = getattr(params, name)
            if name in self.computed or value is None:
                continue
            body[key] = self.values[name][value] if name in self.values else value
        return body

    def capabilities(self) -> Capabilities:
        """What the mapping can honour: unmapped fields are lacking, translated ones narrowed;
        where the schema default is not among a field's values, the first of them replaces it."""
        choices = {name: tuple(values) for name, values in self.values.items()}
        return Capabilities(
            choices=choices,
            lacks=frozenset(name for name in FIELDS if name not in self.keys),
            defaults={
                name: allowed[0]
                for name, allowed in choices.items()
                if FIELDS[name].default not in allowed
            },
        )


EVERY_FIELD = FieldMap(keys={name: name for name in FIELDS})
"""The mapping of a request whose input is the schema itself (Replicate's predictions)."""


class Provider(ABC):
    """One provider of FLUX.1 [schnell] speaking one protocol family.

    Subclasses set the class attributes and implement ``create_request``/``read_created``;
    families that poll implement ``poll_request``/``read_polled``, those that can cancel
    ``cancel_request`` (and ``read_canceled`` if the answer shows the job); ``error_for`` maps
    error answers beyond ``http_errors``' status codes, ``prepare`` completes the parameters.
    Every method is pure (no I/O): the client does the sending, retrying and waiting.
    """

    name: str
    """The ``provider=`` / ``FLUX_PROVIDER`` value."""
    title: str
    """The provider's own name, for people: "fal.ai", "Together AI"."""
    family: str
    """The protocol family, for docs and reprs."""
    default_base_url: str
    key_env_vars: tuple[str, ...]
    """Environment variables the key is read from, first found wins."""
    console: str
    """Where a user gets a key."""
    setting_env_vars: tuple[str, ...] = ()
    """Variables besides the key that the provider needs on its own host (Cloudflare's
    ``CLOUDFLARE_ACCOUNT_ID``), read by ``for_environment``."""
    auth_scheme: str = "Bearer"
    """The word before the key in ``Authorization``."""
    field_map: FieldMap = EVERY_FIELD
    """How the request carries the schema fields; ``capabilities`` derive from it."""
    cancel_note: str
    """What the studio's Cancel does on this provider (tooltip, README)."""
    price: Price = UNPUBLISHED
    """What an image costs here (``spending/prices.py`` reads it; the environment may override)."""
    free_allowance: FreeAllowance | None = None
    """What the provider gives free each day or month (``spending/allowance.py`` counts it)."""
    images_per_call: int | None = None
    """The most images one create can make (Cloudflare: 1); None: ``num_outputs`` in one.
    The client then makes ``calls(params)`` creates for one generation."""

    @property
    def capabilities(self) -> Capabilities:
        """Which fields and values this provider can honour: what its ``field_map`` sends."""
        return self.field_map.capabilities()

    # -- auth ---------------------------------------------------------------------------

    def key_origin(self, base_url: str) -> str:
        """The one origin that may see the key: the API's own (never a file host)."""
        return base_url

    def key_origins(self, base_url: str) -> tuple[str, ...]:
        """Every origin that may see the key: ``key_origin``, plus a second API host where the
        family has one (Hugging Face: the router and the Hub's model API). Never a file host."""
        return (self.key_origin(base_url),)

    def auth(self, api_key: str, base_url: str) -> httpx.Auth:
        """The key in this provider's scheme, sent to ``key_origins`` only."""
        origins = self.key_origins(base_url)
        return OriginAuth(api_key, origins[0], scheme=self.auth_scheme, also=origins[1:])

    def key_file(self, environ: Mapping[str, str]) -> Path | None:
        """A file the key is read from when no variable holds it (Hugging Face's token file,
        written by ``hf auth login``); None where the provider has none."""
        return None

    # -- configuration ------------------------------------------------------------------

    def configured(self, environ: Mapping[str, str]) -> Provider:
        """This provider with the settings the environment gives it (Hugging Face: the route
        from ``FLUX_HF_ROUTE``); itself where there are none. ``ValueError`` for a bad value."""
        return self

    def variants(self) -> tuple[Provider, ...]:
        """Every concrete configuration of this provider, for tests that check each request
        shape (Hugging Face: one per route); itself where it has one shape."""
        return (self,)

    # -- inputs -------------------------------------------------------------------------

    @property
    def can_cancel(self) -> bool:
        """Whether the protocol has a server-side cancel."""
        return type(self).cancel_request is not Provider.cancel_request

    def defaults(self) -> dict[str, Any]:
        """Field values where this provider's default differs from the schema's."""
        return dict(self.capabilities.defaults)

    def check(self, params: FluxParams) -> None:
        """Raise ``ValueError`` naming this provider for any value it cannot honour."""
        problems = self.capabilities.problems(params, self.name)
        if problems:
            raise ValueError("; ".join(problems))

    def prepare(self, params: FluxParams) -> FluxParams:
        """``params`` as they will be sent: checked (``ValueError``), possibly completed."""
        self.check(params)
        return params

    def calls(self, params: FluxParams) -> list[FluxParams]:
        """The creates that make one generation of ``params`` (prepared): one, or where
        ``images_per_call`` is smaller than ``num_outputs`` (Hugging Face, Cloudflare: one), one
        per share of it with seeds ``seed``, ``seed + 1``, ... (wrapping within the seed
        range). Without a seed the client draws one first, so every image has a seed that
        makes it again, whatever the answer says."""
        per_call = self.images_per_call
        if per_call is None or params.num_outputs <= per_call:
            return [params]
        counts = [per_call] * (params.num_outputs // per_call)
        if params.num_outputs % per_call:
            counts.append(params.num_outputs % per_call)
        first = params.seed if params.seed is not None else random_seed()
        return [
            params.replace(num_outputs=count, seed=_next_seed(first, offset * per_call))
            for offset, count in enumerate(counts)
        ]

    def for_environment(self, environ: Mapping[str, str], *, own_host: bool) -> Provider:
        """This provider as the environment configures it, beyond its key: a provider whose
        URL names an account (Cloudflare's ``CLOUDFLARE_ACCOUNT_ID``) returns a copy that holds
        it. ``own_host``: requests go to ``default_base_url`` (not a mock or a proxy), where a
        missing setting raises ``MissingAPIKeyError`` naming where to find it."""
        return self

    def image_source(self, *, mock: bool = False) -> str | None:
        """Which service made an image, as the history records it ("replicate", "mock/fal"):
        an exact repeat is served only from the same one (history/records.py). None where one
        request may reach different models (Hugging Face's route auto)."""
        return f"mock/{self.name}" if mock else self.name

    # -- the key's quota ----------------------------------------------------------------

    def quota_request(self, base_url: str) -> Request | None:
        """The request that reads the key's quota; None where the provider has no such route."""
        return None

    def read_quota(self, response: httpx.Response) -> KeyQuota | None:
        """The quota in the answer to ``quota_request``; None when it holds none."""
        return read_quota_answer(response)

    # -- the protocol -------------------------------------------------------------------

    def discovery_request(self, base_url: str) -> Request | None:
        """A free request to send before the first create, to learn where to send it (Hugging
        Face's ``route="auto"`` asks the Hub which providers serve the model); None when there
        is nothing to learn (the default, or already known)."""
        return None

    def read_discovery(self, response: httpx.Response, base_url: str) -> None:
        """Learn from a successful answer to ``discovery_request`` (kept by the provider)."""
        return None

    @abstractmethod
    def create_request(
        self, params: FluxParams, base_url: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        """The request that starts a generation (paid for once the server accepts it).

        ``deadline`` is the seconds the whole generation may take; ``sync_wait`` asks the server
        to hold the answer until done where the protocol allows it.
        """

    @abstractmethod
    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        """The job from a successful (2xx) create answer; ``ProtocolError`` if unreadable."""

    def poll_request(self, job: Job, base_url: str) -> Request:
        """The request that asks how ``job`` is doing (or fetches its result when
        ``job.fetch_result``). A family whose create answers with the images never polls."""
        raise ProtocolError(
            f"{self.name} answers a generation in one call; job {job.id} cannot be polled"
        )

    def read_polled(self, response: httpx.Response, job: Job, params: FluxParams) -> Job:
        """The job from a successful answer to ``poll_request(job)``."""
        raise ProtocolError(f"{self.name} answers a generation in one call; nothing to poll")

    def cancel_request(self, job: Job, base_url: str) -> Request | None:
        """The request that cancels ``job`` on the server; None where the protocol has none."""
        return None

    def read_canceled(self, response: httpx.Response, job: Job) -> Job | None:
        """What a cancel answer (any status) says about ``job``: the job as it shows it
        (Replicate answers the prediction: one that succeeded before the cancel arrived lists
        its paid-for outputs); the job with ``fetch_result`` set when the answer says it had
        already completed and its result must be fetched (fal's ``ALREADY_COMPLETED``); None
        where it says nothing (fal's ``CANCELLATION_REQUESTED``, a 404). Raises
        ``ProtocolError`` for an answer that claims to show the job but cannot be read."""
        return None

    def error_for(
        self, response: httpx.Response, job: Job | None, api_key: str | None
    ) -> FluxError:
        """The typed error for a non-2xx answer to a request about ``job`` (None: the create)."""
        error = error_from_response(response, api_key)
        detail = getattr(error, "detail", "") or ""
        if any(marker in detail.lower() for marker in NSFW_MARKERS):
            return ContentFilteredError(
                f"the safety checker refused this image: {detail}",
                provider_message=detail,
                prediction_id=job.id if job else None,
            )
        return error

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.default_base_url}>"


def _next_seed(seed: int, step: int) -> int:
    """``seed + step``, wrapped into the random-seed range when the seed is one of those (so a
    seed a person can read stays one), else into the schema's whole seed range."""
    low, high = (
        RANDOM_SEED_RANGE if RANDOM_SEED_RANGE[0] <= seed <= RANDOM_SEED_RANGE[1] else SEED_RANGE
    )
    return low + (seed - low + step) % (high - low + 1)


def updated(job: Job, **changes: Any) -> Job:
    """A copy of ``job`` with some fields changed."""
    return dataclasses.replace(job, **changes)


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """The answer's JSON object, or a ``ProtocolError`` saying what was expected."""
    body = json_body(response)
    if not isinstance(body, dict):
        raise ProtocolError(f"expected {what} from {where(response)}, got {quote(body)}")
    return body


def quote(value: object) -> str:
    """A server value for a message: its repr, redacted first, then cut to 80 characters."""
    return clip(redact_secrets(repr(value)), 80)


def decode_base64_image(text: object, where: str) -> bytes:
    """Bytes of a base64 image (plain, or a ``data:image/...;base64,`` URI); ProtocolError."""
    if not isinstance(text, str) or not text:
        raise ProtocolError(f"{where} holds no base64 image")
    payload = text
    if text.startswith("data:"):
        header, _, payload = text.partition(",")
        if ";base64" not in header:
            raise ProtocolError(f"{where} is a data URI that is not base64: {quote(header)}")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"{where} is not valid base64") from None


def http_url(value: object) -> bool:
    """Whether ``value`` is an http(s) URL."""
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def within_bounds(job: Job, params: FluxParams, measured: float) -> Job:
    """The job with server values held to what the client asked for and measured.

    A server clock that claims more time than passed here (clock skew, a bad timestamp, a
    ``predict_time`` of a year) would teach the poll schedule to sleep that long on every later
    generation, and more outputs than requested would be downloaded and held in memory.
    """
    duration, predict_time = job.duration, job.predict_time
    if duration is not None and not 0 <= duration <= measured:
        duration = None  # nothing to learn from a clock that disagrees with ours
    if predict_time is not None and not 0 <= predict_time <= min(measured, _MAX_PLAUSIBLE_SECONDS):
        predict_time = None
    outputs = job.outputs
    if len(outputs) > params.num_outputs:
        logger.warning(
            "job %s lists %d outputs for %d requested; downloading the first %d",
            job.id,
            len(outputs),
            params.num_outputs,
            params.num_outputs,
        )
        outputs = outputs[: params.num_outputs]
    return dataclasses.replace(job, duration=duration, predict_time=predict_time, outputs=outputs)
