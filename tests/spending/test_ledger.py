"""The client's ledger: holds before the create, settles after, records usage, batches whole."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from flux_widgets import FluxClient
from flux_widgets.errors import ContentFilteredError, InvalidRequestError
from flux_widgets.mock import MockConfig
from flux_widgets.params import FluxParams
from flux_widgets.spending.budget import BudgetExceededError, SpendingCap
from flux_widgets.spending.ledger import Ledger
from flux_widgets.spending.prices import Price

PARAMS = FluxParams(prompt="a fox", num_outputs=2)


def test_success_is_charged_and_recorded_with_latency() -> None:
    ledger = Ledger("replicate", max_spend=1.0)
    hold = ledger.hold(PARAMS)
    assert hold.estimate == pytest.approx(0.006)
    assert ledger.cap is not None and ledger.cap.reserved == pytest.approx(0.006)
    hold.start()
    ledger.settle(hold, images=2, status="succeeded", prediction_id="p1", error=None)
    ledger.settle(hold, images=2, status="succeeded", prediction_id="p1", error=None)
    summary = ledger.tracker.summary()
    assert (summary.generations, summary.images) == (1, 2)
    assert summary.spend == {"replicate": pytest.approx(0.006)}
    assert summary.latency_p50 is not None and summary.latency_p50 >= 0
    assert ledger.cap.spent == pytest.approx(0.006) and ledger.cap.reserved == 0


def test_refused_create_is_released_and_failure_counted() -> None:
    ledger = Ledger("replicate", max_spend=0.006)
    hold = ledger.hold(PARAMS)
    error = InvalidRequestError("422", status_code=422)
    ledger.settle(hold, images=0, status="starting", prediction_id=None, error=error)
    assert ledger.cap is not None and ledger.cap.spent == 0 and ledger.cap.reserved == 0
    summary = ledger.tracker.summary()
    assert summary.failures == {"InvalidRequestError": 1}
    assert summary.spend == {"replicate": 0.0}
    ledger.hold(PARAMS)  # the released money is available again


def test_failed_prediction_is_charged_as_the_provider_ran_it() -> None:
    ledger = Ledger("replicate", max_spend=1)
    hold = ledger.hold(PARAMS)
    error = ContentFilteredError("nsfw", prediction_id="p2")
    ledger.settle(hold, images=0, status="failed", prediction_id="p2", error=error)
    assert ledger.cap is not None and ledger.cap.spent == pytest.approx(0.006)
    assert ledger.tracker.summary().failures == {"ContentFilteredError": 1}


def test_cancelled_in_the_queue_is_not_a_generation() -> None:
    ledger = Ledger("replicate", max_spend=1)
    hold = ledger.hold(PARAMS)
    ledger.settle(
        hold, images=0, status="queued", prediction_id=None, error=asyncio.CancelledError()
    )
    assert ledger.tracker.summary().generations == 0
    assert ledger.cap is not None and ledger.cap.reserved == 0 and ledger.cap.spent == 0


def test_unknown_price_without_cap_is_recorded_as_unpriced_with_cap_refused() -> None:
    free = Ledger("cometapi")
    hold = free.hold(PARAMS)
    assert hold.estimate is None
    free.settle(hold, images=2, status="succeeded", prediction_id="p", error=None)
    assert free.tracker.summary().unpriced == {"cometapi": 1}
    with pytest.raises(BudgetExceededError, match="price is unknown"):
        Ledger("cometapi", max_spend=1).hold(PARAMS)
    priced = Ledger("cometapi", max_spend=1, prices={"cometapi": Price(per_image=0.01)})
    assert priced.hold(PARAMS).estimate == pytest.approx(0.02)


def test_batch_is_held_whole_or_refused_before_anything() -> None:
    ledger = Ledger("replicate", max_spend=0.003 * 5)
    items = [FluxParams(prompt=f"p{i}") for i in range(6)]
    with pytest.raises(BudgetExceededError, match="batch of 6 generations"):
        ledger.hold_batch(items)
    assert ledger.cap is not None and ledger.cap.reserved == 0
    holds = ledger.hold_batch(items[:5])
    assert ledger.cap.reserved == pytest.approx(0.015)
    with pytest.raises(BudgetExceededError):
        ledger.hold(items[0])
    for hold in holds[:3]:
        ledger.settle(hold, images=1, status="succeeded", prediction_id="x", error=None)
    for hold in holds[3:]:
        ledger.settle(hold, images=0, status="queued", prediction_id=None, error=None)
    assert ledger.cap.spent == pytest.approx(0.009)
    assert ledger.cap.reserved == pytest.approx(0.0)


def test_report_includes_cap_and_history_periods() -> None:
    ledger = Ledger("replicate", max_spend=2)
    report = ledger.report()
    assert report.max_spend == 2 and report.spent == 0 and report.today is None
    assert report.remaining == 2


def test_items_never_sent_are_not_counted_as_generations() -> None:
    ledger = Ledger("replicate")
    holds = ledger.hold_batch([PARAMS, PARAMS])
    ledger.settle(holds[0], images=2, status="succeeded", prediction_id="a", error=None)
    ledger.settle(holds[1], images=0, status="queued", prediction_id=None, error=None)
    assert ledger.tracker.summary().generations == 1


def test_a_cap_set_later_counts_what_was_spent_before() -> None:
    ledger = Ledger("replicate")
    hold = ledger.hold(PARAMS)
    ledger.settle(hold, images=2, status="succeeded", prediction_id="a", error=None)
    ledger.set_cap(0.01)
    assert ledger.cap is not None and ledger.cap.spent == pytest.approx(0.006)
    with pytest.raises(BudgetExceededError):
        ledger.hold(PARAMS)
    ledger.set_cap(None)
    assert ledger.cap is None and ledger.hold(PARAMS).reservation is None


class _Outcome:
    def __init__(self) -> None:
        self.status = "queued"
        self.prediction_id: str | None = None


async def test_accounted_charges_what_started_and_releases_what_never_left_the_queue() -> None:
    ledger = Ledger("replicate", max_spend=1.0)
    outcome = _Outcome()
    seen: list[str] = []
    hold = ledger.hold(PARAMS)
    watch = hold.watch(seen.append)

    async def started_then_failed() -> list[str]:
        watch("starting")
        outcome.status, outcome.prediction_id = "processing", "p1"
        raise ContentFilteredError("nsfw", prediction_id="p1")

    with pytest.raises(ContentFilteredError):
        await ledger.accounted(hold, outcome, started_then_failed)
    assert seen == ["starting"] and hold.started is not None
    assert ledger.cap is not None and ledger.cap.spent == pytest.approx(0.006)
    assert ledger.tracker.summary().failures == {"ContentFilteredError": 1}

    queued = ledger.hold(PARAMS)

    async def cancelled_in_the_queue() -> list[str]:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await ledger.accounted(queued, _Outcome(), cancelled_in_the_queue)
    assert ledger.cap.spent == pytest.approx(0.006) and ledger.cap.reserved == 0
    assert ledger.tracker.summary().generations == 1  # never sent: not a generation


# -- changing the cap while generations run (issue 17, item 8) ---------------------------------

ONE = FluxParams(prompt="a fox")  # $0.003 on Replicate's default price
HELD = 0.003 * 10


def _no_cap(ledger: Ledger) -> None:
    ledger.set_cap(None)


CHANGES = {
    "the same cap lowered": lambda ledger: None,
    "removed, then set again": _no_cap,
    "a new shared cap": lambda ledger: ledger.set_cap(SpendingCap(5)),
    "a cap shared with another client's": lambda ledger: ledger.set_cap(_shared_with_holds()),
}


def _shared_with_holds() -> SpendingCap:
    """A cap another client already uses."""
    other = Ledger("replicate", max_spend=5)
    assert other.cap is not None
    return other.cap


@pytest.mark.parametrize("start", [1.0, None], ids=["with a cap", "without a cap"])
@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_cap_set_while_generations_run_keeps_what_they_hold(
    start: float | None, change: str
) -> None:
    ledger = Ledger("replicate", max_spend=start)
    running = [ledger.hold(ONE) for _ in range(10)]  # $0.030 in flight
    old = ledger.cap
    CHANGES[change](ledger)
    ledger.set_cap(0.036)  # the numbers: $0.030 held, so $0.006 left
    cap = ledger.cap
    assert cap is not None and cap.reserved == pytest.approx(HELD)
    more = [ledger.hold(ONE), ledger.hold(ONE)]
    with pytest.raises(BudgetExceededError):
        ledger.hold(ONE)
    for hold in running + more:
        ledger.settle(hold, images=1, status="succeeded", prediction_id="p", error=None)
    assert cap.spent == pytest.approx(0.036) and cap.reserved == pytest.approx(0)
    if old is not None and old is not cap:  # the old cap let go of what it held, charged nothing
        assert old.reserved == pytest.approx(0) and old.spent == 0


def test_a_new_amount_on_a_shared_cap_keeps_every_clients_reservations() -> None:
    first = Ledger("replicate", max_spend=1.0)
    second = Ledger("fal")
    second.set_cap(first.cap)  # as with_provider and the studio's budget= share one cap
    running = [first.hold(ONE) for _ in range(10)]
    second.set_cap(0.036)
    assert second.cap is first.cap and first.cap is not None
    assert first.cap.max_spend == pytest.approx(0.036)
    assert first.cap.reserved == pytest.approx(HELD)
    second.hold(ONE)  # fal: $0.003 too
    first.hold(ONE)  # $0.036 held in all
    with pytest.raises(BudgetExceededError):
        first.hold(ONE)
    first.settle(running[0], images=1, status="succeeded", prediction_id="p", error=None)
    assert first.cap.spent == pytest.approx(0.003)


def test_a_bad_amount_changes_nothing() -> None:
    ledger = Ledger("replicate", max_spend=1.0)
    ledger.hold(ONE)
    with pytest.raises(ValueError):
        ledger.set_cap(-1)
    assert ledger.cap is not None and ledger.cap.max_spend == 1.0
    assert ledger.cap.reserved == pytest.approx(0.003)


def test_caps_changed_while_threads_settle_end_with_nothing_held() -> None:
    ledger = Ledger("replicate", max_spend=10.0)
    holds = [ledger.hold(ONE) for _ in range(300)]
    caps: list[SpendingCap] = []
    done = threading.Event()

    def settle_all() -> None:
        for i, hold in enumerate(holds):
            time.sleep(0)  # let the other thread change the cap between settlements
            status = "succeeded" if i % 2 else "queued"
            ledger.settle(hold, images=1, status=status, prediction_id=None, error=None)
        done.set()

    thread = threading.Thread(target=settle_all)
    thread.start()
    i = 0
    while not done.is_set():
        if i % 3 == 0:
            ledger.set_cap(SpendingCap(20.0))
        else:
            ledger.set_cap(10.0 + i if i % 3 == 1 else None)
        if ledger.cap is not None and all(cap is not ledger.cap for cap in caps):
            caps.append(ledger.cap)
        i += 1
    thread.join()
    assert len(caps) > 1  # the caps did change while the holds settled
    assert all(cap.reserved == pytest.approx(0) for cap in caps)
    assert sum(cap.spent for cap in caps) <= 0.003 * 150 + 1e-9


@pytest.mark.parametrize("who", ["the client", "a with_provider client"])
async def test_a_budget_set_during_generations_lets_through_only_what_is_left(who: str) -> None:
    async with FluxClient.mock(
        config=MockConfig(generation_time=0.3),
        prices={"cometapi": Price(per_image=0.003)},
        max_spend=1.0,
        max_concurrency=20,
    ) as client:
        running = [asyncio.create_task(client.generate(ONE)) for _ in range(10)]
        await asyncio.sleep(0)  # each task holds its share before its first await
        assert client.spending_cap is not None
        assert client.spending_cap.reserved == pytest.approx(HELD)
        other = client.with_provider("replicate") if who != "the client" else client
        other.set_budget(0.036)  # $0.030 already held: $0.006 left, two more images
        more = await asyncio.gather(
            *(client.generate(ONE) for _ in range(3)), return_exceptions=True
        )
        await asyncio.gather(*running)
    assert sum(isinstance(r, BudgetExceededError) for r in more) == 1
    assert client.spending_cap is not None
    assert client.spending_cap.spent == pytest.approx(0.036)
    assert client.spending_cap.reserved == pytest.approx(0)
