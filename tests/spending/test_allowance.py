"""Free allowances (spending/allowance.py, providers/pricing.py): counted, used up, reset, and
the "free first" policy."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flux_widgets import FluxParams
from flux_widgets.errors import AllowanceExhaustedError, RateLimitError
from flux_widgets.providers import PROVIDERS, Provider
from flux_widgets.providers.cloudflare import CLOUDFLARE
from flux_widgets.providers.pricing import FreeAllowance, Price
from flux_widgets.spending.allowance import AllowanceCounter, FreeFirst
from flux_widgets.spending.ledger import Ledger

ONE_IMAGE = 4 * 0.000053 + 4 * 0.00011  # dollars: 1 MP at 4 steps (docs/protocol.md)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def counter(now: datetime) -> tuple[AllowanceCounter, Clock]:
    clock = Clock(now)
    return AllowanceCounter(CLOUDFLARE, clock=clock), clock


def test_a_fresh_day_offers_about_168_images_until_midnight_utc() -> None:
    allowance, _ = counter(datetime(2026, 12, 4, 15, 30, tzinfo=timezone.utc))
    left = allowance.left()
    assert left.images_left == 168 and not left.exhausted
    assert left.resets_at == datetime(2026, 12, 5, tzinfo=timezone.utc)
    assert allowance.text() == "free today: about 168 images left (resets 00:00 UTC)"


def test_each_image_charged_is_counted_in_neurons() -> None:
    allowance, _ = counter(datetime(2026, 12, 4, 9, tzinfo=timezone.utc))
    allowance.settled(ONE_IMAGE * 10, None)
    assert allowance.left().images_left == 158
    allowance.settled(0.0, None)  # refused before it ran: nothing used
    allowance.settled(None, None)  # price unknown: nothing to count
    assert allowance.left().images_left == 158


def test_the_providers_3036_marks_it_used_up_until_the_next_utc_day() -> None:
    allowance, clock = counter(datetime(2026, 12, 4, 23, 59, tzinfo=timezone.utc))
    allowance.settled(0.0, AllowanceExhaustedError("used up", status_code=429))
    assert allowance.left().exhausted and allowance.left().images_left == 0
    assert not allowance.available
    assert allowance.text() == "free today: used up (resets 00:00 UTC)"
    clock.now = datetime(2026, 12, 5, 0, 0, 1, tzinfo=timezone.utc)
    assert allowance.available and allowance.left().images_left == 168


def test_another_429_does_not_mark_the_allowance_used_up() -> None:
    allowance, _ = counter(datetime(2026, 12, 4, 12, tzinfo=timezone.utc))
    allowance.settled(0.0, RateLimitError("capacity", status_code=429))
    assert allowance.available


def test_midnight_is_utc_midnight_whatever_the_local_zone() -> None:
    from datetime import timedelta

    tokyo = timezone(timedelta(hours=9))
    allowance, _ = counter(datetime(2026, 12, 5, 8, 0, tzinfo=tokyo))  # 23:00 UTC on the 4th
    assert allowance.left().resets_at == datetime(2026, 12, 5, tzinfo=timezone.utc)


def test_a_monthly_allowance_without_a_price_says_what_is_left_is_not_reported() -> None:
    class Monthly(Provider):
        name, title, family, console = "monthly", "Monthly", "test", "https://example.com"
        default_base_url, key_env_vars, cancel_note = "https://example.com", ("M_KEY",), "none"
        free_allowance = FreeAllowance(units="dollars of credits", amount=0.1, period="month")

        def create_request(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
            raise AssertionError("never sent: only the allowance is tested")

        def read_created(self, *args: object) -> object:  # type: ignore[override]
            raise AssertionError("never read")

    allowance = AllowanceCounter(
        Monthly(), clock=lambda: datetime(2026, 12, 31, 23, tzinfo=timezone.utc)
    )
    assert allowance.left().resets_at == datetime(2027, 1, 1, tzinfo=timezone.utc)
    assert "not reported" in allowance.text() and "this month" in allowance.text()


def test_the_ledger_feeds_the_counter_and_the_usage_report_shows_it() -> None:
    ledger = Ledger("cloudflare")
    ledger.allowance, _ = counter(datetime(2026, 12, 4, 12, tzinfo=timezone.utc))
    params = FluxParams(prompt="x", output_format="jpg", num_outputs=2)
    hold = ledger.hold(params)
    hold.start()
    ledger.settle(hold, images=2, status="succeeded", prediction_id=None, error=None)
    report = ledger.report()
    assert report.allowance == "free today: about 166 images left (resets 00:00 UTC)"
    assert report.allowance in str(report) and report.allowance in report._repr_html_()


def test_a_provider_without_an_allowance_shows_no_allowance_line() -> None:
    assert Ledger("fal").report().allowance is None
    assert "free" not in str(Ledger("fal").report())


def test_a_tile_and_step_price_cannot_be_mixed_with_a_per_image_one() -> None:
    with pytest.raises(ValueError, match="not a mix"):
        Price(per_image=0.003, per_step=0.0001)
    with pytest.raises(ValueError, match="non-negative"):
        Price(per_tile=-1.0)
    assert Price(per_step=0.001, source="s", as_of="d").per_output(FluxParams(prompt="x")) == 0.004


# -- free first ------------------------------------------------------------------------------


def fresh(provider: Provider) -> AllowanceCounter | None:
    if provider.free_allowance is None:
        return None
    return AllowanceCounter(provider, clock=lambda: datetime(2026, 12, 4, 12, tzinfo=timezone.utc))


def used_up(provider: Provider) -> AllowanceCounter | None:
    found = fresh(provider)
    if found is not None:
        found.settled(0.0, AllowanceExhaustedError("used up", status_code=429))
    return found


def test_free_first_uses_a_free_allowance_while_one_is_left_and_a_key_exists() -> None:
    choice = FreeFirst(key_check=lambda p: True, counter_for=fresh).choose()
    assert choice.provider == "cloudflare" and not choice.mock
    assert "free today: about 168 images left" in choice.reason


def test_free_first_falls_back_to_the_paid_provider_the_user_chose() -> None:
    choice = FreeFirst("fal", key_check=lambda p: True, counter_for=used_up).choose()
    assert choice.provider == "fal" and not choice.mock
    assert "paid fallback fal" in choice.reason and "used up" in choice.reason


def test_free_first_without_a_chosen_fallback_goes_to_the_mock_and_says_so() -> None:
    choice = FreeFirst(key_check=lambda p: True, counter_for=used_up).choose()
    assert choice.mock and "mock" in choice.reason and "no paid fallback" in choice.reason


def test_free_first_never_picks_a_free_provider_without_its_key() -> None:
    choice = FreeFirst("fal", key_check=lambda p: p.name == "fal", counter_for=fresh).choose()
    assert choice.provider == "fal" and "cloudflare: no key" in choice.reason


def test_free_first_does_not_fall_back_to_a_paid_provider_without_a_key() -> None:
    choice = FreeFirst("fal", key_check=lambda p: False, counter_for=fresh).choose()
    assert choice.mock and "fallback fal has no key" in choice.reason


def test_free_first_refuses_an_unknown_fallback() -> None:
    with pytest.raises(ValueError, match="fallback"):
        FreeFirst("dall-e")


def test_every_registered_allowance_names_its_source_and_date() -> None:
    for provider in PROVIDERS.values():
        if provider.free_allowance is not None:
            assert provider.free_allowance.source and provider.free_allowance.as_of
