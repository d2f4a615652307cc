"""The few places where ipywidgets 7 (Colab) and 8 differ, kept in one file.

Everything else in the package uses APIs both versions share, so the studio renders with the
stock widget front end everywhere, with no extension to install.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

IPYWIDGETS_MAJOR = int(widgets.__version__.split(".")[0])


def set_tooltip(widget: Any, text: str) -> None:
    """Hover text: ``tooltip`` on every widget in 8 (and on Button in 7), else the 7 name."""
    # ipywidgets 8 warns on description_tooltip, and pytest turns that warning into an error.
    if widget.has_trait("tooltip"):
        widget.tooltip = text
    elif widget.has_trait("description_tooltip"):
        widget.description_tooltip = text


def show(widget: Any, visible: bool = True) -> None:
    """Show or hide a widget without removing it from its parent (CSS display)."""
    widget.layout.display = None if visible else "none"


def is_shown(widget: Any) -> bool:
    return bool(widget.layout.display != "none")


def widget_view_bundle(widget: Any) -> dict[str, Any]:
    """The mime bundle entry that tells a front end to render this widget's live view."""
    return {
        "application/vnd.jupyter.widget-view+json": {
            "version_major": 2,
            "version_minor": 0,
            "model_id": widget.model_id,
        }
    }
