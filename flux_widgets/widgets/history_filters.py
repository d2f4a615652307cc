"""The history browser's filter bar and paging row: what to look for, and where in it.

``HistoryFilters`` holds the search box, the starred toggle, the aspect ratio and the dates,
and reads them as a ``HistoryFilter``; ``PagingRow`` holds the page buttons, the page label and
*refresh* (for a history changed by another notebook or process). The browser wires them.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from ..history.store import HistoryFilter
from ..params import ASPECT_RATIOS
from ._compat import set_tooltip

ANY_RATIO = "any aspect ratio"
_WRAP = {"flex_flow": "row wrap", "align_items": "center"}
_ROW = {"flex_flow": "row nowrap", "align_items": "center", "width": "100%"}
_SEARCH = {"width": "auto", "flex": "1 1 160px", "min_width": "100px"}  # the one giving way
_FIXED = {"width": "auto", "flex": "0 0 auto"}
_RATIO = {"width": "140px", "flex": "0 0 auto"}
_DATE = {"width": "auto", "flex": "0 1 auto", "min_width": "0"}
# Labels as wide as their word: the default 80 px label pushed "from" and "to" apart.
_SHORT_LABEL = {"description_width": "initial"}


class HistoryFilters(widgets.VBox):  # type: ignore[misc]
    """The filter bar: two rows by design, each on one line from a 700 px page up: what to
    look for, then when. Five controls on one wrapping row broke at random places (850 px:
    the dates fell to a line of their own, "from" indented by its label's 80 px)."""

    def __init__(self, **kwargs: Any) -> None:
        self.search = widgets.Text(
            placeholder="search prompts", continuous_update=False, layout=_SEARCH
        )
        self.favourites = widgets.ToggleButton(description="starred", icon="star", layout=_FIXED)
        set_tooltip(self.favourites, "show starred images only")
        ratios = [ANY_RATIO, *ASPECT_RATIOS]
        self.aspect_ratio = widgets.Dropdown(options=ratios, value=ANY_RATIO, layout=_RATIO)
        self.since = widgets.DatePicker(description="from", style=_SHORT_LABEL, layout=_DATE)
        self.until = widgets.DatePicker(description="to", style=_SHORT_LABEL, layout=_DATE)
        look, when = [self.search, self.favourites, self.aspect_ratio], [self.since, self.until]
        rows = [widgets.HBox(look, layout=_ROW), widgets.HBox(when, layout=_ROW)]
        super().__init__(rows, _dom_classes=("flux-history-filters",), **kwargs)

    @property
    def controls(self) -> tuple[widgets.Widget, ...]:
        """Every control whose change shows the first page again."""
        return (self.search, self.favourites, self.aspect_ratio, self.since, self.until)

    @property
    def value(self) -> HistoryFilter:
        """The filters as the controls show them."""
        ratio = self.aspect_ratio.value
        return HistoryFilter(
            text=str(self.search.value),
            favourite=bool(self.favourites.value),
            aspect_ratio=None if ratio == ANY_RATIO else str(ratio),
            since=self.since.value,
            until=self.until.value,
        )


class PagingRow(widgets.HBox):  # type: ignore[misc]
    """Newest, newer, "page 2 of 9", older, oldest, and refresh."""

    def __init__(self, **kwargs: Any) -> None:
        self.newest_button = widgets.Button(icon="angle-double-left", layout={"width": "40px"})
        set_tooltip(self.newest_button, "newest page")
        self.newer_button = widgets.Button(description="newer", icon="angle-left")
        self.page_label = widgets.HTML()
        self.older_button = widgets.Button(description="older", icon="angle-right")
        self.oldest_button = widgets.Button(icon="angle-double-right", layout={"width": "40px"})
        set_tooltip(self.oldest_button, "oldest page")
        self.refresh_button = widgets.Button(description="refresh", icon="refresh", layout=_FIXED)
        set_tooltip(self.refresh_button, "read the history again (changed by another notebook)")
        buttons = [self.newest_button, self.newer_button, self.page_label, self.older_button]
        buttons += [self.oldest_button, self.refresh_button]
        super().__init__(buttons, layout=_WRAP, **kwargs)

    def show(self, page: int, pages: int) -> None:
        """ "page 2 of 9" (``page`` counts from 0), and which ways are open."""
        self.page_label.value = f"page {page + 1:,} of {pages:,}"
        self.newer_button.disabled = self.newest_button.disabled = page == 0
        self.older_button.disabled = self.oldest_button.disabled = page >= pages - 1
