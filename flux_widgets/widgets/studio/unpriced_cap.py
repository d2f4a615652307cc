"""A spending cap on a provider whose price is unknown: say so at once, and offer the ways out.

The cap refuses every generation it cannot count (``spending/budget.py``), so
``PromptStudio(budget=0.50)`` on CometAPI (no published price, the default provider) would
refuse each Generate after the click. This row says it when the studio opens or switches
there, before anything is typed, with the two ways out as controls: a price per image (set on
the client: ``FluxClient.set_price``) or a provider with a published price.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable

import ipywidgets as widgets

from ...client import FluxClient
from ...errors import FluxError
from ...params import FluxParams
from ...providers import PROVIDERS
from .._compat import close_tree, set_tooltip, show
from .._html import ERROR_COLOR, WARNING_COLOR
from .state import StudioState

# Any prompt: a price per image does not depend on the words.
_PROBE = FluxParams(prompt="price probe")


def price_unknown_under_cap(client: FluxClient | None) -> bool:
    """Whether ``client`` has a spending cap and no price for its provider (each generation
    would be refused)."""
    return (
        client is not None
        and client.spending_cap is not None
        and client.estimate_cost(_PROBE) is None
    )


class UnpricedCapRow(widgets.VBox):  # type: ignore[misc]
    """Shown while the studio's client has a cap and no price: a message, a price box with
    "use this price", and one button per provider with a published price that can be used
    (a key in the environment, or any of them on the mock). ``pick`` switches provider
    (``ProviderPanel.use_provider``)."""

    def __init__(self, state: StudioState, pick: Callable[[str], None]) -> None:
        self._state = state
        self._pick = pick
        self.message = widgets.HTML()
        self.price_box = widgets.Text(
            placeholder="e.g. 0.003", description="$ per image", layout={"width": "220px"}
        )
        set_tooltip(self.price_box, "your price per image in US dollars (from your invoice)")
        self.use_price = widgets.Button(description="use this price", icon="check")
        self.providers = widgets.HBox(layout={"flex_flow": "row wrap"})
        self.error = widgets.HTML()
        super().__init__(
            [
                self.message,
                widgets.HBox(
                    [self.price_box, self.use_price, self.providers],
                    layout={"flex_flow": "row wrap", "align_items": "center"},
                ),
                self.error,
            ]
        )
        self.add_class("flux-unpriced-cap")
        self.use_price.on_click(lambda _: self.set_price(self.price_box.value))
        state.observe(lambda _: self.render(), names=["client", "prices_set"])
        self.render()

    def set_price(self, text: str) -> None:
        """Price the current client's provider at ``text`` dollars per image; a bad number is
        said in words under the box (nothing changes then)."""
        client = self._state.client
        if client is None:
            return
        try:
            value = float(text.strip().lstrip("$"))
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            # 0 would count every image as free: the cap would quietly stop counting.
            self.error.value = (
                f"<span style='color:{ERROR_COLOR}'>Type a price in US dollars per image, "
                "above $0, such as 0.003: the spending cap counts from it.</span>"
            )
            return
        client.set_price(value)
        self.error.value = ""
        self.price_box.value = ""
        title = html.escape(client.provider_info.title)
        self._state.notice = (
            f"<span class='flux-price-set'>{title} priced at ${value:g} per image (set here): "
            "the spending cap counts from that estimate.</span>"
        )
        self._state.prices_set += 1  # the estimate line and this row read the price again

    def render(self) -> None:
        """Show the row only while the cap cannot count the current provider."""
        client = self._state.client
        if client is None or not price_unknown_under_cap(client):
            show(self, False)
            return
        cap = client.spending_cap
        assert cap is not None  # price_unknown_under_cap checked it
        title = html.escape(client.provider_info.title)
        self.message.value = (
            f"<b style='color:{WARNING_COLOR}'>{title}'s price per image is not known, so the "
            f"${cap.max_spend:.2f} spending cap can't be checked</b>: nothing is sent until you "
            "set a price (your invoice's) or pick a provider with a published price."
        )
        buttons = []
        for name in self._priced_choices(client):
            provider = PROVIDERS[name]
            button = widgets.Button(description=f"use {provider.title}", layout={"width": "auto"})
            set_tooltip(button, client.prices[name].describe())
            button.on_click(lambda _, chosen=name: self._use(chosen))
            buttons.append(button)
        for old in self.providers.children:
            close_tree(old)
        self.providers.children = tuple(buttons)
        show(self, True)

    def close(self) -> None:
        close_tree(self)

    def _use(self, name: str) -> None:
        try:
            self._pick(name)
        except (ValueError, FluxError):
            return  # use_provider said why on the message line

    @staticmethod
    def _priced_choices(client: FluxClient) -> list[str]:
        """Providers with a known price that a switch would really use: any on the mock
        (it serves them all, labelled), else those with a key in the environment."""
        names = []
        for name, provider in PROVIDERS.items():
            price = client.prices.get(name)
            if name == client.provider or price is None or not price.known:
                continue
            if client.is_mock or any(os.environ.get(v) for v in provider.key_env_vars):
                names.append(name)
        return names
