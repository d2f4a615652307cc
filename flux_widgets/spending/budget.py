"""A spending cap: refuse, before any request, a generation whose estimate would pass it.

Counting is reserve-then-settle under one lock: a generation reserves its estimate before its
create is sent (refused if spent + reserved + estimate would pass the cap), and settles after:
charged (the provider may have started it) or released (it surely never started). So any
number of concurrent generations, on any loops or threads, can never together overshoot the cap.

A generation whose price is unknown (no price for the provider: CometAPI publishes none; set
``FLUX_PRICES`` or pass ``prices=``) is refused while a cap is set: a cap that cannot count a
generation cannot protect against it.

Changing the cap keeps what is in flight: ``set_limit`` moves the limit of this cap (its
reservations stay held), and ``adopt`` counts, on a cap set later, a generation that was already
running when it was set (``Ledger.set_cap`` does both), so a new cap never lets through the
money running generations already hold.

This protects against mistakes (a template of 10,000 combinations, a loop without an end), not
against someone who edits the code: a real classroom cap is a per-key quota at the provider.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from ..errors import BudgetExceededError as BudgetExceededError  # re-exported
from .prices import dollars


@dataclass
class Reservation:
    """Dollars held for one generation (or one batch) until it is settled."""

    amount: float
    settled: bool = False


# Float sums of cents drift (0.1 + 0.2 > 0.3): a cap of exactly N estimates must allow N.
_EPSILON = 1e-9


class SpendingCap:
    """At most ``max_spend`` US dollars of estimated cost, counted atomically.

    ``reserve`` raises ``BudgetExceededError``; ``settle`` is idempotent. Thread-safe: the
    lock is held for a few arithmetic operations only, never across an await.
    """

    def __init__(self, max_spend: float, *, spent: float = 0.0) -> None:
        self._max_spend = _dollars(max_spend)
        self._spent = max(0.0, float(spent))  # what was charged before this cap was set
        self._reserved = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"<SpendingCap ${self.spent:.4f} spent, ${self.reserved:.4f} reserved of "
            f"${self.max_spend:.2f}>"
        )

    @property
    def max_spend(self) -> float:
        """The cap in US dollars (``set_limit`` changes it)."""
        return self._max_spend

    def set_limit(self, max_spend: float) -> None:
        """Move the cap to ``max_spend`` US dollars, keeping what was spent and what running
        generations hold (a cap lowered under them refuses new ones until they settle).
        ``ValueError`` for a negative amount or a non-number."""
        limit = _dollars(max_spend)
        with self._lock:
            self._max_spend = limit

    @property
    def spent(self) -> float:
        """Dollars charged so far (estimates of generations the provider may have run)."""
        return self._spent

    @property
    def reserved(self) -> float:
        """Dollars held by generations that have not finished."""
        return self._reserved

    @property
    def remaining(self) -> float:
        """Dollars a new generation may still reserve."""
        with self._lock:
            return max(0.0, self.max_spend - self._spent - self._reserved)

    def reserve(self, estimate: float | None, *, what: str = "this generation") -> Reservation:
        """Hold ``estimate`` dollars, or raise ``BudgetExceededError`` (nothing is held then).

        ``estimate=None`` (an unknown price) is always refused.
        """
        with self._lock:
            spent, reserved, limit = self._spent, self._reserved, self._max_spend
            if estimate is not None and spent + reserved + estimate <= limit + _EPSILON:
                self._reserved = reserved + estimate
                return Reservation(estimate)
        raise self._refusal(estimate, what, spent, reserved, limit)

    def check(self, estimate: float | None, *, what: str = "this generation") -> None:
        """Raise the ``BudgetExceededError`` that ``reserve`` would raise now, holding nothing:
        what the studio asks before it offers to send (a batch may still be refused at
        ``reserve`` if other generations take the money meanwhile)."""
        with self._lock:
            spent, reserved, limit = self._spent, self._reserved, self._max_spend
        if estimate is None or spent + reserved + estimate > limit + _EPSILON:
            raise self._refusal(estimate, what, spent, reserved, limit)

    @staticmethod
    def _refusal(
        estimate: float | None, what: str, spent: float, reserved: float, limit: float
    ) -> BudgetExceededError:
        if estimate is None:
            message = (
                f"{what} was refused: its price is unknown, so the spending cap of "
                f"${limit:.2f} cannot count it. Set a price (FLUX_PRICES, prices= or "
                "set_price() on the client, or the studio's price box), pick a provider with "
                "a published price, or remove the cap."
            )
        else:
            left = max(0.0, limit - spent - reserved)
            message = (
                f"{what} (about {dollars(estimate)}) was refused: it would pass the spending cap "
                f"of ${limit:.2f} ({dollars(spent)} spent, {dollars(reserved)} held by running "
                f"generations, {dollars(left)} left). Raise the cap or make fewer images."
            )
        return BudgetExceededError(
            message, estimate=estimate, max_spend=limit, spent=spent, reserved=reserved
        )

    def adopt(self, amount: float) -> Reservation:
        """Hold ``amount`` dollars for a generation that is already running (it was let through
        before this cap was set), never refusing it: it may run, so it must count. A cap that
        it takes past its limit refuses new generations until it settles."""
        with self._lock:
            self._reserved += amount
            return Reservation(amount)

    def settle(
        self, reservation: Reservation, *, charged: bool, amount: float | None = None
    ) -> None:
        """Finish a reservation: ``charged`` moves ``amount`` (default: all of it) to spent and
        releases the rest; otherwise all of it is released. A second call does nothing."""
        with self._lock:
            if reservation.settled:
                return
            reservation.settled = True
            self._reserved = max(0.0, self._reserved - reservation.amount)
            if charged:
                cost = reservation.amount if amount is None else min(amount, reservation.amount)
                self._spent += cost

    def split(self, reservation: Reservation, amount: float) -> Reservation:
        """Move ``amount`` of a batch's reservation into a reservation of its own (for one item
        of the batch), so each item settles separately; the lock keeps the total unchanged."""
        with self._lock:
            if reservation.settled or amount > reservation.amount + _EPSILON:
                raise ValueError("cannot split more than a reservation holds")
            reservation.amount = max(0.0, reservation.amount - amount)
            return Reservation(amount)


def _dollars(max_spend: object) -> float:
    """A cap's amount as a float of US dollars, or ``ValueError``."""
    if isinstance(max_spend, bool) or not isinstance(max_spend, int | float):
        raise ValueError(f"max_spend must be a number of US dollars, got {max_spend!r}")
    if not (math.isfinite(max_spend) and max_spend >= 0):
        raise ValueError(f"max_spend must be zero or more US dollars, got {max_spend!r}")
    return float(max_spend)
