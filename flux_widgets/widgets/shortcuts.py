"""Shortcuts: the studio's keyboard shortcuts that standard ipywidgets cannot have.

A tiny anywidget (``shortcuts.js`` ships in the package) with no visible part: Ctrl+Enter
(Cmd+Enter on a Mac) in the prompt generates, and the text being typed is sent (debounced,
250 ms) so the studio's count and cost line follows it before the box syncs on blur. It acts
only on text areas inside an element carrying its ``scope`` class, which the studio adds to
its prompt box. The viewer's own keys (left/right, Esc) live in ``viewer.js``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets

# (prompt text as typed, maybe not yet synced) -> None
GenerateCallback = Callable[[str], None]


class Shortcuts(anywidget.AnyWidget):
    """Listens for Ctrl/Cmd+Enter in text areas under its ``scope`` CSS class."""

    _esm = Path(__file__).with_name("shortcuts.js")

    scope = traitlets.Unicode(
        help="the CSS class marking the text areas where Ctrl/Cmd+Enter generates"
    ).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("scope", f"flux-keys-{secrets.token_hex(4)}")
        super().__init__(**kwargs)
        self._on_generate: list[GenerateCallback] = []
        self._on_typing: list[GenerateCallback] = []
        # Nothing to see: the element only hosts the listener.
        self.layout.display = "none"
        self.on_msg(self._on_front_end_message)

    def on_generate(self, callback: GenerateCallback) -> None:
        """Call ``callback(prompt)`` when Ctrl/Cmd+Enter is pressed in a scoped text area."""
        self._on_generate.append(callback)

    def on_typing(self, callback: GenerateCallback) -> None:
        """Call ``callback(prompt)`` with the text of a scoped text area while it is typed in
        (250 ms after the last key), before the text area itself syncs."""
        self._on_typing.append(callback)

    def __repr__(self) -> str:
        return f"<Shortcuts scope={self.scope!r}>"

    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Sequence[Any]) -> None:
        if not isinstance(content, dict):
            return
        callbacks = {"generate": self._on_generate, "typing": self._on_typing}.get(
            str(content.get("event"))
        )
        prompt = content.get("prompt")
        if callbacks is None or not isinstance(prompt, str):
            return
        for callback in callbacks:
            callback(prompt)
