"""Usage: what a client made and spent, from this session and from the history on disk.

``client.usage`` is a ``UsageReport``: generations and images this session, today and in the
whole history (when a history is given); estimated spend per provider from the price table
(``prices.py``; never a bill); latency p50/p95 of successful generations; failures by error type;
the spending cap; and, where the provider reports it (CometAPI's ``GET /api/usage/token``,
docs/protocol.md), the key's own quota, in the provider's units.
"""

from __future__ import annotations

import dataclasses
import html
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import APIError
from ..providers import DEFAULT_PROVIDER, Provider, get_provider
from ..providers.quota import KeyQuota as KeyQuota  # re-exported: it lived here
from ..wording import failure_words, plural
from .prices import dollars

if TYPE_CHECKING:
    import httpx


class HistoryEntry(Protocol):
    """What usage needs of a stored image: ``GeneratedImage`` has it, and so has the history
    index's record (its ``params`` a dict, its generation named in its ``stem``)."""

    @property
    def params(self) -> Any: ...
    @property
    def created_at(self) -> datetime: ...


def _generation_key(entry: Any) -> str:
    """Which generation an entry came from: its prediction id, or the one in its history stem
    (``<time>-<prediction id>-<index>``), else the entry itself."""
    prediction = getattr(entry, "prediction_id", None)
    if isinstance(prediction, str) and prediction:
        return prediction
    stem = getattr(entry, "stem", None)
    if isinstance(stem, str) and stem.count("-") >= 2:
        return stem.split("-", 1)[1].rsplit("-", 1)[0]
    return f"entry-{id(entry)}"


def may_have_started(status: str, prediction_id: str | None, error: BaseException | None) -> bool:
    """Whether the provider may have run (and billed) a generation that ended this way.

    Not sent yet ("queued"), or its create refused with an error answer: no. A prediction id, or
    a create that got no answer (a timeout, a lost connection, a cancel mid-request): yes, since
    it may be running; a cap counts it rather than risk undercounting.
    """
    if prediction_id is not None:
        return True
    if status == "queued":
        return False
    return not isinstance(error, APIError)


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The nearest-rank percentile (``fraction`` 0.5 for p50), or None without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class GenerationRecord:
    """One finished generation as usage counts it."""

    provider: str
    images: int
    cost: float | None
    """Estimated US dollars charged (0 when it surely never ran; None when the price is
    unknown)."""
    latency: float | None
    """Seconds from its create to its images, for a success; None otherwise."""
    error: str | None = None
    """The error's type name (``ContentFilteredError``...) for a failure."""
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class UsageSummary:
    """Counts over one period (this session, today, the whole history)."""

    generations: int = 0
    images: int = 0
    spend: Mapping[str, float] = field(default_factory=dict)
    """Estimated US dollars per provider."""
    unpriced: Mapping[str, int] = field(default_factory=dict)
    """Per provider, generations whose price is unknown (not in ``spend``)."""
    failures: Mapping[str, int] = field(default_factory=dict)
    """Failed generations by error type."""
    latency_p50: float | None = None
    latency_p95: float | None = None
    unrecorded: int = 0
    """Stored images from before records kept their provider and price: not priced, since
    pricing them at the provider selected now would be a guess that changes with it."""

    @property
    def total_spend(self) -> float:
        return sum(self.spend.values())

    @classmethod
    def of_records(cls, records: Iterable[GenerationRecord]) -> UsageSummary:
        spend: dict[str, float] = {}
        unpriced: Counter[str] = Counter()
        failures: Counter[str] = Counter()
        latencies = []
        generations = images = 0
        for record in records:
            generations += 1
            images += record.images
            if record.cost is None:
                unpriced[record.provider] += 1
            else:
                spend[record.provider] = spend.get(record.provider, 0.0) + record.cost
            if record.error is not None:
                failures[record.error] += 1
            if record.latency is not None:
                latencies.append(record.latency)
        return cls(
            generations=generations,
            images=images,
            spend=spend,
            unpriced=dict(unpriced),
            failures=dict(failures),
            latency_p50=percentile(latencies, 0.5),
            latency_p95=percentile(latencies, 0.95),
        )

    @classmethod
    def of_history(
        cls, entries: Iterable[HistoryEntry], *, since: datetime | None = None
    ) -> UsageSummary:
        """Counts of stored images (created at or after ``since``): a generation per prediction
        id; spend at the provider and price each image recorded when it was made, so the same
        images read the same whichever provider is selected now. An image whose price was
        unknown then counts in ``unpriced`` (by generation); one from before records kept a
        provider and price counts in ``unrecorded``, never priced at another provider's."""
        generations: set[str] = set()
        unpriced: dict[str, set[str]] = {}
        spend: dict[str, float] = {}
        images = unrecorded = 0
        for entry in entries:
            if since is not None and entry.created_at < since:
                continue
            images += 1
            key = _generation_key(entry)
            generations.add(key)
            provider = getattr(entry, "provider", None)
            price = getattr(entry, "price", None)
            if not isinstance(provider, str) or not provider:
                unrecorded += 1
            elif price is None:
                unpriced.setdefault(provider, set()).add(key)
            else:
                spend[provider] = spend.get(provider, 0.0) + float(price)
        return cls(
            generations=len(generations),
            images=images,
            spend=spend,
            unpriced={provider: len(keys) for provider, keys in unpriced.items()},
            unrecorded=unrecorded,
        )


def billed_without_images(records: Iterable[GenerationRecord]) -> list[GenerationRecord]:
    """This session's generations that may have been billed but left no image to store: a
    cancel on a provider without a server-side cancel (Together: "stopped waiting (still
    billed)"), a failure after the create was sent. The history holds no record of them, so
    today's and the whole history's counts add them (from this session only: a later kernel
    no longer knows them)."""
    return [
        record
        for record in records
        if record.images == 0 and record.error is not None and record.cost != 0
    ]


def with_billed(
    summary: UsageSummary, billed: Iterable[GenerationRecord], *, since: float | None = None
) -> UsageSummary:
    """``summary`` (of stored images) plus ``billed`` generations made at or after ``since``
    (seconds since the epoch), so that a period's spend is never less than this session's."""
    chosen = [record for record in billed if since is None or record.at >= since]
    if not chosen:
        return summary
    spend = dict(summary.spend)
    unpriced = dict(summary.unpriced)
    for record in chosen:
        if record.cost is None:
            unpriced[record.provider] = unpriced.get(record.provider, 0) + 1
        else:
            spend[record.provider] = spend.get(record.provider, 0.0) + record.cost
    return dataclasses.replace(
        summary, generations=summary.generations + len(chosen), spend=spend, unpriced=unpriced
    )


async def fetch_key_quota(
    http: httpx.AsyncClient,
    base_url: str,
    *,
    auth: httpx.Auth,
    timeout: float = 10.0,
    provider: Provider | None = None,
) -> KeyQuota | None:
    """The key's quota through ``provider``'s key-usage route (default: the default provider,
    CometAPI's ``GET /api/usage/token``); None when the provider has no such route, the route is
    missing (404), the key is refused (401/403), the answer is not the route's JSON, or the host
    cannot be reached."""
    import httpx

    chosen = provider if provider is not None else get_provider(DEFAULT_PROVIDER)
    request = chosen.quota_request(base_url)
    if request is None:
        return None
    try:
        response = await http.request(request.method, request.url, auth=auth, timeout=timeout)
    except httpx.HTTPError:
        return None
    return chosen.read_quota(response)


class UsageTracker:
    """Records every generation of one client; thread-safe (the magic runs on a worker)."""

    def __init__(self) -> None:
        self._records: list[GenerationRecord] = []
        self._lock = threading.Lock()

    def record(self, record: GenerationRecord) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[GenerationRecord]:
        with self._lock:
            return list(self._records)

    def summary(self) -> UsageSummary:
        return UsageSummary.of_records(self.records)


@dataclass(frozen=True)
class UsageReport:
    """Usage as ``client.usage`` and the studio's usage view show it."""

    provider: str
    session: UsageSummary
    today: UsageSummary | None = None
    total: UsageSummary | None = None
    max_spend: float | None = None
    spent: float | None = None
    """Dollars the spending cap has counted (None without a cap)."""
    quota: KeyQuota | None = None
    allowance: str | None = None
    """What is left of the provider's free allowance, as this session counted it
    (``allowance.py``): ``"free today: about 150 images left (resets 00:00 UTC)"``."""
    mock: bool = False
    """The client talks to the mock API: its images are placeholders and its key quota is
    the mock's own made-up numbers, so the report says so rather than look like a bill."""

    @property
    def title(self) -> str:
        """``"usage on replicate"``, saying when that is the mock API's."""
        where = (
            f"{self.provider} (mock API: placeholders, nothing billed)"
            if self.mock
            else (self.provider)
        )
        return f"usage on {where}"

    def notes(self) -> list[str]:
        """The lines under the table: the cap, the key's quota, the free allowance."""
        notes = []
        if self.max_spend is not None:
            notes.append(
                f"spending cap: {dollars(self.spent or 0)} of ${self.max_spend:.2f} "
                f"({dollars(self.remaining or 0)} left)"
            )
        if self.quota is not None:
            whose = "the mock API's key quota (made-up numbers)" if self.mock else "key quota"
            notes.append(f"{whose} (provider's units): {_quota_text(self.quota)}")
        if self.allowance is not None:
            notes.append(self.allowance)
        return notes

    @property
    def remaining(self) -> float | None:
        """Dollars left under the cap (None without a cap)."""
        if self.max_spend is None or self.spent is None:
            return None
        return max(0.0, self.max_spend - self.spent)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(measure, session, today, whole history) rows, as text ("-" where not known)."""
        periods = (self.session, self.today, self.total)

        def row(measure: str, text: Callable[[UsageSummary], str]) -> tuple[str, str, str, str]:
            a, b, c = (text(p) if p is not None else "-" for p in periods)
            return (measure, a, b, c)

        rows = [
            row("generations", lambda p: str(p.generations)),
            row("images", lambda p: str(p.images)),
            row("estimated spend", _spend_text),
        ]
        if self.session.failures:
            counted: dict[str, int] = {}  # two types may read the same ("cancelled")
            for kind, count in self.session.failures.items():
                counted[failure_words(kind)] = counted.get(failure_words(kind), 0) + count
            failures = ", ".join(f"{k} {v}" for k, v in sorted(counted.items()))
            rows.append(("failures", failures, "-", "-"))
        if self.session.latency_p50 is not None and self.session.latency_p95 is not None:
            latency = f"{self.session.latency_p50:.2f} / {self.session.latency_p95:.2f} s"
            rows.append(("latency p50 / p95", latency, "-", "-"))
        return rows

    def lines(self) -> list[str]:
        """The report as plain text lines (what ``repr`` and the terminal show)."""
        lines = [f"{self.title} (estimates from the price table, not a bill)"]
        width = max(len(r[0]) for r in self.rows())
        lines.append(f"{'':<{width}}  session | today | whole history")
        for measure, *values in self.rows():
            lines.append(f"{measure:<{width}}  {' | '.join(values)}")
        return lines + self.notes()

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("", "session", "today", "whole history"))
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self.rows()
        )
        note = "".join(f"<div><small>{html.escape(n)}</small></div>" for n in self.notes())
        title = html.escape(self.title[0].upper() + self.title[1:])
        title = f"<b>{title}</b> <small>(estimates, not a bill)</small>"
        return f"<div>{title}<table>{head}{body}</table>{note}</div>"


def _spend_text(summary: UsageSummary) -> str:
    parts = [f"{dollars(cost)} {provider}" for provider, cost in sorted(summary.spend.items())]
    parts += [
        f"{plural(n, 'generation')} unpriced ({provider})"
        for provider, n in sorted(summary.unpriced.items())
    ]
    if summary.unrecorded:
        n = summary.unrecorded
        parts.append(f"{n} image{'s' if n != 1 else ''} made before prices were recorded")
    return ", ".join(parts) or "$0"


def _quota_text(quota: KeyQuota) -> str:
    if quota.unlimited:
        return "unlimited"

    def number(value: float | None) -> str:
        return "?" if value is None else f"{value:,.0f}"

    text = (
        f"{number(quota.total_used)} used of {number(quota.total_granted)}, "
        f"{number(quota.total_available)} available"
    )
    if quota.expires_at is not None:
        text += f", expires {quota.expires_at:%Y-%m-%d}"
    return text


def start_of_today() -> datetime:
    """Midnight, local time, as an aware datetime (what "today" means to the user)."""
    now = datetime.now().astimezone()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def default_history_entries() -> list[Any]:
    """Every record of the default history folder's index (no image is read), or [] when
    there is no such folder: what ``client.usage`` counts for today and the whole history."""
    # Imported on use: importing the ledger need not load the history store.
    from ..history.store import History, default_directory

    if not default_directory().is_dir():
        return []
    history = History()
    return list(history.page(0, max(1, len(history))))
