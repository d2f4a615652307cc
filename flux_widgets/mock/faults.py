"""Fault injection for the mock: rehearse every failure of the real API over real HTTP.

The faults apply to every family where they have a meaning: creates are also fal's submit and
Together's images call (in each family's own error body), queries are also fal's status and
result fetches, and the files route serves every family's outputs.

Switch faults on with ``MockConfig(faults=FaultConfig(...))``, at runtime with
``PUT /mock/faults`` (a JSON object of the fields below; ``GET`` shows the counts left), with the
command line (``python -m flux_widgets.mock --help``), or, for a live demo, by typing a directive
into the prompt. Counts are consumed one per matching request; random faults come from a
``random.Random(fault_seed)``, so a given config always injects the same sequence.

| fault (field or prompt text)  | effect                                                          |
|-------------------------------|-----------------------------------------------------------------|
| `rate_limit_creates: int`     | next N creates: 429, `Retry-After`, `ratelimit-*` headers       |
| `retry_after: float`          | seconds those 429s announce (default 1; fractions allowed)      |
| `insufficient_credit: bool`   | every create: 402 (the account has no credit)                   |
| `create_errors: int`          | next N creates: 500, `code: "invalid_request"` (do not retry)   |
| `create_unavailable: int`     | next N creates: 503, no prediction started (safe to retry)      |
| `create_delay: float`         | every create: starts the prediction, answers N s later (a read  |
|                               | timeout on a create must never send a second, paid create)      |
| `query_errors: int`           | next N queries: 503, 502, 500, 503, ... in turn                 |
| `query_delay: float`          | every query waits this many seconds before answering            |
| `cancel_missing: bool`        | cancel: 404, as on CometAPI, which may lack the route           |
| `late_cancels: int`           | next N cancels arrive just after the job completed: it succeeds |
|                               | (paid for) and the cancel answers as for a finished job         |
|                               | (Replicate: the `succeeded` prediction with its output; fal:    |
|                               | 400 `ALREADY_COMPLETED`, its result then fetchable)             |
| `redirect_queries: bool`      | queries: 302 to `/mock/elsewhere`, an HTML page (do not follow) |
| `html_errors: bool`           | creates and queries: a 502 HTML page, as from a proxy           |
| `file_errors: int`            | next N file downloads: 503                                      |
| `file_delay: float`           | every file download waits this many seconds (a stalled host)    |
| `expired_files: int`          | next N file downloads: 404 (one file of a batch gone)           |
| `missing_files: bool`         | file downloads: 404, as if expired                              |
| `expired_signatures: int`     | next N file downloads: 403 with an S3 XML `AccessDenied` body   |
|                               | ("Request has expired"), as a signed URL past its time          |
| `file_redirects: int`         | every file download: this many 302 hops before the file (a CDN) |
| `corrupt_images: bool`        | file downloads: 200 with bytes that are not an image            |
| `huge_image: bool`            | file downloads: a PNG whose header claims 100000 x 100000 px    |
| `truncated_files: int`        | next N file downloads: the first half of the file, with its own |
|                               | Content-Length (a cut copy: only the format's end shows it)     |
| `short_bodies: int`           | next N file downloads: the whole file's Content-Length, half    |
|                               | the bytes (over HTTP the server then drops the connection)      |
| `data_uri_outputs: bool`      | Replicate-format outputs as `data:` URIs instead of file URLs,  |
|                               | as Replicate answers for short-lived predictions                |
| `fail_rate: float`            | each prediction ends `failed` with this probability             |
| `random_fault_rate: float`    | each create/query/download: transient 429/5xx, this probability |
| `fault_seed: int`             | seed of the RNG behind the two rates above                      |
| `prompt_directives: bool`     | obey the `[mock:...]` prompt directives below (default on)      |
| `[mock:nsfw]` in the prompt   | `failed`: "NSFW content detected. Try running it again, ..."    |
| `[mock:fail]`                 | `failed` with a generic error                                   |
| `[mock:cancel]`               | `canceled` when it would have succeeded                         |
| `[mock:abort]`                | stays `starting`, then `aborted` (the provider's deadline)      |
| `[mock:stuck]`                | `processing` forever (until canceled)                           |
| `[mock:slow=SECONDS]`         | this generation takes SECONDS instead of `generation_time`      |
| `[mock:unknown-status]`       | status `queued_somewhere` until it succeeds                     |

The 429 body is `{"detail": "Request was throttled. Your rate limit resets in ~Ns."}`; 5xx
bodies are JSON (`{"detail": ...}`) except under `html_errors`. The full NSFW error is
"NSFW content detected. Try running it again, or try a different prompt."
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NSFW_ERROR = "NSFW content detected. Try running it again, or try a different prompt."
GENERIC_ERROR = "The model crashed while generating the image (a mock failure)."
MAX_SLOW_SECONDS = 3600.0
_DIRECTIVE = re.compile(r"\[mock:([a-z-]+)(?:=([0-9]+(?:\.[0-9]*)?))?\]", re.IGNORECASE)
_QUERY_ERROR_CYCLE = (503, 502, 500)
_PROBABILITIES = frozenset({"fail_rate", "random_fault_rate"})


@dataclass
class FaultConfig:
    """Which faults to inject; JSON-serialisable both ways (``to_dict`` / ``from_dict``)."""

    rate_limit_creates: int = 0
    retry_after: float = 1.0
    insufficient_credit: bool = False
    create_errors: int = 0
    create_unavailable: int = 0
    create_delay: float = 0.0
    query_errors: int = 0
    query_delay: float = 0.0
    cancel_missing: bool = False
    late_cancels: int = 0
    redirect_queries: bool = False
    html_errors: bool = False
    file_errors: int = 0
    file_delay: float = 0.0
    expired_files: int = 0
    missing_files: bool = False
    expired_signatures: int = 0
    file_redirects: int = 0
    corrupt_images: bool = False
    huge_image: bool = False
    truncated_files: int = 0
    short_bodies: int = 0
    data_uri_outputs: bool = False
    fail_rate: float = 0.0
    random_fault_rate: float = 0.0
    fault_seed: int = 0
    prompt_directives: bool = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"{f.name} must be true or false, got {value!r}")
            elif f.type == "int":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"{f.name} must be a whole number, got {value!r}")
            elif not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"{f.name} must be a number, got {value!r}")
            else:
                value = float(value)
                setattr(self, f.name, value)
            # Rates are probabilities; counts and delays cannot be negative; any int seeds the RNG.
            if f.name in _PROBABILITIES:
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{f.name} must be a probability from 0 to 1")
            elif f.type != "bool" and f.name != "fault_seed" and value < 0:
                raise ValueError(f"{f.name} must be >= 0, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON object."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build from a JSON object; unknown keys and wrong types raise ``ValueError``."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(names)}")
        return cls(**dict(data))


@dataclass(frozen=True)
class HttpFault:
    """An answer to give instead of the normal one: ``kind`` names it, ``status`` is its code."""

    kind: str
    status: int


@dataclass(frozen=True)
class Outcome:
    """How one prediction will end, decided when it is created.

    ``status`` is the final status, or ``None`` for one that never ends; ``generation_time``
    overrides the config's; ``pending_status`` replaces ``starting``/``processing``.
    """

    status: str | None = "succeeded"
    error: str | None = None
    generation_time: float | None = None
    pending_status: str | None = None


class FaultInjector:
    """Decides, request by request, which fault (if any) to inject; consumes the counts."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.fault_seed)
        self._query_errors_sent = 0

    def on_create(self) -> HttpFault | None:
        """The fault for a create request, checked after authentication."""
        c = self.config
        if c.html_errors:
            return HttpFault("html", 502)
        if self._take("rate_limit_creates"):
            return HttpFault("rate_limited", 429)
        if c.insufficient_credit:
            return HttpFault("insufficient_credit", 402)
        if self._take("create_errors"):
            return HttpFault("invalid_request", 500)
        if self._take("create_unavailable"):
            return HttpFault("unavailable", 503)
        if self._chance(c.random_fault_rate):
            return self._rng.choice((HttpFault("rate_limited", 429), HttpFault("unavailable", 503)))
        return None

    def on_query(self) -> HttpFault | None:
        """The fault for a query (GET prediction) request."""
        c = self.config
        if c.html_errors:
            return HttpFault("html", 502)
        if c.redirect_queries:
            return HttpFault("redirect", 302)
        if self._take("query_errors"):
            status = _QUERY_ERROR_CYCLE[self._query_errors_sent % len(_QUERY_ERROR_CYCLE)]
            self._query_errors_sent += 1
            return HttpFault("server_error", status)
        if self._chance(c.random_fault_rate):
            status = self._rng.choice((500, 502, 503, 429))
            return HttpFault("rate_limited" if status == 429 else "server_error", status)
        return None

    def on_file(self) -> HttpFault | None:
        """The fault for an output file download."""
        c = self.config
        if self._take("file_errors"):
            return HttpFault("server_error", 503)
        if self._take("expired_files"):
            return HttpFault("not_found", 404)
        if c.missing_files:
            return HttpFault("not_found", 404)
        if self._take("expired_signatures"):
            return HttpFault("expired_signature", 403)
        if self._chance(c.random_fault_rate):
            return HttpFault("server_error", 503)
        if self._take("truncated_files"):
            return HttpFault("truncated", 200)
        if self._take("short_bodies"):
            return HttpFault("short", 200)
        if c.corrupt_images:
            return HttpFault("corrupt", 200)
        if c.huge_image:
            return HttpFault("huge", 200)
        return None

    def cancel_arrives_late(self) -> bool:
        """Whether this cancel arrives just after its job completed (uses one ``late_cancels``)."""
        return self._take("late_cancels")

    def outcome(self, prompt: str) -> Outcome:
        """How a new prediction for ``prompt`` ends: directives first, then ``fail_rate``."""
        status: str | None = "succeeded"
        error: str | None = None
        generation_time: float | None = None
        pending: str | None = None
        if self.config.prompt_directives:
            for name, value in _DIRECTIVE.findall(prompt):
                name = name.lower()
                if name == "nsfw":
                    status, error = "failed", NSFW_ERROR
                elif name == "fail":
                    status, error = "failed", GENERIC_ERROR
                elif name == "cancel":
                    status, error = "canceled", None
                elif name == "abort":
                    status, error = "aborted", None
                elif name == "stuck":
                    status, error = None, None
                elif name == "slow" and value:
                    generation_time = min(float(value), MAX_SLOW_SECONDS)
                elif name == "unknown-status":
                    pending = "queued_somewhere"
        if status == "succeeded" and self._chance(self.config.fail_rate):
            status, error = "failed", GENERIC_ERROR
        return Outcome(status, error, generation_time, pending)

    def _take(self, count: str) -> bool:
        """Use up one fault of the counted field ``count``; False when none are left."""
        left: int = getattr(self.config, count)
        if left <= 0:
            return False
        setattr(self.config, count, left - 1)
        return True

    def _chance(self, probability: float) -> bool:
        # Draw only when the switch is on, so enabling one fault does not shift another's sequence.
        return probability > 0 and self._rng.random() < probability
