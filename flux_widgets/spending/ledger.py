"""A client's ledger: each generation is priced and held against the cap before its create, then
settled and recorded after, so ``client.usage`` and the cap agree on what was spent.

The client calls ``hold`` (or ``hold_batch``) before any request, then runs the generation
through ``accounted``: ``Hold.watch`` starts its clock when it leaves the queue, and ``settle``
runs when it ends, however it ends.

The ledger knows its holds in flight, so changing the cap never forgets them: a new amount moves
the limit of the cap in place (shared or not, its reservations stay), and a cap set where there
was none, or a different ``SpendingCap``, takes over the running holds' reservations.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, TypeVar

from ..params import FluxParams
from ..providers.pricing import SET_HERE
from ..wording import plural
from .allowance import AllowanceCounter
from .budget import Reservation, SpendingCap
from .prices import Price, price_table
from .usage import (
    GenerationRecord,
    HistoryEntry,
    KeyQuota,
    UsageReport,
    UsageSummary,
    UsageTracker,
    billed_without_images,
    may_have_started,
    start_of_today,
    with_billed,
)

T = TypeVar("T")


class Outcome(Protocol):
    """What settling needs of a generation that ended: how far it got and its job's id."""

    @property
    def status(self) -> str: ...
    @property
    def prediction_id(self) -> str | None: ...


@dataclass
class Hold:
    """One generation's estimate and its share of the cap, until it is settled."""

    params: FluxParams
    estimate: float | None
    reservation: Reservation | None = None
    cap: SpendingCap | None = field(default=None, repr=False)
    """The cap the reservation was made on (a cap set later does not hold it)."""
    started: float | None = None
    settled: bool = field(default=False, repr=False)

    def start(self) -> None:
        """The generation left the queue: its latency counts from here."""
        self.started = time.monotonic()

    def watch(self, report: Callable[[str], None] | None) -> Callable[[str], None]:
        """A status callback that starts this hold's clock on "starting" (the generation left
        the queue: latency and "may have run" count from here), then passes the status on."""

        def on_status(status: str) -> None:
            if status == "starting":
                self.start()
            if report is not None:
                report(status)

        return on_status


class Ledger:
    """Prices, the optional spending cap, and the usage records of one client.

    ``prices`` override the price table (``prices.py``: defaults, then ``FLUX_PRICES``), read
    once here. ``max_spend`` (US dollars) sets a cap; None means no cap.
    """

    def __init__(
        self,
        provider: str,
        *,
        max_spend: float | None = None,
        prices: Mapping[str, Price] | None = None,
    ) -> None:
        self.provider = provider
        self.prices = price_table(prices)
        self.cap = SpendingCap(max_spend) if max_spend is not None else None
        self.tracker = UsageTracker()
        self.quota: KeyQuota | None = None
        # The free allowance as this session counts it (allowance.py); the client sets it.
        self.allowance: AllowanceCounter | None = None
        # Holds not yet settled, by id: a cap set while they run must count them. The lock
        # makes holding, settling and changing the cap one step each (the cap's own lock is
        # taken inside this one, never the other way round).
        self._running: dict[int, Hold] = {}
        self._lock = threading.Lock()

    def set_cap(self, max_spend: float | SpendingCap | None) -> None:
        """Change the cap, keeping what running generations hold.

        An amount (US dollars) moves the present cap's limit (a cap shared with other clients,
        as ``with_provider``'s and a studio's ``budget=``, moves for all of them), or makes a
        cap that counts what this session already charged; a ``SpendingCap`` is shared with
        other clients (a studio that switches clients keeps one budget); None removes the cap.
        Either new cap takes over the reservations of this client's running generations.
        ``ValueError`` for a negative amount or a non-number, before anything changes."""
        with self._lock:
            if max_spend is None:
                self.cap = None  # running holds settle on the cap they were held on
                return
            if not isinstance(max_spend, SpendingCap):
                if self.cap is not None:
                    self.cap.set_limit(max_spend)
                    return
                spent = self.tracker.summary().total_spend
                max_spend = SpendingCap(max_spend, spent=spent)
            self.cap = max_spend
            for hold in self._running.values():
                self._move(hold, max_spend)

    @staticmethod
    def _move(hold: Hold, cap: SpendingCap) -> None:
        """Move a running hold's reservation onto ``cap`` (released from its old cap)."""
        if hold.cap is cap or hold.estimate is None:
            # An unknown price cannot be counted: it ran because no cap was set then.
            return
        if hold.reservation is not None and hold.cap is not None:
            hold.cap.settle(hold.reservation, charged=False)
        hold.reservation = cap.adopt(hold.estimate)
        hold.cap = cap

    def set_price(self, per_image: float) -> None:
        """Price this ledger's provider at ``per_image`` US dollars (``ValueError`` for zero, a
        negative amount, infinity or a non-number), in the table ledgers sharing it read too."""
        if isinstance(per_image, bool) or not isinstance(per_image, int | float):
            raise ValueError(f"a price must be a number of US dollars, got {per_image!r}")
        # A price of 0 would let a spending cap count every image as free: the cap would be
        # quietly off. A provider that is really free needs no price for that.
        if not math.isfinite(per_image) or per_image <= 0:
            raise ValueError(
                f"a price must be more than $0 per image (in US dollars), got {per_image!r}"
            )
        self.prices[self.provider] = Price(
            per_image=float(per_image), source=SET_HERE, as_of=date.today().isoformat()
        )

    def share(self, other: Ledger) -> None:
        """Use ``other``'s usage records and price table (the same objects, not copies): a
        client that replaces another one (another provider, a typed key) continues its
        session. Records name their provider, so per-provider spend stays apart."""
        self.tracker = other.tracker
        self.prices = other.prices

    def estimate(self, params: FluxParams) -> float | None:
        """Estimated US dollars of one generation (all its images); None when unknown."""
        price = self.prices.get(self.provider)
        each = price.per_output(params) if price is not None else None
        return None if each is None else each * params.num_outputs

    def hold(self, params: FluxParams) -> Hold:
        """Price one generation and hold it against the cap (``BudgetExceededError`` if it
        would pass it; nothing is held then)."""
        estimate = self.estimate(params)
        with self._lock:
            cap = self.cap
            reservation = cap.reserve(estimate) if cap is not None else None
            hold = Hold(params, estimate, reservation, cap=cap)
            self._running[id(hold)] = hold
        return hold

    def hold_batch(self, items: Sequence[FluxParams]) -> list[Hold]:
        """Hold a whole batch at once, or none of it: a batch the cap cannot finish is refused
        before its first request, not cut off in the middle."""
        estimates = [self.estimate(params) for params in items]
        with self._lock:
            cap = self.cap
            holds = [Hold(p, e, cap=cap) for p, e in zip(items, estimates, strict=True)]
            if cap is not None and holds:
                known = [e for e in estimates if e is not None]
                total = sum(known) if len(known) == len(estimates) else None
                n = len(holds)
                what = f"this batch of {plural(n, 'generation')}"
                batch = cap.reserve(total, what=what)
                for hold in holds:  # every estimate is known: reserve refused an unknown total
                    hold.reservation = cap.split(batch, hold.estimate or 0.0)
                cap.settle(batch, charged=False)  # float dust left over
            self._running.update((id(hold), hold) for hold in holds)
        return holds

    def settle(
        self,
        hold: Hold,
        *,
        images: int,
        status: str,
        prediction_id: str | None,
        error: BaseException | None,
    ) -> None:
        """The generation ended: charge it if the provider may have run it (see
        ``usage.may_have_started``), release it otherwise, and record it. Idempotent."""
        charged = may_have_started(status, prediction_id, error)
        with self._lock:
            if hold.settled:
                return
            hold.settled = True
            self._running.pop(id(hold), None)
            if hold.reservation is not None and hold.cap is not None:
                hold.cap.settle(hold.reservation, charged=charged)
        if status == "queued" and prediction_id is None:
            return  # never sent (cancelled in the queue): not a generation
        # Charged at its estimate (None: price unknown); never run: nothing.
        cost = hold.estimate if charged else 0.0
        if self.allowance is not None:
            self.allowance.settled(cost, error)
        latency = None
        if error is None and hold.started is not None:
            latency = time.monotonic() - hold.started
        self.tracker.record(
            GenerationRecord(
                provider=self.provider,
                images=images,
                cost=cost,
                latency=latency,
                error=None if error is None else _error_name(error),
            )
        )

    async def accounted(
        self, hold: Hold, outcome: Outcome, generation: Callable[[], Awaitable[list[T]]]
    ) -> list[T]:
        """Await ``generation()`` (its statuses reported through ``hold.watch``), then settle
        ``hold`` however it ends: its images, or those a ``FluxError`` kept (``error.images``),
        are counted, with ``outcome``'s last status and prediction id."""
        images: list[T] = []
        error: BaseException | None = None
        try:
            images = await generation()
            return images
        except BaseException as caught:
            error = caught
            raise
        finally:
            kept = images or list(getattr(error, "images", None) or [])
            self.settle(
                hold,
                images=len(kept),
                status="queued" if hold.started is None else outcome.status,
                prediction_id=outcome.prediction_id,
                error=error,
            )

    def report(
        self, history: Iterable[HistoryEntry] | None = None, *, mock: bool = False
    ) -> UsageReport:
        """The usage report: this session, plus today and the whole history when given (each
        image at the provider and price it recorded when made); ``mock`` labels it the mock's."""
        today = total = None
        if history is not None:
            entries = list(history)
            # Billed without an image to store (Together's cancel...): counted from the session.
            billed = billed_without_images(self.tracker.records)
            total = with_billed(UsageSummary.of_history(entries), billed)
            midnight = start_of_today()
            today = with_billed(
                UsageSummary.of_history(entries, since=midnight), billed, since=midnight.timestamp()
            )
        cap = self.cap
        return UsageReport(
            provider=self.provider,
            session=self.tracker.summary(),
            today=today,
            total=total,
            max_spend=None if cap is None else cap.max_spend,
            spent=None if cap is None else cap.spent,
            quota=self.quota,
            allowance=None if self.allowance is None else self.allowance.text(),
            mock=mock,
        )


def _error_name(error: BaseException) -> str:
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return type(error).__name__
