"""The inline HTML every widget writes the same way: an error, in red, named by its type."""

from __future__ import annotations

import html

ERROR_COLOR = "#b00020"


def error_html(error: BaseException, prefix: str = "") -> str:
    """``<span>`` with ``TypeName: [prefix: ]message``, escaped (messages quote user input)."""
    text = f"{prefix}: {error}" if prefix else str(error)
    return f"<span style='color:{ERROR_COLOR}'>{type(error).__name__}: {html.escape(text)}</span>"
