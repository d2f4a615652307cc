"""What a generation costs, estimated before it is sent: one table of prices per provider.

Each provider declares its price (``Provider.price``, ``providers/pricing.py``). Prices change
and some are not published, so every entry names its source and date, and every entry can be
replaced (``estimate_cost(..., prices={...})``, ``FLUX_PRICES`` in the environment).
Estimates are in US dollars and are what the studio shows; they are never a bill.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from ..params import FluxParams
from ..providers import PROVIDERS
from ..providers.pricing import Price

__all__ = ["DEFAULT_PRICES", "Price", "dollars", "estimate_cost", "price_table"]

# Each provider carries its own price, with its source and date (providers/: docs/protocol.md,
# "Prices per image"); this is the table of them by provider name.
DEFAULT_PRICES: dict[str, Price] = {name: p.price for name, p in PROVIDERS.items()}


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


def dollars(amount: float) -> str:
    """US dollars as every line shows them: cents from $1 up (``"$120.00"``, ``"$1,234.50"``),
    four decimals below (``"$0.0720"``: images cost fractions of a cent), and below a tenth of
    a cent two significant digits (``"$0.00065"``, a Cloudflare image), never ``"$0.0007"``
    beside a job row's ``"≈ $0.00065"`` for the same image."""
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    if 0 < abs(amount) < 0.001:
        return f"${amount:.2g}" if "e" not in f"{amount:.2g}" else f"${amount:.8f}".rstrip("0")
    return f"${amount:.4f}"


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
