"""What a generation costs, estimated before it is sent: one table of prices per provider.

Prices change and some are not published, so every entry names its source and date, and every
entry can be replaced (``estimate_cost(..., prices={...})``, ``FLUX_PRICES`` in the environment).
Estimates are in US dollars and are what the studio shows; they are never a bill.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
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


# docs/protocol.md, "Prices per image" (checked 2026): Replicate and fal from their model pages,
# Together from a third-party listing; CometAPI publishes no per-image price.
DEFAULT_PRICES: dict[str, Price] = {
    "cometapi": Price(source="not published per image by CometAPI: set FLUX_PRICES", as_of=""),
    "replicate": Price(per_image=0.003, source="replicate.com model page", as_of="2026-01"),
    "fal": Price(per_megapixel=0.003, source="fal.ai model page", as_of="2026-01"),
    "together": Price(per_image=0.0027, source="third-party listing", as_of="2026-01"),
}


def price_table(
    overrides: Mapping[str, Price] | None = None, *, environ: Mapping[str, str] | None = None
) -> dict[str, Price]:
    """The default prices, then ``FLUX_PRICES`` (JSON), then ``overrides``: later ones win.

    ``FLUX_PRICES`` holds e.g. ``{"cometapi": {"per_image": 0.003, "source": "my invoice"}}``.
    Raises ``ValueError`` when it is not such an object.
    """
    env = os.environ if environ is None else environ
    table = dict(DEFAULT_PRICES)
    raw = env.get("FLUX_PRICES")
    if raw:
        table.update(_parse_env_prices(raw))
    if overrides:
        table.update(overrides)
    return table


def estimate_cost(
    provider: str,
    params: FluxParams,
    *,
    prices: Mapping[str, Price] | None = None,
) -> float | None:
    """Estimated US dollars for one generation of ``params`` (all ``num_outputs`` images) on
    ``provider``; None when that provider's price is unknown (then say so, never guess 0)."""
    price = price_table(prices).get(provider)
    each = price.per_output(params) if price is not None else None
    return None if each is None else each * params.num_outputs


def _parse_env_prices(raw: str) -> dict[str, Price]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError(
            'FLUX_PRICES must be JSON, e.g. \'{"cometapi": {"per_image": 0.003}}\''
        ) from None
    if not isinstance(data, dict):
        raise ValueError("FLUX_PRICES must be a JSON object of provider -> price")
    table: dict[str, Price] = {}
    for provider, entry in data.items():
        if not isinstance(entry, dict) or not set(entry) <= {
            "per_image",
            "per_megapixel",
            "source",
            "as_of",
        }:
            raise ValueError(
                f"FLUX_PRICES[{provider!r}] must be an object with per_image or per_megapixel "
                "(dollars), and optionally source and as_of"
            )
        table[str(provider)] = Price(
            per_image=_dollars(entry.get("per_image")),
            per_megapixel=_dollars(entry.get("per_megapixel")),
            source=str(entry.get("source", "FLUX_PRICES")),
            as_of=str(entry.get("as_of", "")),
        )
    return table


def _dollars(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a price must be a number of dollars, got {value!r}")
    return float(value)
