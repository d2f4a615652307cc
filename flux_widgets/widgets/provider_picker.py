"""Choosing the provider in the studio, and showing only what it can do.

``ProviderPicker`` is a dropdown of the registered providers with a line, for people, saying
what an image costs there, what it cannot honour and whose key pays; what Cancel does there
(and where the price comes from) is that line's hover text. ``apply_capabilities`` greys out
(and resets to its default) every control the provider has no input for, narrows the choices
it cannot honour (fal and Together: jpg or png), and says why in the tooltip;
``cancel_tooltip`` and ``price_text`` give the job row's hover text and estimate. No requests:
a new provider means a new client, which the studio makes.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets

from ..params import FluxParams
from ..providers import DEFAULT_PROVIDER, PROVIDERS, Provider, get_provider
from ..providers.pricing import SET_HERE, Price
from ..schema import FIELDS
from ..spending.allowance import FreeChoice, FreeFirst, session_allowance
from ..spending.prices import estimate_cost, price_table
from ..wording import setting
from ._compat import set_tooltip

_WIDE = {"description_width": "initial"}
FREE_FIRST = "free first"
"""The dropdown's value for "use a free allowance while one is left" (``FreeFirst``)."""


def initial_provider(client_provider: str | None = None) -> str:
    """The provider a new studio shows: its client's, else ``FLUX_PROVIDER``, else the default."""
    name = client_provider or os.environ.get("FLUX_PROVIDER") or DEFAULT_PROVIDER
    try:
        return get_provider(name).name
    except ValueError:
        return DEFAULT_PROVIDER


def _option_value(option: Any) -> Any:
    # Dropdown options are plain values or (label, value) pairs.
    return option[1] if isinstance(option, tuple) else option


def apply_capabilities(
    field_widgets: dict[str, widgets.Widget], provider: Provider, all_options: dict[str, Any]
) -> list[str]:
    """Fit the parameter controls to ``provider``; one note per value it changed, e.g.
    ``"aspect ratio 16:9 → 1:1 (cloudflare)"``, for the studio to say (nothing silent).

    ``field_widgets`` maps field names to their widgets (``ParameterControls.field_widgets``);
    ``all_options`` holds each choice dropdown's full option list, so a narrowed list can be
    widened again when the provider changes back. A choice narrowed to one value (Cloudflare:
    1:1, 1 MP, jpg) is greyed out too: there is nothing to choose.
    """
    capabilities = provider.capabilities
    notes: list[str] = []
    for name, widget in field_widgets.items():
        before = widget.value
        field = FIELDS.get(name)
        if field is None or field.kind == "text":
            continue
        narrowed = name in capabilities.choices
        if field.kind == "choice" and (narrowed or name in all_options):
            # Only lists this or the last provider narrowed: others (the aspect ratio's labels,
            # which follow the megapixels) stay their controls' own.
            full = all_options.setdefault(name, tuple(widget.options))
            allowed = capabilities.allowed_choices(name)
            options = tuple(o for o in full if _option_value(o) in allowed)
            current = widget.value
            with widget.hold_sync():
                widget.options = options
                widget.value = current if current in allowed else capabilities.default(name)
            if not narrowed:
                del all_options[name]
        supported = capabilities.supports(name)
        if not supported and field.kind != "seed" and widget.value != field.default:
            widget.value = field.default  # it would be refused: the provider has no such input
        only: tuple[Any, ...] = tuple(widget.options) if narrowed else ()
        widget.disabled = not supported or len(only) == 1
        if not supported:
            set_tooltip(widget, f"{provider.name} has no {field.label.lower()} setting")
        elif len(only) == 1:
            shown = only[0][0] if isinstance(only[0], tuple) else only[0]
            set_tooltip(widget, f"{provider.title} offers only {shown}")
        else:
            set_tooltip(widget, field.help)
        if widget.value != before and field.kind != "seed":
            notes.append(
                f"{field.label.lower()} {setting(before)} → {setting(widget.value)} "
                f"({provider.name})"
            )
    quality, output_format = field_widgets.get("output_quality"), field_widgets.get("output_format")
    if quality is not None and output_format is not None and output_format.value == "png":
        quality.disabled = True  # docs/protocol.md: quality is ignored for png on every provider
    return notes


def fit_params(params: FluxParams, provider: Provider) -> tuple[FluxParams, list[str]]:
    """``params`` with every value ``provider`` cannot honour replaced by what it gives instead
    (its default, or the nearest allowed number), and one note per change, e.g.
    ``"output format webp → jpg (fal)"``: for reusing an image made elsewhere."""
    capabilities = provider.capabilities
    changes: dict[str, Any] = {}
    for name, field in FIELDS.items():
        value = getattr(params, name)
        if name in capabilities.lacks and value != field.default:
            changes[name] = field.default
        elif name in capabilities.choices and value not in capabilities.choices[name]:
            changes[name] = capabilities.default(name)
        elif name in capabilities.bounds and isinstance(value, int):
            low, high = capabilities.bounds[name]
            if not low <= value <= high:
                changes[name] = min(max(value, low), high)
    notes = [
        f"{name.replace('_', ' ')} {setting(getattr(params, name))} → {setting(new)} "
        f"({provider.name})"
        for name, new in changes.items()
    ]
    return (params.replace(**changes) if changes else params), notes


def cancel_tooltip(provider: Provider) -> str:
    """The job row's Cancel hover text: what cancelling does on ``provider``."""
    return provider.cancel_note


def price_text(provider: str, params: FluxParams) -> str:
    """``"≈ $0.006"`` for one generation of ``params``, or ``"price unknown"``.

    An estimate from ``prices.py`` (its source and date are in the table), never a bill.
    """
    try:
        cost = estimate_cost(provider, params)
    except ValueError:  # a malformed FLUX_PRICES: say so rather than break the studio
        return "price unknown (FLUX_PRICES is not valid)"
    return cost_text(cost)


def cost_text(cost: float | None) -> str:
    """``"≈ $0.006"`` for an estimate in US dollars, or ``"price unknown"`` for None: what a
    job row shows of its client's own estimate (``FluxClient.estimate_cost``, the number the
    estimate line and the spending cap use)."""
    if cost is None:
        return "price unknown"
    text = f"{cost:.2g}"  # two significant digits: an estimate, not an invoice
    if "e" in text:
        text = f"{cost:.6f}".rstrip("0")
    return f"≈ ${text}"


def allowance_text(provider: Provider) -> str | None:
    """What is left of ``provider``'s free allowance on its own host, as this session counted
    it (``"free today: about 150 images left (resets 00:00 UTC)"``); None when it gives none."""
    counter = session_allowance(provider, provider.default_base_url)
    return None if counter is None else counter.text()


def limits_text(provider: Provider) -> str:
    """What ``provider`` cannot honour, in the controls' words: ``"format jpg or png only; no
    quality or go fast (fp8) setting"``; "" when it honours every field."""
    capabilities = provider.capabilities
    parts, lacks = [], []
    for name, field in FIELDS.items():
        label = (field.short_label or field.label).lower()
        if name in capabilities.lacks:
            lacks.append(label)
        elif name in capabilities.choices:
            parts.append(f"{label} {' or '.join(capabilities.choices[name])} only")
        elif name in capabilities.bounds and capabilities.bounds[name] != field.bounds:
            low, high = capabilities.bounds[name]
            parts.append(f"{label} {low} to {high}")
    if lacks:
        listed = ", ".join(lacks[:-1]) + " or " + lacks[-1] if len(lacks) > 1 else lacks[0]
        parts.append(f"no {listed} setting")
    return "; ".join(parts)


def provider_summary(
    provider: Provider, key: str = "", prices: Mapping[str, Price] | None = None
) -> str:
    """One line for the picker, for people: the price per image, the free allowance left, what
    the provider cannot honour, and ``key`` (whose key pays, from the studio). ``prices`` is
    the client's table (a price set in this session reads "your price: $0.003 per image");
    the published table without it. What Cancel does is ``provider_details``, the hover text."""
    try:
        price = (prices if prices is not None else price_table()).get(provider.name)
    except ValueError:
        price = None
    if price is not None and price.source == SET_HERE and price.per_image is not None:
        cost = f"your price: ${price.per_image:g} per image"
    elif price is None or not price.known:
        cost = "price not published"
    else:  # the source and date go to the hover text
        cost = price.describe().removesuffix(f" ({price.source}, {price.as_of})")
    parts = (cost, allowance_text(provider), limits_text(provider), key)
    return " · ".join(part for part in parts if part)


def provider_details(provider: Provider) -> str:
    """The picker line's hover text: what Cancel does there, and where the price comes from."""
    try:
        price = price_table().get(provider.name)
    except ValueError:
        price = None
    source = f"; price: {price.describe()}" if price is not None and price.known else ""
    return f"{provider.cancel_note}{source}"


class ProviderPicker(widgets.VBox):  # type: ignore[misc]
    """A dropdown of the providers (and "free first") and a line about the chosen one.

    ``on_change(callback)`` registers ``callback(name)``; ``revert(name)`` puts the dropdown back
    without calling it (when the studio could not switch, e.g. no key for that provider).
    "Free first" calls back with the provider ``FreeFirst(fallback)`` chooses and says why;
    ``wants_mock`` is then True when it fell back to the mock.
    """

    def __init__(
        self, value: str | None = None, *, fallback: str | None = None, **kwargs: Any
    ) -> None:
        self.free_first = FreeFirst(fallback)
        self.choice: FreeChoice | None = None
        self.dropdown = widgets.Dropdown(
            options=[(p.title, name) for name, p in PROVIDERS.items()]
            + [("Free first", FREE_FIRST)],  # the line below says what it chose and why
            value=FREE_FIRST if value == FREE_FIRST else initial_provider(value),
            description="Provider",
            style=_WIDE,
        )
        set_tooltip(
            self.dropdown,
            "which service generates the images (FLUX_PROVIDER); Free first: a free allowance "
            "while one is left, then the fallback",
        )
        self.info = widgets.HTML()
        self._callbacks: list[Callable[[str], None]] = []
        self._quiet = False
        self._key = ""
        self._prices: Mapping[str, Price] | None = None
        super().__init__([self.dropdown, self.info], **kwargs)
        self.add_class("flux-provider")
        self.dropdown.observe(self._changed, names="value")
        self._describe()

    @property
    def value(self) -> str:
        """The chosen provider's name (under "free first": the one it chose)."""
        if self.dropdown.value == FREE_FIRST:
            return self._free_choice().provider
        return str(self.dropdown.value)

    @property
    def wants_mock(self) -> bool:
        """Whether "free first" fell back to the mock (nothing free left, no paid fallback)."""
        return self.dropdown.value == FREE_FIRST and self._free_choice().mock

    def _free_choice(self) -> FreeChoice:
        if self.choice is None:
            self.choice = self.free_first.choose()
        return self.choice

    @property
    def provider(self) -> Provider:
        return get_provider(self.value)

    def on_change(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def revert(self, name: str) -> None:
        """Show ``name`` again without telling the callbacks."""
        self._quiet = True
        try:
            free_first = self.dropdown.value == FREE_FIRST
            if not (free_first and self.choice is not None and self.choice.provider == name):
                self.dropdown.value = name  # "free first" stays shown while its choice is used
        finally:
            self._quiet = False
        self._describe()

    def _changed(self, change: dict[str, Any]) -> None:
        self.choice = None  # "free first" chooses again each time it is picked
        self._describe()
        if self._quiet:
            return
        for callback in self._callbacks:
            callback(self.value)

    def show_key(self, key: str, prices: Mapping[str, Price] | None = None) -> None:
        """Say whose key pays on the line (``"key from FAL_KEY (environment variable)"``), and
        the price from ``prices`` (the client's table: a price set in the studio shows)."""
        self._key = key
        self._prices = prices
        self._describe()

    def _describe(self) -> None:
        provider = self.provider
        text = provider_summary(provider, self._key, self._prices)
        if self.dropdown.value == FREE_FIRST:
            text = f"{self._free_choice().reason} · {text}"
        details = html.escape(provider_details(provider), quote=True)
        self.info.value = f"<small title='{details}'>{html.escape(text)}</small>"
