"""Free allowances in view: what is left of a provider's free allowance, and "free first".

A provider that gives something free says so (``Provider.free_allowance``,
``providers/pricing.py``): Cloudflare's 10,000 neurons a day (docs/protocol.md, "Cloudflare
Workers AI"). No endpoint reports what is left, so ``AllowanceCounter`` counts what this
process used since the period began (the estimate of each generation, in the allowance's units)
and is set to "used up" by the provider's own answer (Cloudflare's 429 code 3036). It is one
counter per provider and host for the whole session (``session_allowance``), so every client
of the studio, the grid and the magic counts into the same one. Usage elsewhere (another
notebook, the dashboard) is not seen: the text says "about".

``FreeFirst`` is the picker's "free first" choice: a provider with a free allowance left and a
key, else the paid provider the user chose as the fallback, else the mock, with a sentence
saying which and why.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import AllowanceExhaustedError, FluxError
from ..params import FluxParams
from ..providers import PROVIDERS, Provider, resolve_settings
from ..providers.pricing import FreeAllowance
from ..wording import plural

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class AllowanceLeft:
    """What is left of a free allowance now, as this session counted it."""

    units_left: float | None
    """Units left (None: not reported and not countable)."""
    images_left: int | None
    """About how many images of the provider's default size and steps that is."""
    resets_at: datetime
    exhausted: bool
    """The provider said it is used up (until ``resets_at``)."""


class AllowanceCounter:
    """The free allowance of one provider on one host, counted by this process since the
    period began (00:00 UTC); thread-safe (the magic runs on a worker thread)."""

    def __init__(self, provider: Provider, *, clock: Clock = _utc_now) -> None:
        if provider.free_allowance is None:
            raise ValueError(f"{provider.name} has no free allowance")
        self.provider = provider
        self.allowance: FreeAllowance = provider.free_allowance
        self._clock = clock
        self._lock = threading.Lock()
        self._period: datetime | None = None
        self._used = 0.0
        self._exhausted = False

    def _roll(self) -> datetime:
        """Start a new period when the last one ended; the current period's start."""
        now = self._clock()
        start = self.allowance.period_start(now)
        if start != self._period:
            self._period, self._used, self._exhausted = start, 0.0, False
        return now

    def settled(self, cost: float | None, error: BaseException | None) -> None:
        """A generation ended (``Ledger.settle``): ``cost`` estimated dollars charged, counted
        in the allowance's units; an ``AllowanceExhaustedError`` marks it used up."""
        with self._lock:
            self._roll()
            if isinstance(error, AllowanceExhaustedError):
                self._exhausted = True
            units = self.allowance.units_for(cost)
            if units:
                self._used += units

    def left(self) -> AllowanceLeft:
        """What is left now."""
        with self._lock:
            now = self._roll()
            used, exhausted = self._used, self._exhausted
        resets = self.allowance.next_reset(now)
        per_image = self.allowance.units_for(_default_cost(self.provider))
        if self.allowance.dollars_per_unit is None:
            return AllowanceLeft(None, None, resets, exhausted)
        units = 0.0 if exhausted else max(0.0, self.allowance.amount - used)
        images = math.floor(units / per_image) if per_image else None
        return AllowanceLeft(units, images, resets, exhausted)

    @property
    def available(self) -> bool:
        """Whether some of it is left, as far as this session knows."""
        left = self.left()
        return not left.exhausted and (left.units_left is None or left.units_left > 0)

    def text(self) -> str:
        """``"free today: about 150 images left (resets 00:00 UTC)"``."""
        left = self.left()
        period = "today" if self.allowance.period == "day" else "this month"
        reset = "00:00 UTC" if self.allowance.period == "day" else "the 1st, 00:00 UTC"
        if left.exhausted:
            return f"free {period}: used up (resets {reset})"
        if left.units_left is None:
            return (
                f"free {period}: {self.allowance.amount:g} {self.allowance.units}; what is left "
                "is not reported"
            )
        if left.images_left is None:
            return f"free {period}: about {left.units_left:,.0f} {self.allowance.units} left"
        images = plural(left.images_left, "image")
        return f"free {period}: about {images} left (resets {reset})"


def _default_cost(provider: Provider) -> float | None:
    """Dollars of one image at the provider's defaults (1 MP, 4 steps)."""
    try:
        params = FluxParams(prompt="an image", **provider.defaults())
    except ValueError:
        return None
    return provider.price.per_output(params)


_COUNTERS: dict[tuple[str, str], AllowanceCounter] = {}
_COUNTERS_LOCK = threading.Lock()


def session_allowance(provider: Provider, base_url: str) -> AllowanceCounter | None:
    """The session's counter of ``provider``'s free allowance on ``base_url`` (the mock's is
    not the real one); None when the provider gives nothing free."""
    if provider.free_allowance is None:
        return None
    key = (provider.name, base_url.rstrip("/"))
    with _COUNTERS_LOCK:
        counter = _COUNTERS.get(key)
        if counter is None:
            counter = _COUNTERS[key] = AllowanceCounter(provider)
        return counter


def reset_session_allowances() -> None:
    """Forget every counter (tests; a new day is rolled over by the counters themselves)."""
    with _COUNTERS_LOCK:
        _COUNTERS.clear()


def has_key(provider: Provider, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment holds everything ``provider`` needs on its own host."""
    try:
        settings = resolve_settings(provider=provider, base_url=None, environ=environ)
    except (FluxError, ValueError):
        return False
    return settings.api_key is not None and not settings.use_mock


@dataclass(frozen=True)
class FreeChoice:
    """What "free first" chose: a provider, on its own host or on the mock, and why."""

    provider: str
    mock: bool
    reason: str


class FreeFirst:
    """Use a free allowance while one is left; then the paid ``fallback`` if the user chose
    one (and it has a key), else the mock (placeholders, labelled). ``key_check`` and
    ``counter_for`` replace the environment and the session's counters in tests."""

    def __init__(
        self,
        fallback: str | None = None,
        *,
        providers: Mapping[str, Provider] | None = None,
        key_check: Callable[[Provider], bool] = has_key,
        counter_for: Callable[[Provider], AllowanceCounter | None] | None = None,
    ) -> None:
        self.providers = dict(PROVIDERS if providers is None else providers)
        if fallback is not None and fallback not in self.providers:
            raise ValueError(
                f"the fallback must be one of {', '.join(map(repr, self.providers))}, "
                f"got {fallback!r}"
            )
        self.fallback = fallback
        self._key_check = key_check
        self._counter_for = counter_for or (lambda p: session_allowance(p, p.default_base_url))

    def choose(self) -> FreeChoice:
        """The provider to use now, with the sentence that says why."""
        skipped = []
        for provider in self.providers.values():
            counter = self._counter_for(provider) if provider.free_allowance else None
            if counter is None:
                continue
            if not self._key_check(provider):
                skipped.append(f"{provider.name}: no key")
            elif not counter.available:
                skipped.append(f"{provider.name}: {counter.text()}")
            else:
                return FreeChoice(
                    provider.name, False, f"free first: {provider.name}, {counter.text()}"
                )
        why = "; ".join(skipped) or "no provider gives a free allowance"
        fallback = self.providers.get(self.fallback) if self.fallback else None
        if fallback is not None and self._key_check(fallback):
            return FreeChoice(
                fallback.name,
                False,
                f"free first: nothing free to use ({why}), so your paid fallback {fallback.name}",
            )
        first_free = next(
            (p.name for p in self.providers.values() if p.free_allowance),
            fallback.name if fallback else "cometapi",
        )
        no_paid = (
            f"your fallback {fallback.name} has no key"
            if fallback
            else "no paid fallback was chosen"
        )
        return FreeChoice(
            first_free,
            True,
            f"free first: nothing free to use ({why}) and {no_paid}, so the mock "
            "(placeholder images, not FLUX output)",
        )
