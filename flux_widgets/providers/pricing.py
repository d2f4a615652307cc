"""What one image costs on a provider: the ``Price`` each provider carries (``Provider.price``).

Prices change and some are not published, so every price names its source and date; the
spending package (``spending/prices.py``) reads them from the providers and lets the
environment and the caller replace any of them. Estimates in US dollars, never a bill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..params import FluxParams

SET_HERE = "set in this session"  # a Price's source when the user typed it (client.set_price)

# Pixels in one billed megapixel: 1024 x 1024 [guess, see Price.per_output].
_MEGAPIXEL = 1024 * 1024
_RATES = ("per_image", "per_megapixel", "per_tile", "per_step")


@dataclass(frozen=True)
class Price:
    """A provider's price for flux-schnell: per image, per megapixel, or per tile and step.

    ``per_image`` and ``per_megapixel`` are US dollars, at most one of them set. ``per_tile``
    (dollars per ``tile`` x ``tile`` pixels of output) plus ``per_step`` (dollars per denoising
    step) is how Cloudflare bills (docs/protocol.md, "Cloudflare Workers AI"): either or both,
    never with the other two. ``source`` and ``as_of`` (an ISO date) say where the number comes
    from, so a stale one can be spotted.
    """

    per_image: float | None = None
    per_megapixel: float | None = None
    source: str = ""
    as_of: str = ""
    per_tile: float | None = None
    per_step: float | None = None
    tile: int = 512

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number of dollars, got {value!r}")
        given = [name for name in _RATES if getattr(self, name) is not None]
        if len(given) > 1 and set(given) != {"per_tile", "per_step"}:
            raise ValueError(
                "a price is per image, per megapixel, or per tile and step, not a mix: "
                f"got {', '.join(given)}"
            )
        if self.tile < 1:
            raise ValueError(f"tile must be a positive number of pixels, got {self.tile!r}")

    @property
    def known(self) -> bool:
        return any(getattr(self, name) is not None for name in _RATES)

    def per_output(self, params: FluxParams) -> float | None:
        """Dollars for one image of ``params``; None when the price is unknown."""
        if self.per_image is not None:
            return self.per_image
        if self.per_megapixel is not None:
            width, height = params.pixel_size()
            # fal quotes "per megapixel" [doc] but not how it counts one: we take 1024x1024
            # (fal's square_hd) as one and round up [guess], so a 1 MP image of any aspect
            # ratio is one unit and a spending cap built on this never undercounts.
            return self.per_megapixel * math.ceil(width * height / _MEGAPIXEL)
        if self.per_tile is not None or self.per_step is not None:
            width, height = params.pixel_size()
            # Tiles counted per side, rounded up [guess: Cloudflare does not say how a part
            # tile counts], so an estimate never undercounts; 1024x1024 is 4 tiles.
            tiles = math.ceil(width / self.tile) * math.ceil(height / self.tile)
            return (self.per_tile or 0.0) * tiles + (
                self.per_step or 0.0
            ) * params.num_inference_steps
        return None

    def describe(self) -> str:
        """``"$0.003 per image (replicate.com model page, 2026-01)"``, or "price not published"."""
        if self.per_image is not None:
            return f"${self.per_image:g} per image ({self.source}, {self.as_of})"
        if self.per_megapixel is not None:
            return f"${self.per_megapixel:g} per megapixel ({self.source}, {self.as_of})"
        if self.known:
            parts = []
            if self.per_tile is not None:
                parts.append(f"${_small(self.per_tile)} per {self.tile}x{self.tile} tile")
            if self.per_step is not None:
                parts.append(f"${_small(self.per_step)} per step")
            return f"{' + '.join(parts)} ({self.source}, {self.as_of})"
        return "price not published"


@dataclass(frozen=True)
class FreeAllowance:
    """What a provider gives free each period, in its own units (``Provider.free_allowance``).

    ``amount`` ``units`` (e.g. 10,000 "neurons") every ``period`` ("day" or "month"), starting
    again at 00:00 UTC (each day, or on the first of the month). ``dollars_per_unit`` converts
    a price into units (Cloudflare: $0.011 per 1,000 neurons), so the client can count what it
    used; None where the units are not tied to a price. ``reported`` is False where no endpoint
    says what is left (the client only counts what it did itself). ``source``/``as_of`` as on
    ``Price``.
    """

    units: str
    amount: float
    period: str
    dollars_per_unit: float | None = None
    source: str = ""
    as_of: str = ""

    def __post_init__(self) -> None:
        if self.period not in ("day", "month"):
            raise ValueError(f"period must be 'day' or 'month', got {self.period!r}")
        if not (math.isfinite(self.amount) and self.amount > 0):
            raise ValueError(f"amount must be a positive number, got {self.amount!r}")

    def units_for(self, dollars: float | None) -> float | None:
        """The allowance units ``dollars`` of use amount to; None when not convertible."""
        if dollars is None or not self.dollars_per_unit:
            return None
        return dollars / self.dollars_per_unit

    def period_start(self, now: datetime) -> datetime:
        """When the current period began (00:00 UTC of the day, or of the month's first)."""
        utc = now.astimezone(timezone.utc)
        start = utc.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.replace(day=1) if self.period == "month" else start

    def next_reset(self, now: datetime) -> datetime:
        """When the allowance is next given again (UTC)."""
        start = self.period_start(now)
        if self.period == "day":
            return start + timedelta(days=1)
        return (start + timedelta(days=32)).replace(day=1)

    def describe(self) -> str:
        """``"10,000 neurons a day free (resets 00:00 UTC; developers.cloudflare.com, ...)"``."""
        reset = "00:00 UTC" if self.period == "day" else "on the 1st, 00:00 UTC"
        return (
            f"{self.amount:,.0f} {self.units} a {self.period} free (resets {reset}; "
            f"{self.source}, {self.as_of})"
        )


def _small(dollars: float) -> str:
    """``0.000053`` as written, never ``5.3e-05``."""
    text = f"{dollars:g}"
    return f"{dollars:.8f}".rstrip("0") if "e" in text else text


UNPUBLISHED = Price(source="not published")
"""The price of a provider that publishes none: estimates say "price unknown", never $0."""
