"""HistoryBrowser: every image in the history, newest first, a page at a time.

Search the prompts, filter by star, aspect ratio and date; star / unstar; delete one or a
selection to the trash (asking first for more than one image or a starred one) and undo it,
or restore any earlier delete from the trash view (history_actions.py); open an image or
reuse its parameters. Only a page of light records is in the kernel at a time (the history's
SQLite index answers), and only that page's thumbnails (cached in the index, made in worker
threads when missing) go to the browser; an image's bytes are read when it is opened or
reused. The cards are made once and refilled page after page, so turning pages creates no
widgets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets

from ..history.store import THUMBNAIL_SIZE, History, HistoryFilter, HistoryRecord, TrashBatch
from ..images import GeneratedImage
from ..wording import plural
from ._compat import set_tooltip, show
from ._html import error_html
from ._tasks import TaskSet
from .history_actions import DeleteQuestion, TrashView, needs_asking
from .history_card import HistoryCard, HistoryPreview
from .history_filters import HistoryFilters, PagingRow
from .history_sharing import HistorySharing

ImageCallback = Callable[[GeneratedImage], None]
_WRAP = {"flex_flow": "row wrap", "align_items": "center"}


class HistoryBrowser(widgets.VBox):  # type: ignore[misc]
    """Browse a ``History``: search, filters, a page of cards, paging, trash with undo.

    ``on_open``/``on_reuse`` receive the entry's ``GeneratedImage`` (bytes read then); without
    ``on_open``, the browser shows the image itself under the cards. Call ``await
    browser.reload()`` after adding images elsewhere (or click *refresh*); ``on_change`` is
    called after every change the browser makes (delete, undo, restore, star, empty trash), so
    other views of the history can follow; ``await browser.wait()`` in tests.
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
        on_change: Callable[[], Any] | None = None,
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
        self.on_change = on_change
        self._on_open = on_open
        self._on_reuse = on_reuse
        self._tasks = TaskSet(self._report)
        self._generation = 0  # which load is current; older ones drop their results
        filters = HistoryFilters()
        self.filters = filters
        self.search, self.favourites = filters.search, filters.favourites
        self.aspect_ratio, self.since, self.until = filters.controls[2:]
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
        self.paging = paging = PagingRow()
        self.newest_button, self.newer_button = paging.newest_button, paging.newer_button
        self.older_button, self.oldest_button = paging.older_button, paging.oldest_button
        self.page_label, self.refresh_button = paging.page_label, paging.refresh_button
        actions = self._make_actions()
        # Where an entry opens without ``on_open``: under the cards.
        self.preview_box = HistoryPreview()
        self.preview, self.preview_close = self.preview_box.image, self.preview_box.close_button
        self.sharing = HistorySharing(self)  # export and import: history_sharing.py
        rows = [filters, self.status, self.grid, paging, actions, self.sharing, self.preview_box]
        super().__init__(rows, **kwargs)
        self.add_class("flux-history")
        self._wire()
        self._update_controls()

    def _make_actions(self) -> widgets.VBox:
        auto = {"width": "auto"}  # sized to the label: "delete selected (1,234)" is not clipped
        self.select_page_button = widgets.Button(
            description="select page", icon="check-square-o", layout=auto
        )
        self.delete_button = widgets.Button(
            description="delete selected", icon="trash", layout=auto
        )
        set_tooltip(self.delete_button, "move the selected images to the trash")
        self.undo_button = widgets.Button(description="undo", icon="undo", layout={"width": "auto"})
        self.message = widgets.HTML()
        # Asked under the buttons, where the click was: "Move 3 images to the trash?".
        self.question = DeleteQuestion(lambda stems: self._tasks.spawn(self._delete(stems)))
        self.trash_view = TrashView(
            on_restore=lambda batch: self._tasks.spawn(self.restore(batch)),
            on_empty=lambda: self._tasks.spawn(self.empty_trash()),
        )
        view = self.trash_view
        self.empty_trash_button, self.confirm_empty_button = (
            view.empty_button,
            view.confirm_empty_button,
        )
        self.keep_trash_button = view.keep_button
        # One row of buttons (another action, e.g. an export, goes in it), then what they say.
        buttons = [self.select_page_button, self.delete_button, self.undo_button, self.message]
        self.action_buttons = widgets.HBox(buttons, layout=_WRAP)
        return widgets.VBox([self.action_buttons, self.question, view])

    def _wire(self) -> None:
        show(self.undo_button, False)
        for control in self.filters.controls:
            control.observe(lambda _: self._go(0), names="value")
        self.newest_button.on_click(lambda _: self._go(0))
        self.newer_button.on_click(lambda _: self._go(self.page_number - 1))
        self.older_button.on_click(lambda _: self._go(self.page_number + 1))
        self.oldest_button.on_click(lambda _: self._go(self.pages - 1))
        self.select_page_button.on_click(lambda _: self.select_page())
        self.refresh_button.on_click(lambda _: self._tasks.spawn(self.reload()))
        self.delete_button.on_click(
            lambda _: self._tasks.spawn(self.ask_delete(sorted(self.selected)))
        )
        self.undo_button.on_click(lambda _: self._tasks.spawn(self.undo()))
        for card in self.cards:
            self._wire_card(card)

    # -- state ------------------------------------------------------------------------------

    @property
    def filter(self) -> HistoryFilter:
        """The filters as the controls show them."""
        return self.filters.value

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

        def query() -> tuple[
            int, int, list[HistoryRecord], dict[str, bytes], list[TrashBatch], int
        ]:
            total = history.count(where)
            page = min(max(0, number), max(0, -(-total // size) - 1))
            records = history.page(page * size, size, where)
            cached = history.cached_thumbnails(records, self.thumbnail_size)
            everything = total if where == HistoryFilter() else history.count()
            return total, page, records, cached, history.trash_list(), everything

        total, page, records, cached, trash, everything = await asyncio.to_thread(query)
        if generation != self._generation:
            return  # another page was asked for meanwhile
        self.total, self.page_number = total, page
        self.trash_view.show_batches(trash)
        self.trash_count = self.trash_view.count
        if self.last_batch not in {batch.name for batch in trash}:
            self._forget_undo()  # restored from the trash view, or emptied, meanwhile
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
        """Move the selected entries to the trash without asking (from code); returns how
        many. The *delete selected* button asks first (``ask_delete``)."""
        return await self._delete(sorted(self.selected))

    async def ask_delete(self, stems: list[str]) -> int:
        """What a delete click does: move ``stems`` to the trash at once when it is one
        unstarred image, else ask first, naming the count ("Move 3 images to the trash, 1 of
        them starred?"); returns how many moved now (0 while asking)."""
        if not stems:
            return 0
        history = self.history

        def starred() -> int:
            records = (history.record(stem) for stem in stems)
            return sum(1 for record in records if record is not None and record.favourite)

        count = await asyncio.to_thread(starred)
        if needs_asking(len(stems), count):
            self.question.ask(stems, count)
            return 0
        return await self._delete(stems)

    async def undo(self) -> int:
        """Bring back what the last delete moved to the trash; returns how many."""
        if self.last_batch is None:
            return 0
        return await self.restore(self.last_batch)

    async def restore(self, batch: str) -> int:
        """Bring back one delete from the trash (a row of the trash view); returns how many."""
        if batch == self.last_batch:
            self._forget_undo()
        try:
            count = await asyncio.to_thread(self.history.undo, batch)
        except ValueError:  # another view (Clear's undo, another notebook) was first
            self.message.value = "already back, or deleted for good, elsewhere: nothing to restore"
            await self.reload()
            return 0
        self.message.value = f"{plural(count, 'image')} back from the trash"
        await self.changed()
        return count

    async def empty_trash(self) -> int:
        """Delete the trash for good (what "delete for good" does); returns how many."""
        self.trash_view.ask_empty(False)
        count = await asyncio.to_thread(self.history.empty_trash)
        self._forget_undo()
        self.message.value = f"{plural(count, 'image')} deleted for good"
        await self.changed()
        return count

    def select_page(self) -> None:
        """Select every entry on the page (or unselect them if all already are)."""
        stems = {record.stem for record in self.records}
        if stems <= self.selected:
            self.selected -= stems
        else:
            self.selected |= stems
        for card in self.cards:
            if card.record is not None:
                card.show_selected(card.record.stem in self.selected)
        self._update_controls()

    async def star(self, record: HistoryRecord, favourite: bool) -> None:
        """Star or unstar an entry (written into its record)."""
        await asyncio.to_thread(self.history.star, record.stem, favourite)
        if self.favourites.value and not favourite:
            await self.reload()  # it leaves the starred-only view
        else:
            for card in self.cards:
                if card.record is not None and card.record.stem == record.stem:
                    card.record = dataclasses.replace(card.record, favourite=favourite)
                    card.show_star(favourite)
        if self.on_change is not None:
            self.on_change()

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
        def on_select(record: HistoryRecord, selected: bool) -> None:
            if selected:
                self.selected.add(record.stem)
            else:
                self.selected.discard(record.stem)
            self._update_controls()

        def spawn(action: Callable[[HistoryRecord], Any]) -> Callable[[HistoryRecord], None]:
            return lambda record: self._tasks.spawn(action(record))

        card.connect(
            on_select,
            star=spawn(lambda record: self.star(record, not record.favourite)),
            open_=spawn(self.open_record),
            reuse=spawn(self.reuse_record),
            delete=spawn(lambda record: self.ask_delete([record.stem])),
        )

    async def _delete(self, stems: list[str]) -> int:
        if not stems:
            return 0
        self.question.dismiss()
        batch = await asyncio.to_thread(self.history.delete, stems)
        self.selected -= set(stems)
        count = len(stems) if batch is not None else 0
        self.last_batch = batch
        self.message.value = f"moved {plural(count, 'image')} to the trash"
        show(self.undo_button, batch is not None)
        await self.changed()
        return count

    async def changed(self) -> None:
        """After a change made here (a delete, a restore, an import): this page again, then
        every other view of the history (``on_change``)."""
        await self.reload()
        if self.on_change is not None:
            self.on_change()

    def _forget_undo(self) -> None:
        self.last_batch = None
        show(self.undo_button, False)

    def _fill(self, records: list[HistoryRecord], cached: dict[str, bytes]) -> None:
        with self.hold_sync():
            for n, card in enumerate(self.cards):
                record = records[n] if n < len(records) else None
                card.fill(record, record is not None and record.stem in self.selected)
                if record is not None and record.stem in cached:
                    card.thumbnail.value = cached[record.stem]
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
            shown += " matches" if self.total == 1 else " match"
        self.status.value = (
            f"<small>{shown} · newest first · "
            f"<code>{html.escape(str(self.history.directory))}</code></small>"
        )
        self.paging.show(self.page_number, self.pages)
        count = len(self.selected)
        self.delete_button.description = f"delete selected ({count:,})"
        self.delete_button.disabled = count == 0

    def __repr__(self) -> str:
        # Cheap and small (never the thumbnails' bytes): what a notebook's text output shows.
        return (
            f"HistoryBrowser({str(self.history.directory)!r}: {plural(self.total, 'image')}, "
            f"page {self.page_number + 1:,} of {self.pages:,})"
        )

    def _report(self, error: BaseException) -> None:
        self.message.value = error_html(error)
