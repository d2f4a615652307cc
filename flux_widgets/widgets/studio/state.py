"""The studio's shared state, declared once as traits, and the protocol every panel keeps.

Panels never reach into each other's widgets: each reads and writes these traits and observes
the ones it shows (``state.observe(..., names="client")``), as ipywidgets' own widgets do. The
traits are kernel-side only (no ``sync=True``): nothing here goes to the browser or into a saved
notebook, which matters because a client holds its API key.
"""

from __future__ import annotations

from typing import Protocol

import traitlets

from ...client import FluxClient
from ...history.store import History


class StudioState(traitlets.HasTraits):
    """The traits ``PromptStudio`` declares (it inherits them) and hands to its panels."""

    client = traitlets.Instance(
        FluxClient,
        allow_none=True,
        help="the client new generations use (running ones keep theirs); None: no key, no mock",
    )
    provider = traitlets.Unicode(
        help="the provider the controls are fitted to, by name (the dropdown's, after a switch)"
    )
    client_note = traitlets.Unicode(
        "", help="why there is no client (no key and no mock): the banner says it"
    )
    history = traitlets.Instance(
        History, allow_none=True, help="the on-disk history, or None (history=False)"
    )
    history_count = traitlets.Int(0, help="images in the history folder, as last counted")
    running = traitlets.Int(0, help="job rows whose generation has not finished (not batches)")
    batches = traitlets.Int(0, help="batches (templates, styles with variants) running now")
    prices_set = traitlets.Int(
        0, help="counts prices set in the studio (the unknown-price row): estimates read again"
    )
    notice = traitlets.Unicode(
        "", help="the message line's HTML: the last error, note or question, or empty"
    )

    def keep_in(self) -> History | bool:
        """Where the studio's generations keep their images (each call's ``history=``): its
        history, or nowhere with ``history=False``, whatever its client's own setting."""
        return self.history if self.history is not None else False


class Panel(Protocol):
    """What the studio asks of each of its panels (a widget shown in its column)."""

    async def wait(self) -> None:
        """Wait until the panel's background work (tasks, thumbnails, page loads) is done."""

    def cancel(self) -> None:
        """Stop the panel's background work (generations are cancelled on the server too)."""

    def close(self) -> None:
        """Close the panel with every widget it made."""
