"""The studio's provider and key panel: the mock banner, the provider dropdown, the key field.

It owns which client new generations use (``StudioState.client``): the one the studio was given,
else one from the environment's key, else the mock; a typed key makes a client for the provider
shown; the dropdown makes a client for another provider. Every client gets the studio's one
spending cap. The key itself lives only in ``KeyInput`` and the client, never in a trait.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import traitlets

from ...client import FluxClient
from ...errors import FluxError, MissingAPIKeyError
from ...spending.budget import SpendingCap
from ...wording import error_text
from .._compat import close_tree, show
from .._html import ERROR_COLOR, error_html
from ..key_input import KeyInput
from ..provider_picker import ProviderPicker
from .state import StudioState
from .unpriced_cap import UnpricedCapRow

MOCK_BANNER = "Mock API: images are placeholders, not FLUX output"


class ProviderPanel(widgets.VBox):  # type: ignore[misc]
    """Banner, provider dropdown and key field; sets ``state.client`` and ``state.provider``."""

    from_key = traitlets.Bool(
        False, help="whether the client was made from a key typed here (not the environment)"
    )

    def __init__(
        self, state: StudioState, client: FluxClient | None, spending_cap: SpendingCap | None
    ) -> None:
        self._state = state
        self._spending_cap = spending_cap
        self._initial_client = client if client is not None else self._default_client()
        if spending_cap is not None and self._initial_client is not None:
            self._initial_client.set_budget(spending_cap)
        self.banner = widgets.HTML()
        # The provider dropdown (FLUX_PROVIDER sets its start): provider_picker.py.
        initial = self._initial_client
        self.provider_picker = ProviderPicker(initial.provider if initial is not None else None)
        provider = self.provider_picker.provider
        self.key_input = KeyInput(env_vars=provider.key_env_vars)
        self.key_input.set_provider(provider.title, provider.console)
        # A cap on a provider without a price refuses everything: said at once, with the fixes.
        self.unpriced_cap = UnpricedCapRow(state, self.use_provider)
        super().__init__([self.banner, self.provider_picker, self.key_input, self.unpriced_cap])
        # Stable hooks for CSS and the browser tests (tests/browser/test_studio.py).
        self.banner.add_class("flux-banner")
        self.key_input.on_change(self._use_key)
        self.provider_picker.on_change(self.use_provider)
        # A client learns from the server's answers that it is the mock: look again whenever a
        # generation or batch starts or ends.
        state.observe(
            lambda _: self._render(), names=["client", "running", "batches", "prices_set"]
        )
        self.observe(lambda _: self._render(), names="from_key")
        state.client = initial
        state.provider = self.provider_picker.value
        self._render()

    def use_provider(self, name: str) -> None:
        """Send new generations to provider ``name`` (running ones keep theirs), with its key
        from the environment, else the mock; the controls then offer only what it honours.
        What the Provider dropdown does; an unknown name raises ValueError."""
        current = self._state.client
        if current is not None and current.provider == name:
            self.provider_picker.revert(name)
            return
        try:
            client = self._client_for(name)
        except (ValueError, FluxError) as error:
            self._state.notice = error_html(error)
            if current is not None:
                self.provider_picker.revert(current.provider)
            raise
        if self._spending_cap is not None:
            client.set_budget(self._spending_cap)  # one budget across the studio's providers
        if current is not None and client is not current:
            client.share_session(current)  # and one session: usage, prices set here
        self._initial_client = client
        if self.from_key:
            self.key_input.api_key = None  # a typed key belongs to the provider it was for
        self.from_key = False
        info = client.provider_info
        self.key_input.set_provider(info.title, info.console)
        self.provider_picker.revert(client.provider)
        self._state.client = client
        self._state.provider = client.provider  # the controls fit themselves to it

    async def wait(self) -> None:
        """Nothing runs in the background here."""

    def cancel(self) -> None:
        """Nothing runs in the background here."""

    def close(self) -> None:
        close_tree(self)

    def _default_client(self) -> FluxClient | None:
        try:
            return FluxClient()
        except MissingAPIKeyError:
            pass
        try:
            return FluxClient.mock()
        except FluxError as error:
            self._state.client_note = (
                f"no API key and no mock API ({error_text(error)}): type a key below"
            )
            return None

    def _use_key(self, key: str | None) -> None:
        if key is None:
            client, from_key = self._initial_client, False
        else:
            provider = self.provider_picker.value  # a key belongs to the provider shown
            client, from_key = FluxClient(api_key=key, provider=provider), True
            if self._spending_cap is not None:
                client.set_budget(self._spending_cap)
            if self._state.client is not None:
                client.share_session(self._state.client)
        self.from_key = from_key
        self._state.client = client

    def _client_for(self, name: str) -> FluxClient:
        current = self._state.client
        if self.provider_picker.wants_mock:  # "free first" found nothing free and no fallback
            return FluxClient.mock(provider=name)
        try:
            if current is not None:
                return current.with_provider(name)
            return FluxClient(provider=name)
        except MissingAPIKeyError:  # no key for it in the environment: its mock, and a banner
            return FluxClient.mock(provider=name)

    def _key_words(self) -> str:
        """Whose key pays, for the line under the provider dropdown."""
        client = self._state.client
        if client is None or client.is_mock:
            return ""  # the banner says it: no key, or placeholder images
        if self.from_key:
            return "key typed here"
        if client.has_api_key and client.key_source:
            return f"key from {client.key_source}"
        return "no key"

    def _render(self, _change: Any = None) -> None:
        """The banner, the key field and whose key pays, from the current client."""
        client = self._state.client
        self.provider_picker.show_key(self._key_words(), None if client is None else client.prices)
        if client is None:
            note = html.escape(self._state.client_note)
            self.banner.value = f"<b style='color:{ERROR_COLOR}'>{note}</b>"
        elif client.is_mock:
            # Colours from the theme (STUDIO_CSS): readable in light and dark alike.
            self.banner.value = (
                f"<div class='flux-mock-banner'><b>{MOCK_BANNER}</b>. "
                "Type an API key to use the real API.</div>"
            )
        else:  # whose key pays is on the provider line (provider_picker.py)
            self.banner.value = ""
        show(self.banner, bool(self.banner.value))
        show(
            self.key_input,
            client is None or client.is_mock or not client.has_api_key or self.from_key,
        )
