"""KeyInput: type an API key into a notebook without the notebook ever storing it.

A widget's synced traits are saved with the notebook's widget state and echoed to every open
view. So the key never stays in one: the moment the field's value arrives, it is moved into a
plain Python attribute and the field is cleared. What remains visible is a masked form (first
3 and last 4 characters), enough to tell two keys apart.

The field is a ``Password`` whose ``value`` opts out of ipywidgets 8's echo: the kernel
answers every front-end update with an ``echo_update`` message carrying the new value to all
connected views, sent before any observer runs, so a stock ``Password`` re-broadcasts a pasted
key over IOPub however fast it is cleared. Opting out per trait (``echo_update=False``, as
ipywidgets' own ``FileUpload.value`` does) keeps echoes for every other widget.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
from traitlets import Unicode

from ..transport.redaction import redact
from ._compat import set_tooltip
from ._html import error_html

logger = logging.getLogger("flux_widgets")

KEY_ENV_VARS: tuple[str, ...] = ("COMETAPI_KEY", "FLUX_API_KEY")
KEY_CONSOLE_URL = "https://api.cometapi.com/console/token"
# Below this length, first 3 + last 4 characters would reveal most of the key.
_MIN_MASKABLE = 12

KeyCallback = Callable[[str | None], None]


def mask_key(key: str) -> str:
    """``sk-...abcd``: the first 3 and last 4 characters, or nothing of a short key."""
    if len(key) < _MIN_MASKABLE:
        return "***"
    return f"{key[:3]}...{key[-4:]}"


class SecretField(widgets.Password):  # type: ignore[misc]
    """A ``Password`` field whose typed value is never echoed back to the front ends."""

    value = Unicode(
        "", help="what the user typed; not echoed (ipywidgets 8 echo_update) to other views"
    ).tag(sync=True, echo_update=False)


class KeyInput(widgets.VBox):  # type: ignore[misc]
    """A password field whose value lives only in Python (``api_key``), never in a trait.

    The environment (``COMETAPI_KEY``, then ``FLUX_API_KEY``) is read first. ``on_change``
    registers a callback that gets the new key (or None when forgotten).
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        env_vars: tuple[str, ...] = KEY_ENV_VARS,
        **kwargs: Any,
    ) -> None:
        self._api_key: str | None = None
        self._source = ""
        self._console = KEY_CONSOLE_URL  # where the current provider's keys come from
        self._callbacks: list[KeyCallback] = []
        self.field = SecretField(
            value="",
            placeholder="paste your CometAPI key (sk-...) and press Enter",
            description="API key",
            # Sent once on Enter or blur: clearing after every keystroke would fight the typing.
            continuous_update=False,
            layout={"width": "420px"},
        )
        self.status = widgets.HTML()
        self.forget = widgets.Button(description="forget key", icon="times")
        set_tooltip(self.forget, "drop the key from this kernel's memory")
        super().__init__([widgets.HBox([self.field, self.forget]), self.status], **kwargs)
        env = os.environ if environ is None else environ
        for name in env_vars:
            if env.get(name, "").strip():
                self._api_key = env[name].strip()
                self._source = f"from ${name}"
                break
        self.field.observe(self._on_value, names="value")
        self.forget.on_click(lambda _: setattr(self, "api_key", None))
        self._render()

    @property
    def api_key(self) -> str | None:
        """The key, held only in this Python object."""
        return self._api_key

    @api_key.setter
    def api_key(self, key: str | None) -> None:
        key = key.strip() if key else None
        if key == self._api_key:
            return
        self._api_key = key or None
        self._source = "typed" if key else ""
        self._render()
        self._notify()

    def set_provider(self, name: str, console: str) -> None:
        """Ask for ``name``'s key (placeholder, and the link to ``console`` where one is got)."""
        self.field.placeholder = f"paste your {name} key and press Enter"
        self._console = console
        self._render()

    def on_change(self, callback: KeyCallback) -> None:
        """Call ``callback(key)`` whenever the key is set, changed or forgotten."""
        self._callbacks.append(callback)

    def _on_value(self, change: dict[str, Any]) -> None:
        value = change["new"]
        if not value:
            return
        # First thing, before anything can fail: the trait must not keep the key.
        self.field.value = ""
        if value.strip():  # a stray space is not a request to forget the key
            self.api_key = value

    def _notify(self) -> None:
        for callback in self._callbacks:
            try:
                callback(self._api_key)
            except Exception as error:
                logger.exception("API key callback failed")
                # In words, and never the key itself, even if a message quoted it.
                self.status.value = redact(
                    error_html(error, "could not use the key"), self._api_key
                )

    def _render(self) -> None:
        if self._api_key is None:
            self.status.value = (
                f"no key set: get one at <a href='{html.escape(self._console)}' target='_blank'>"
                f"{html.escape(self._console)}</a>; it stays in this kernel, never in the notebook"
            )
            self.forget.disabled = True
        else:
            source = f", {self._source}" if self._source and self._source != "typed" else ""
            self.status.value = f"key set ({html.escape(mask_key(self._api_key))}){source}"
            self.forget.disabled = False

    def __repr__(self) -> str:
        return f"<KeyInput: {'key set' if self._api_key else 'no key'}>"
