"""What one image costs on a provider: the ``Price`` each provider carries (``Provider.price``).

Prices change and some are not published, so every price names its source and date; the
spending package (``spending/prices.py``) reads them from the providers and lets the
environment and the caller replace any of them. Estimates in US dollars, never a bill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..params import FluxParams

# Pixels in one billed megapixel: 1024 x 1024 [guess, see Price.per_output].
_MEGAPIXEL = 1024 * 1024


@dataclass(frozen=True)
class Price:
    """A provider's price for flux-schnell: per image, or per megapixel of output.

    ``per_image`` and ``per_megapixel`` are US dollars; at most one is set. ``source`` and
    ``as_of`` (an ISO date) say where the number comes from, so a stale one can be spotted.
    """

    per_image: float | None = None
    per_megapixel: float | None = None
    source: str = ""
    as_of: str = ""

    def __post_init__(self) -> None:
        for name in ("per_image", "per_megapixel"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number of dollars, got {value!r}")
        if self.per_image is not None and self.per_megapixel is not None:
            raise ValueError("a price is per image or per megapixel, not both")

    @property
    def known(self) -> bool:
        return self.per_image is not None or self.per_megapixel is not None

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
        return None

    def describe(self) -> str:
        """``"$0.003 per image (replicate.com model page, 2026-01)"``, or "price not published"."""
        if self.per_image is not None:
            return f"${self.per_image:g} per image ({self.source}, {self.as_of})"
        if self.per_megapixel is not None:
            return f"${self.per_megapixel:g} per megapixel ({self.source}, {self.as_of})"
        return "price not published"


UNPUBLISHED = Price(source="not published")
"""The price of a provider that publishes none: estimates say "price unknown", never $0."""
