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


def focus(widget: Any) -> None:
    """Give a text field the keyboard focus; the browser scrolls it into view (ipywidgets 8;
    7 has no focus message, so there it does nothing)."""
    if hasattr(widget, "focus"):
        widget.focus()


def show(widget: Any, visible: bool = True) -> None:
    """Show or hide a widget without removing it from its parent (CSS display)."""
    widget.layout.display = None if visible else "none"


def is_shown(widget: Any) -> bool:
    return bool(widget.layout.display != "none")


def close_tree(widget: Any) -> None:
    """Close a widget, its children (recursively), and every layout and style they own.

    ``Widget.close`` closes only the model it is called on: a dropped box would otherwise leave
    its children, layouts and styles alive in the kernel and in the saved widget state.
    Call it only on widgets nothing else displays (a shared child would be closed too).
    """
    for child in getattr(widget, "children", ()):
        close_tree(child)
    for name in ("layout", "style"):
        part = getattr(widget, name, None) if widget.has_trait(name) else None
        if isinstance(part, widgets.Widget):
            part.close()
    widgets.Widget.close(widget)


class StaticFallback:
    """Mixin for widgets that must also show where widgets cannot render (GitHub, nbviewer).

    The bundle holds the live view when a kernel comm exists, plus ``_static_bundle()``: a
    picture and a deterministic line of text, which also keeps nbval's comparisons stable.
    """

    def _static_bundle(self) -> dict[str, Any]:
        return {"text/plain": repr(self)}

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {}
        if getattr(self, "comm", None) is not None:  # the live view, where a front end can
            bundle["application/vnd.jupyter.widget-view+json"] = {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.model_id,  # type: ignore[attr-defined]
            }
        bundle.update(self._static_bundle())
        return bundle

    if IPYWIDGETS_MAJOR < 8:  # ipywidgets 7 (Colab) displays through _ipython_display_

        def _ipython_display_(self, **kwargs: Any) -> None:
            from IPython.display import display

            display(self._repr_mimebundle_(), raw=True)  # type: ignore[no-untyped-call]
            handle = getattr(self, "_handle_displayed", None)
            if handle is not None:
                handle(**kwargs)
