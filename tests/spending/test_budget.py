"""The spending cap: reserve before, settle after, never overshoot under concurrency."""

from __future__ import annotations

import threading

import pytest

from flux_widgets.errors import APIError, FluxConnectionError
from flux_widgets.spending.budget import BudgetExceededError, SpendingCap
from flux_widgets.spending.usage import may_have_started


def test_reservations_count_until_settled_and_refusals_hold_nothing() -> None:
    cap = SpendingCap(0.01)
    first = cap.reserve(0.006)
    assert cap.reserved == pytest.approx(0.006)
    with pytest.raises(BudgetExceededError) as caught:
        cap.reserve(0.006)
    error = caught.value
    assert error.estimate == pytest.approx(0.006) and error.max_spend == 0.01
    assert error.reserved == pytest.approx(0.006) and error.spent == 0
    assert "spending cap of $0.01" in str(error)
    assert cap.reserved == pytest.approx(0.006)
    cap.settle(first, charged=False)  # never started: released
    assert cap.reserved == 0 and cap.spent == 0
    second = cap.reserve(0.006)
    cap.settle(second, charged=True)
    cap.settle(second, charged=True)  # idempotent
    assert cap.spent == pytest.approx(0.006) and cap.remaining == pytest.approx(0.004)


def test_cap_of_exactly_n_estimates_allows_n() -> None:
    cap = SpendingCap(0.3)
    for _ in range(3):
        cap.settle(cap.reserve(0.1), charged=True)
    with pytest.raises(BudgetExceededError):
        cap.reserve(0.1)


def test_unknown_price_is_refused_with_how_to_set_one() -> None:
    cap = SpendingCap(5)
    with pytest.raises(BudgetExceededError, match=r"price is unknown.*FLUX_PRICES") as caught:
        cap.reserve(None)
    assert caught.value.estimate is None


def test_split_moves_part_of_a_batch_reservation() -> None:
    cap = SpendingCap(1)
    batch = cap.reserve(0.03)
    item = cap.split(batch, 0.01)
    assert batch.amount == pytest.approx(0.02)
    cap.settle(item, charged=True)
    cap.settle(batch, charged=False)
    assert cap.spent == pytest.approx(0.01) and cap.reserved == 0
    with pytest.raises(ValueError):
        cap.split(batch, 0.01)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), True, "5"])
def test_bad_caps_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        SpendingCap(bad)  # type: ignore[arg-type]


def test_two_hundred_threads_never_overshoot() -> None:
    cap = SpendingCap(0.003 * 37)
    barrier = threading.Barrier(200)
    admitted: list[int] = []
    refused: list[int] = []

    def one(i: int) -> None:
        barrier.wait()
        try:
            reservation = cap.reserve(0.003)
        except BudgetExceededError:
            refused.append(i)
            return
        admitted.append(i)
        cap.settle(reservation, charged=True)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 37 and len(refused) == 163
    assert cap.spent == pytest.approx(0.003 * 37) and cap.reserved == 0


def test_may_have_started_counts_only_what_the_provider_could_have_run() -> None:
    assert not may_have_started("queued", None, None)
    assert not may_have_started("starting", None, APIError("422", status_code=422))
    assert may_have_started("starting", None, FluxConnectionError("no answer to the create"))
    assert may_have_started("starting", None, None)  # cancelled while the create was in flight
    assert may_have_started("failed", "abc", APIError("x"))


def test_a_refusal_is_a_sentence_in_one_dollar_format() -> None:
    cap = SpendingCap(100)
    with pytest.raises(BudgetExceededError) as caught:
        cap.check(120.0, what="this batch")
    message = str(caught.value)
    assert "(about $120.00) was refused" in message and "$120.0000" not in message
    assert message.endswith("Raise the cap or make fewer images.")
    with pytest.raises(BudgetExceededError) as unknown:
        cap.check(None)
    assert str(unknown.value).endswith("or remove the cap.")
