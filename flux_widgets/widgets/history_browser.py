"""HistoryBrowser: every image in the history, newest first, a page at a time.

Search the prompts, filter by star, aspect ratio and date; star / unstar; delete one or a
selection to the trash and undo it; open an image or reuse its parameters. Only a page of
light records is in the kernel at a time (the history's SQLite index answers), and only that
page's thumbnails (cached in the index, made in worker threads when missing) go to the
browser; an image's bytes are read when it is opened or reused. The cards are made once and
refilled page after page, so turning pages creates no widgets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets

from ..history.store import THUMBNAIL_SIZE, History, HistoryFilter, HistoryRecord
from ..images import GeneratedImage
from ..params import ASPECT_RATIOS
from ..wording import plural
from ._compat import set_tooltip, show
from ._html import error_html
from ._tasks import TaskSet
from .history_card import HistoryCard, HistoryPreview

ImageCallback = Callable[[GeneratedImage], None]
ANY_RATIO = "any aspect ratio"
_WRAP = {"flex_flow": "row wrap", "align_items": "center"}
_ROW = {"flex_flow": "row nowrap", "align_items": "center", "width": "100%"}
_SEARCH = {"width": "auto", "flex": "1 1 160px", "min_width": "100px"}  # the one giving way
_FIXED = {"width": "auto", "flex": "0 0 auto"}
_RATIO = {"width": "140px", "flex": "0 0 auto"}
_DATE = {"width": "auto", "flex": "0 1 auto", "min_width": "0"}
# Labels as wide as their word: the default 80 px label pushed "from" and "to" apart.
_SHORT_LABEL = {"description_width": "initial"}


def _filter_rows(look: list[widgets.Widget], when: list[widgets.Widget]) -> widgets.VBox:
    """The filter bar: two rows by design, each on one line from a 700 px page up: what to
    look for, then when. Five controls on one wrapping row broke at random places (850 px:
    the dates fell to a line of their own, "from" indented by its label's 80 px)."""
    rows = [widgets.HBox(look, layout=_ROW), widgets.HBox(when, layout=_ROW)]
    return widgets.VBox(rows, _dom_classes=("flux-history-filters",))


class HistoryBrowser(widgets.VBox):  # type: ignore[misc]
    """Browse a ``History``: search, filters, a page of cards, paging, trash with undo.

    ``on_open``/``on_reuse`` receive the entry's ``GeneratedImage`` (bytes read then); without
    ``on_open``, the browser shows the image itself under the cards. Call ``await
    browser.reload()`` after adding images elsewhere; ``await browser.wait()`` in tests.
    """

    history = traitlets.Instance(History, help="the history browsed")
    page_size = traitlets.Int(12, help="cards on a page (at least 1)")
    thumbnail_size = traitlets.Int(THUMBNAIL_SIZE, help="a card's thumbnail, px a side at most")
    page_number = traitlets.Int(0, help="the page shown: 0 = the newest")
    total = traitlets.Int(0, help="entries matching the filters")
    history_total = traitlets.Int(0, help="every entry in the history, filters or not")
    trash_count = traitlets.Int(0, help="entries in the history's trash")
    selected = traitlets.Set(help="stems of the selected entries, kept across pages")
    last_batch = traitlets.Unicode(
        None, allow_none=True, help='the trash batch "undo" restores, or None'
    )

    def __init__(
        self,
        history: History,
        *,
        page_size: int = 12,
        thumbnail_size: int = THUMBNAIL_SIZE,
        on_open: ImageCallback | None = None,
        on_reuse: ImageCallback | None = None,
        on_count: Callable[[int], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        self.history = history
        self.page_size = page_size
        self.thumbnail_size = thumbnail_size
        # Told the whole history's size each time a page is read (after a delete, an undo,
        # emptying the trash), so counts shown elsewhere (the studio's) never go stale.
        self.on_count = on_count
        self._on_open = on_open
        self._on_reuse = on_reuse
        self._tasks = TaskSet(self._report)
        self._filling = False  # True while cards are refilled: not a user's click
        self._generation = 0  # which load is current; older ones drop their results
        filters = self._make_filters()
        self.status = widgets.HTML()
        self.cards = [HistoryCard(thumbnail_size) for _ in range(page_size)]
        column = min(thumbnail_size, 210)
        self.grid = widgets.GridBox(
            self.cards,
            layout={
                # As many columns as fit: 4 in a wide notebook, 3 in a 900 px cell.
                "grid_template_columns": f"repeat(auto-fill, minmax({column}px, 1fr))",
                "grid_gap": "6px",
            },
        )
        paging = self._make_paging()
        actions = self._make_actions()
        # Where an entry opens without ``on_open``: under the cards.
        self.preview_box = HistoryPreview()
        self.preview, self.preview_close = self.preview_box.image, self.preview_box.close_button
        super().__init__(
            [filters, self.status, self.grid, paging, actions, self.preview_box], **kwargs
        )
        self.add_class("flux-history")
        self._wire()
        self._update_controls()

    def _make_filters(self) -> widgets.VBox:
        self.search = widgets.Text(
            placeholder="search prompts", continuous_update=False, layout=_SEARCH
        )
        self.favourites = widgets.ToggleButton(description="starred", icon="star", layout=_FIXED)
        set_tooltip(self.favourites, "show starred images only")
        ratios = [ANY_RATIO, *ASPECT_RATIOS]
        self.aspect_ratio = widgets.Dropdown(options=ratios, value=ANY_RATIO, layout=_RATIO)
        self.since = widgets.DatePicker(description="from", style=_SHORT_LABEL, layout=_DATE)
        self.until = widgets.DatePicker(description="to", style=_SHORT_LABEL, layout=_DATE)
        return _filter_rows(
            [self.search, self.favourites, self.aspect_ratio], [self.since, self.until]
        )

    def _make_paging(self) -> widgets.HBox:
        self.newest_button = widgets.Button(icon="angle-double-left", layout={"width": "40px"})
        set_tooltip(self.newest_button, "newest page")
        self.newer_button = widgets.Button(description="newer", icon="angle-left")
        self.page_label = widgets.HTML()
        self.older_button = widgets.Button(description="older", icon="angle-right")
        self.oldest_button = widgets.Button(icon="angle-double-right", layout={"width": "40px"})
        set_tooltip(self.oldest_button, "oldest page")
        return widgets.HBox(
            [
                self.newest_button,
                self.newer_button,
                self.page_label,
                self.older_button,
                self.oldest_button,
            ],
            layout=_WRAP,
        )

    def _make_actions(self) -> widgets.HBox:
        auto = {"width": "auto"}  # sized to the label: "delete selected (1,234)" is not clipped
        self.select_page_button = widgets.Button(
            description="select page", icon="check-square-o", layout=auto
        )
        self.delete_button = widgets.Button(
            description="delete selected", icon="trash", layout=auto
        )
        set_tooltip(self.delete_button, "move the selected images to the trash")
        self.undo_button = widgets.Button(description="undo", icon="undo", layout={"width": "auto"})
        # The trash is emptied only on request, in two steps: the only permanent deletion.
        self.empty_trash_button = widgets.Button(
            description="empty trash", icon="recycle", layout={"width": "auto"}
        )
        self.confirm_empty_button = widgets.Button(
            description="delete for good", button_style="danger", layout={"width": "auto"}
        )
        self.keep_trash_button = widgets.Button(description="keep", layout={"width": "auto"})
        self.message = widgets.HTML()
        return widgets.HBox(
            [
                self.select_page_button,
                self.delete_button,
                self.undo_button,
                self.empty_trash_button,
                self.confirm_empty_button,
                self.keep_trash_button,
                self.message,
            ],
            layout=_WRAP,
        )

    def _wire(self) -> None:
        show(self.undo_button, False)
        for control in (self.search, self.favourites, self.aspect_ratio, self.since, self.until):
            control.observe(lambda _: self._go(0), names="value")
        self.newest_button.on_click(lambda _: self._go(0))
        self.newer_button.on_click(lambda _: self._go(self.page_number - 1))
        self.older_button.on_click(lambda _: self._go(self.page_number + 1))
        self.oldest_button.on_click(lambda _: self._go(self.pages - 1))
        self.select_page_button.on_click(lambda _: self.select_page())
        self.delete_button.on_click(lambda _: self._tasks.spawn(self.delete_selected()))
        self.undo_button.on_click(lambda _: self._tasks.spawn(self.undo()))
        self.empty_trash_button.on_click(lambda _: self._ask_empty(True))
        self.keep_trash_button.on_click(lambda _: self._ask_empty(False))
        self.confirm_empty_button.on_click(lambda _: self._tasks.spawn(self.empty_trash()))
        self._ask_empty(False)
        for card in self.cards:
            self._wire_card(card)

    # -- state ------------------------------------------------------------------------------

    @property
    def filter(self) -> HistoryFilter:
        """The filters as the controls show them."""
        ratio = self.aspect_ratio.value
        return HistoryFilter(
            text=str(self.search.value),
            favourite=bool(self.favourites.value),
            aspect_ratio=None if ratio == ANY_RATIO else str(ratio),
            since=self.since.value,
            until=self.until.value,
        )

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def records(self) -> list[HistoryRecord]:
        """The records on the page shown, newest first."""
        return [card.record for card in self.cards if card.record is not None]

    # -- actions (what the buttons do; awaitable from code) ---------------------------------

    async def reload(self) -> None:
        """Show the current page again from the index (after changes made elsewhere)."""
        await self.show_page(self.page_number)

    async def show_page(self, number: int) -> None:
        """Show page ``number`` (0 = newest; clamped) of the entries matching the filters."""
        self._generation += 1
        generation = self._generation
        where, size = self.filter, self.page_size
        history = self.history

        def query() -> tuple[int, int, list[HistoryRecord], dict[str, bytes], int, int]:
            total = history.count(where)
            page = min(max(0, number), max(0, -(-total // size) - 1))
            records = history.page(page * size, size, where)
            cached = history.cached_thumbnails(records, self.thumbnail_size)
            everything = total if where == HistoryFilter() else history.count()
            return total, page, records, cached, history.trash_count(), everything

        total, page, records, cached, trash, everything = await asyncio.to_thread(query)
        if generation != self._generation:
            return  # another page was asked for meanwhile
        self.total, self.page_number, self.trash_count = total, page, trash
        self.history_total = everything
        if self.on_count is not None:
            self.on_count(everything)
        self._fill(records, cached)
        missing = [record for record in records if record.stem not in cached]
        made = await asyncio.gather(
            *(self._make_thumbnail(record, generation) for record in missing)
        )
        if made:  # one write for the page, not one per thumbnail
            await asyncio.to_thread(
                history.cache_thumbnails,
                {record.stem: data for record, data in zip(missing, made, strict=True)},
                self.thumbnail_size,
            )

    async def delete_selected(self) -> int:
        """Move the selected entries to the trash; returns how many."""
        return await self._delete(sorted(self.selected))

    async def undo(self) -> int:
        """Bring back what the last delete moved to the trash; returns how many."""
        if self.last_batch is None:
            return 0
        batch, self.last_batch = self.last_batch, None
        count = await asyncio.to_thread(self.history.undo, batch)
        self.message.value = f"{plural(count, 'image')} back from the trash"
        show(self.undo_button, False)
        await self.reload()
        return count

    async def empty_trash(self) -> int:
        """Delete the trash for good (what "delete for good" does); returns how many."""
        self._ask_empty(False)
        count = await asyncio.to_thread(self.history.empty_trash)
        self.last_batch = None
        show(self.undo_button, False)
        self.message.value = f"{plural(count, 'image')} deleted for good"
        await self.reload()
        return count

    def _ask_empty(self, asking: bool) -> None:
        count = self.trash_count
        self.empty_trash_button.description = f"empty trash ({count:,})"
        self.confirm_empty_button.description = f"delete {plural(count, 'image')} for good"
        show(self.empty_trash_button, count > 0 and not asking)
        show(self.confirm_empty_button, asking)
        show(self.keep_trash_button, asking)

    def select_page(self) -> None:
        """Select every entry on the page (or unselect them if all already are)."""
        stems = {record.stem for record in self.records}
        if stems <= self.selected:
            self.selected -= stems
        else:
            self.selected |= stems
        self._filling = True
        try:
            for card in self.cards:
                if card.record is not None:
                    card.select.value = card.record.stem in self.selected
        finally:
            self._filling = False
        self._update_controls()

    async def star(self, record: HistoryRecord, favourite: bool) -> None:
        """Star or unstar an entry (written into its record)."""
        await asyncio.to_thread(self.history.star, record.stem, favourite)
        if self.favourites.value and not favourite:
            await self.reload()  # it leaves the starred-only view
            return
        for card in self.cards:
            if card.record is not None and card.record.stem == record.stem:
                card.record = dataclasses.replace(card.record, favourite=favourite)
                card.show_star(favourite)

    async def open_record(self, record: HistoryRecord) -> GeneratedImage:
        """Read the entry's image and open it (``on_open``, else the preview here)."""
        image = await asyncio.to_thread(self.history.open, record)
        if self._on_open is not None:
            self._on_open(image)
        else:
            self.preview_box.show_image(image, record.prompt)
        return image

    async def reuse_record(self, record: HistoryRecord) -> GeneratedImage:
        """Read the entry's image and hand it to ``on_reuse`` (the studio's controls)."""
        image = await asyncio.to_thread(self.history.open, record)
        if self._on_reuse is not None:
            self._on_reuse(image)
            self.message.value = f"parameters of seed {image.seed} put back into the controls"
        return image

    async def wait(self) -> None:
        """Wait for pending page loads, thumbnails and actions."""
        await self._tasks.wait()

    def cancel(self) -> None:
        """Stop pending page loads and thumbnails (when the browser is closed)."""
        self._generation += 1  # results still in worker threads are dropped
        self._tasks.cancel_all()

    # -- internals --------------------------------------------------------------------------

    def _go(self, number: int) -> None:
        self._tasks.spawn(self.show_page(number))

    def _wire_card(self, card: HistoryCard) -> None:
        def on_select(change: dict[str, Any]) -> None:
            if self._filling or card.record is None:
                return
            if change["new"]:
                self.selected.add(card.record.stem)
            else:
                self.selected.discard(card.record.stem)
            self._update_controls()

        def on_star(_: Any) -> None:
            if card.record is not None:
                self._tasks.spawn(self.star(card.record, not card.record.favourite))

        def act(action: Callable[[HistoryRecord], Any]) -> Callable[[Any], None]:
            def click(_: Any) -> None:
                if card.record is not None:
                    self._tasks.spawn(action(card.record))

            return click

        card.select.observe(on_select, names="value")
        card.star.on_click(on_star)
        card.open_button.on_click(act(self.open_record))
        card.reuse_button.on_click(act(self.reuse_record))
        card.delete_button.on_click(act(lambda record: self._delete([record.stem])))

    async def _delete(self, stems: list[str]) -> int:
        if not stems:
            return 0
        batch = await asyncio.to_thread(self.history.delete, stems)
        self.selected -= set(stems)
        count = len(stems) if batch is not None else 0
        self.last_batch = batch
        self.message.value = f"moved {plural(count, 'image')} to the trash"
        show(self.undo_button, batch is not None)
        await self.reload()
        return count

    def _fill(self, records: list[HistoryRecord], cached: dict[str, bytes]) -> None:
        self._filling = True
        try:
            with self.hold_sync():
                for n, card in enumerate(self.cards):
                    record = records[n] if n < len(records) else None
                    card.fill(record, record is not None and record.stem in self.selected)
                    if record is not None and record.stem in cached:
                        card.thumbnail.value = cached[record.stem]
        finally:
            self._filling = False
        self._update_controls()

    async def _make_thumbnail(self, record: HistoryRecord, generation: int) -> bytes:
        """Made in a worker thread and shown as soon as it is ready."""
        data = await asyncio.to_thread(
            self.history.thumbnail, record, self.thumbnail_size, cache=False
        )
        if generation == self._generation:
            for card in self.cards:
                if card.record is record:
                    card.thumbnail.value = data
        return data

    def _update_controls(self) -> None:
        shown = plural(self.total, "image")
        if self.filter != HistoryFilter():
            shown += " match"
        self.status.value = (
            f"<small>{shown} · newest first · "
            f"<code>{html.escape(str(self.history.directory))}</code></small>"
        )
        self.page_label.value = f"page {self.page_number + 1:,} of {self.pages:,}"
        self.newer_button.disabled = self.newest_button.disabled = self.page_number == 0
        last = self.page_number >= self.pages - 1
        self.older_button.disabled = self.oldest_button.disabled = last
        count = len(self.selected)
        self.delete_button.description = f"delete selected ({count:,})"
        self.delete_button.disabled = count == 0
        self._ask_empty(False)

    def __repr__(self) -> str:
        # Cheap and small (never the thumbnails' bytes): what a notebook's text output shows.
        return (
            f"HistoryBrowser({str(self.history.directory)!r}: {plural(self.total, 'image')}, "
            f"page {self.page_number + 1:,} of {self.pages:,})"
        )

    def _report(self, error: BaseException) -> None:
        self.message.value = error_html(error)
