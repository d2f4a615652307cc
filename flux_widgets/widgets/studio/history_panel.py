"""The studio's history panel: the on-disk history behind the gallery.

Every new image is written to the history at once, while the gallery shows it (``keep``), so a
kernel restart loses nothing; a reopened studio shows the history's newest page (``restore``),
read in a worker thread so the studio opens at once. The History section browses everything a
page at a time (``HistoryBrowser``, built when first opened); Clear history asks first, moves
the images to the history's trash, and can be undone. Every change to the history, wherever it
is made (Clear, its undo, a delete, a restore or a star in the browser, new images), refreshes
every view of it: the count line, the gallery and the browser (``_history_changed``).
"""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import traitlets

from ...history.records import HistoryFilter
from ...history.store import History, StoredImage
from ...images import GeneratedImage
from ...wording import plural
from .._compat import close_tree, is_shown, show
from .._html import error_html
from .._tasks import TaskSet
from ..gallery import Gallery
from ..history_browser import HistoryBrowser
from .repeats import FROM_HISTORY, FinishedRecipes
from .state import StudioState


class HistoryPanel(widgets.VBox):  # type: ignore[misc]
    """The History section and the clear / undo row; files and restores the gallery's images."""

    last_clear = traitlets.Unicode(
        None, allow_none=True, help='the trash batch "undo" brings back, or None'
    )
    indexing = traitlets.Bool(False, help="a folder from before the index is being indexed")

    def __init__(
        self,
        state: StudioState,
        gallery: Gallery,
        *,
        directory: str | os.PathLike[str] | None,
        enabled: bool,
        finished: FinishedRecipes,
        reuse: Callable[[GeneratedImage], None],
        update_picture: Callable[[], Awaitable[None]],
    ) -> None:
        self._state = state
        self._gallery = gallery
        self._finished = finished
        self._reuse = reuse
        self._update_picture = update_picture
        # The history's images while the gallery makes their thumbnails (see ``restoring``).
        self.restoring: list[GeneratedImage] = []
        # What the open "delete all" question named (stems, starred count): Clear moves
        # exactly these, so an image finished while the question was open stays.
        self._asked: tuple[list[str], int] | None = None
        # How many images the gallery held before the last Clear: its undo shows as many.
        self._shown_before_clear = 0
        self._background = TaskSet(lambda error: self._show_error(error, prefix="history"))
        # History.add picks a free file name, then writes: one add at a time.
        self._lock = asyncio.Lock()
        # The whole history, browsed a page at a time: built when first opened.
        self.section = widgets.Accordion(children=[widgets.VBox()], selected_index=None)
        self.browser: HistoryBrowser | None = None
        self.clear_button = widgets.Button(description="Clear history", icon="trash")
        self.confirm_button = widgets.Button(description="delete", button_style="danger")
        self.keep_button = widgets.Button(description="keep")
        self.undo_button = widgets.Button(description="undo", icon="undo")
        self.label = widgets.HTML()
        # Rows wrap rather than overflow: no horizontal scrollbar in a narrow cell.
        buttons = [self.clear_button, self.confirm_button, self.keep_button, self.undo_button]
        row = widgets.HBox(
            [*buttons, self.label], layout={"flex_flow": "row wrap", "align_items": "center"}
        )
        super().__init__([self.section, row])
        self.clear_button.on_click(lambda _: self._ask_clear(True))
        self.keep_button.on_click(lambda _: self._ask_clear(False))
        self.confirm_button.on_click(lambda _: self._confirm_clear())
        self.undo_button.on_click(lambda _: self._background.spawn(self.undo_clear()))
        self.section.observe(self._open_section, names="selected_index")
        show(self.undo_button, False)
        # The studio's generations are kept there, and their jobs journaled there, by the
        # client (each call's history=, StudioState.keep_in): keep() only shows them.
        state.history = History(directory) if enabled else None
        state.observe(lambda _: self._render(), names="history_count")
        self.observe(lambda _: self._render(), names="indexing")
        self._ask_clear(False)
        self.section.set_title(0, "History")
        show(self.section, state.history is not None)

    # -- what the studio asks -------------------------------------------------------------

    def restore(self) -> None:
        """Show the history's newest page; only that page's images are read (the index lists
        them), in a worker thread when a loop runs, so the studio opens at once."""
        history = self._state.history
        if history is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # plain Python: no loop to hand the work to
            try:
                images, count = history.recent(self._gallery.page_size), len(history)
            except Exception as error:  # a damaged folder must not stop the studio from opening
                self._show_error(error, prefix="could not read the history")
                return
            self._state.history_count = count
            for image in images:
                self._finished.remember(image.params)
            self._gallery.load_now(images)
        else:
            # A folder from before the index: its records are read once (~0.1 ms each).
            self.indexing = not history.index.path.exists() and history.directory.is_dir()
            self._background.spawn(self._restore_then_recover())

    async def keep(self, images: Sequence[GeneratedImage]) -> list[GeneratedImage]:
        """Show new images and file them in the history (the client kept them there already:
        ``store`` writes only what it could not); returns them as stored (their thumbnails
        cached in the history, so a reopened studio decodes none)."""
        shown = list(images)
        if not shown:
            return shown
        showing = self._gallery.add_soon(shown)  # thumbnails are made while the history writes
        kept = shown
        history = self._state.history
        if history is not None:

            def add_all() -> tuple[list[GeneratedImage], int]:  # one thread call per batch
                return [history.store(image) for image in shown], len(history)

            try:
                async with self._lock:
                    kept, self._state.history_count = await asyncio.to_thread(add_all)
            except OSError as error:
                self._show_error(error, prefix="not saved to the history")
            else:
                # The gallery made its thumbnails from the images in hand; the history's cache
                # gets its own copies off the loop, after the new images are on screen.
                stored = list(kept)
                self._background.spawn(asyncio.to_thread(lambda: [i.thumbnail() for i in stored]))
            if self.browser is not None:
                self._background.spawn(self.browser.reload())
        await showing
        # What generate() returns is what the gallery shows: the stored copies.
        self._gallery.swap(list(zip(shown, kept, strict=True)))
        return kept

    async def serve(self, images: Sequence[GeneratedImage]) -> list[GeneratedImage]:
        """Show images served from the history (an exact repeat) in the gallery, labelled
        "from history": nothing is written and nothing was paid. Returns them."""
        shown = list(images)
        if shown:
            await self._gallery.add(shown, note=FROM_HISTORY)
            await self._update_picture()
        return shown

    def clear(self) -> str | None:
        """Move every image in the history folder to its trash (``undo_clear`` brings them
        back) and empty the gallery; returns the trash batch. Blocks: the button runs it in a
        worker thread."""
        history = self._state.history
        batch = history.clear() if history is not None else None
        self._cleared(batch)
        return batch

    async def undo_clear(self) -> int:
        """Bring back what the last "Clear history" moved to the trash; returns how many."""
        history, batch = self._state.history, self.last_clear
        if history is None or batch is None:
            return 0
        self.last_clear = None
        show(self.undo_button, False)
        self._state.notice = "bringing the images back from the trash…"
        try:
            count = await asyncio.to_thread(history.undo, batch)
        except ValueError:  # restored in the browser's trash view (or emptied) meanwhile
            count = 0
            self._state.notice = "already back, or deleted for good, elsewhere: nothing to undo"
        else:
            self._state.notice = f"{plural(count, 'image')} back in the history"
        # The gallery as it was before the clear: its "show older" counts the same again.
        await self._history_changed(at_least=self._shown_before_clear)
        return count

    async def wait(self) -> None:
        """Wait for the restore, history writes and the browser's page loads."""
        await self._background.wait()
        if self.browser is not None:
            await self.browser.wait()

    def cancel(self) -> None:
        self._background.cancel_all()
        if self.browser is not None:
            self.browser.cancel()  # its page loads and thumbnails

    def close(self) -> None:
        self.cancel()
        close_tree(self)

    # -- internals ------------------------------------------------------------------------

    async def _history_changed(self, *, from_browser: bool = False, at_least: int = 0) -> None:
        """Show the history as it is now everywhere: the count, the gallery (deleted images
        leave it, restored ones come back) and the browser (unless it made the change: it
        has read its page again already); the clear's undo goes if its images came back."""
        history = self._state.history
        if history is None:
            return
        if self.last_clear is not None:
            batches = await asyncio.to_thread(history.trash_batches)
            if self.last_clear not in batches:  # restored in the browser's trash view
                self.last_clear = None
                show(self.undo_button, False)
        await self._show_restored(at_least)
        if self.browser is not None and not from_browser:
            await self.browser.reload()

    async def _show_restored(self, at_least: int = 0) -> None:
        """Show the history's newest images (a page, or ``at_least`` of them) in the gallery
        with the ones made here, and the count."""
        history = self._state.history
        if history is None:
            return
        # Images made here whose entries were deleted since (in the browser) leave the gallery.
        shown = self._gallery.images

        def read() -> tuple[list[StoredImage], int, set[tuple[object, ...]]]:
            gone = {_identity(image) for image in shown if not _still_in(history, image)}
            wanted = max(self._gallery.page_size, at_least)
            return history.recent(wanted), len(history), gone

        try:
            images, count, gone = await asyncio.to_thread(read)
        except Exception as error:  # a damaged folder must not stop the studio from opening
            self._show_error(error, prefix="could not read the history")
            return
        finally:
            self.indexing = False
        self._state.history_count = count
        for image in images:
            self._finished.remember(image.params)
        # Images made while the history was read are in the gallery already: keep them last.
        made_here = [image for image in self._gallery.images if _identity(image) not in gone]
        keys = {_identity(image) for image in made_here}
        restored = [image for image in images if _identity(image) not in keys] + made_here
        shown_now = [_identity(image) for image in self._gallery.images]
        if [_identity(image) for image in restored] != shown_now:  # a star changes nothing here
            # Until the gallery has them, the static picture and summary use them from here.
            self.restoring = restored
            await self._gallery.load(restored)
            self.restoring = []
        self._render()
        await self._update_picture()

    async def _restore_then_recover(self) -> None:
        """Show the history, then recover the jobs a kernel before this one left open (paid
        for, not stored) and say so in the message line."""
        await self._show_restored()
        history, client = self._state.history, self._state.client
        if history is None or client is None:
            return
        if not await asyncio.to_thread(history.jobs.open_jobs):
            return
        self._state.notice = "recovering the jobs a previous kernel left open…"
        report = await history.recover(client)
        self._state.notice = html.escape(str(report))
        if report.images:
            await self._show_restored()

    def _open_section(self, change: dict[str, Any]) -> None:
        history = self._state.history
        if change["new"] is None or history is None:
            return
        if self.browser is not None:  # opened again: what changed meanwhile shows
            self._background.spawn(self.browser.reload())
            return
        self.browser = HistoryBrowser(
            history,
            on_open=self._gallery.open_image,
            on_reuse=self._reuse,
            on_count=self._counted,
            on_change=lambda: self._background.spawn(self._history_changed(from_browser=True)),
        )
        self.section.children = [self.browser]
        self._background.spawn(self.browser.reload())

    def _ask_clear(self, asking: bool) -> None:
        history = self._state.history
        count = self._state.history_count if history is not None else len(self._gallery.images)
        self._asked = None
        if asking and history is not None:
            # Two index queries (~50 ms for 100,000 entries): the question names what it moves.
            stems = history.index.stems()
            starred = history.index.count(HistoryFilter(favourite=True))
            self._asked, count = (stems, starred), len(stems)
        self.confirm_button.description = f"delete {plural(count, 'image')}"
        show(self.confirm_button, asking)
        show(self.keep_button, asking)
        show(self.clear_button, not asking)
        if self._asked is not None and history is not None:
            which = _starred_words(count, self._asked[1])
            self.label.value = (
                f"Delete all {plural(count, 'image')}{which} in "
                f"<code>{html.escape(_home_short(history.directory))}</code>? "
                "They go to its trash; <i>undo</i> brings them back."
            )
        else:
            self._render()

    def _confirm_clear(self) -> None:
        asked = self._asked
        self._ask_clear(False)
        history = self._state.history
        if history is None or asked is None:
            self.clear()
            return
        stems = asked[0]

        async def clear() -> None:
            count = len(stems)
            # ~0.1 ms per image: 100,000 take seconds, in a worker thread.
            self._state.notice = f"moving {plural(count, 'image')} to the history's trash…"
            shown = len(self._gallery.images)
            try:
                batch = await asyncio.to_thread(history.clear, stems)
                left = await asyncio.to_thread(len, history)
            except OSError as error:
                self._show_error(error, prefix="could not clear the history")
                return
            if not left:
                self._cleared(batch, count)
                return
            # Images stored after the question stay: in the history and in the gallery.
            self.last_clear = batch
            self._shown_before_clear = shown
            show(self.undo_button, batch is not None)
            await self._history_changed()
            self._state.notice = (
                f"moved {plural(count, 'image')} to the history's trash; "
                f"{plural(left, 'image')} made since the question stayed"
            )

        self._background.spawn(clear())

    def _counted(self, count: int) -> None:
        # The browser read the index (a delete, an undo, a page): one count everywhere.
        self._state.history_count = count

    def _cleared(self, batch: str | None, moved: int | None = None) -> None:
        moved = self._state.history_count if moved is None else moved
        self.last_clear = batch
        self._shown_before_clear = len(self._gallery.images)
        self._state.history_count = 0
        self._gallery.clear()
        if batch is not None:
            self._state.notice = f"moved {plural(moved, 'image')} to the history's trash"
        show(self.undo_button, batch is not None)
        if self.browser is not None:
            self._background.spawn(self.browser.reload())
        self._render()

    def _render(self) -> None:
        """The history line, the section's title and the Clear button, from the count."""
        history = self._state.history
        if history is not None:
            count = self._state.history_count
            where = f"<code>{html.escape(_home_short(history.directory))}</code>"
            self.label.value = (
                f"<small>indexing the history in {where} (once per folder)…</small>"
                if self.indexing
                else f"<small>{plural(count, 'image')} in the history, {where}</small>"
            )
            self.section.set_title(0, f"History ({plural(count, 'image')})")
        show(self.clear_button, history is not None and not is_shown(self.confirm_button))

    def _show_error(self, error: BaseException, prefix: str = "") -> None:
        self._state.notice = error_html(error, prefix)


def _home_short(path: Path) -> str:
    """``~/...`` for a folder under the home folder: what a person recognises."""
    try:
        return str(Path("~") / path.resolve().relative_to(Path.home().resolve()))
    except (ValueError, RuntimeError):
        return str(path)


def _still_in(history: History, image: GeneratedImage) -> bool:
    """Whether a gallery image is still in the history (one not stored there stays shown)."""
    if not isinstance(image, StoredImage) or image.history is None or not image.stem:
        return True
    return history.record(image.stem) is not None


def _identity(image: GeneratedImage) -> tuple[object, ...]:
    # The same image read back from the history is another object with the same identity.
    return (image.prediction_id, image.index, image.seed, image.created_at)


def _starred_words(count: int, starred: int) -> str:
    """The words after "Delete all 10 images": ", 2 of them starred," (none: nothing)."""
    if not starred:
        return ""
    if starred >= count:
        return ", all starred," if count > 1 else ", starred,"
    return f", {starred:,} of them starred,"
