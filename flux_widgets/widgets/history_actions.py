"""The history browser's delete question and trash view.

``DeleteQuestion`` asks before a delete that is easy to regret: more than one image at once, or
any starred image ("Move 3 images to the trash, 1 of them starred?"). ``TrashView`` lists every
delete still in the trash, newest first, each with its own *restore*, and empties the trash in
two steps (the only permanent deletion). Both only show and ask; the browser does the work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..history.store import TrashBatch
from ._compat import set_tooltip, show

_WRAP = {"flex_flow": "row wrap", "align_items": "center"}
_AUTO = {"width": "auto"}
TRASH_ROWS = 8
"""Deletes listed in the trash view at once (the newest); restoring one shows the next."""


def images(count: int) -> str:
    """ "1 image", "3 images", "1,234 images"."""
    return f"{count:,} image{'' if count == 1 else 's'}"


def needs_asking(count: int, starred: int) -> bool:
    """Whether a delete asks first: more than one image, or any starred one."""
    return count > 1 or starred > 0


def delete_question(count: int, starred: int) -> str:
    """The question a delete asks, naming what it moves: "Move 3 images to the trash, 1 of
    them starred?"; "Move this starred image to the trash?"."""
    if count == 1:
        what = "this starred image" if starred else "this image"
        return f"Move {what} to the trash? <i>undo</i> brings it back."
    which = ""
    if starred:
        which = ", all starred" if starred == count else f", {starred:,} of them starred"
    return f"Move {images(count)} to the trash{which}? <i>undo</i> brings them back."


class DeleteQuestion(widgets.HBox):  # type: ignore[misc]
    """ "Move 3 images to the trash?" with *move to trash* and *keep*; hidden until ``ask``."""

    def __init__(self, on_confirm: Callable[[list[str]], Any]) -> None:
        self.pending: list[str] = []  # the stems the question is about
        self.question = widgets.HTML()
        self.confirm_button = widgets.Button(
            description="move to trash", icon="trash", button_style="warning", layout=_AUTO
        )
        self.keep_button = widgets.Button(description="keep", layout=_AUTO)
        super().__init__([self.question, self.confirm_button, self.keep_button], layout=_WRAP)
        self.add_class("flux-history-question")
        self._on_confirm = on_confirm
        self.confirm_button.on_click(lambda _: self._confirm())
        self.keep_button.on_click(lambda _: self.dismiss())
        self.dismiss()

    def ask(self, stems: list[str], starred: int) -> None:
        self.pending = list(stems)
        self.question.value = delete_question(len(stems), starred)
        self.confirm_button.description = f"move {images(len(stems))} to the trash"
        show(self, True)

    def dismiss(self) -> None:
        self.pending = []
        self.question.value = ""
        show(self, False)

    def _confirm(self) -> None:
        stems = self.pending
        self.dismiss()
        if stems:
            self._on_confirm(stems)


class _TrashRow(widgets.HBox):  # type: ignore[misc]
    """One delete in the trash: when, how many, and *restore*."""

    def __init__(self, on_restore: Callable[[str], Any]) -> None:
        self.batch: TrashBatch | None = None
        self.label = widgets.HTML()
        self.restore_button = widgets.Button(description="restore", icon="undo", layout=_AUTO)
        set_tooltip(self.restore_button, "put these images back in the history")
        super().__init__([self.label, self.restore_button], layout=_WRAP)
        self.restore_button.on_click(
            lambda _: on_restore(self.batch.name) if self.batch is not None else None
        )

    def fill(self, batch: TrashBatch | None) -> None:
        self.batch = batch
        show(self, batch is not None)
        if batch is not None:
            when = batch.deleted_at.astimezone()
            self.label.value = (
                f"<small>deleted {when:%Y-%m-%d %H:%M:%S} · {images(batch.count)}</small>"
            )


class TrashView(widgets.VBox):  # type: ignore[misc]
    """The trash: a *trash (N)* toggle that lists every delete with *restore*, and *empty
    trash*, which asks before deleting for good."""

    def __init__(self, *, on_restore: Callable[[str], Any], on_empty: Callable[[], Any]) -> None:
        self.batches: list[TrashBatch] = []
        self.toggle = widgets.ToggleButton(description="trash", icon="trash-o", layout=_AUTO)
        set_tooltip(self.toggle, "show what is in the trash, each delete with its restore")
        # The trash is emptied only on request, in two steps: the only permanent deletion.
        self.empty_button = widgets.Button(description="empty trash", icon="recycle", layout=_AUTO)
        self.confirm_empty_button = widgets.Button(
            description="delete for good", button_style="danger", layout=_AUTO
        )
        self.keep_button = widgets.Button(description="keep", layout=_AUTO)
        self.rows = [_TrashRow(on_restore) for _ in range(TRASH_ROWS)]
        self.more = widgets.HTML()
        self.list = widgets.VBox([*self.rows, self.more])
        self.list.add_class("flux-history-trash")
        header = widgets.HBox(
            [self.toggle, self.empty_button, self.confirm_empty_button, self.keep_button],
            layout=_WRAP,
        )
        super().__init__([header, self.list])
        self.empty_button.on_click(lambda _: self.ask_empty(True))
        self.keep_button.on_click(lambda _: self.ask_empty(False))

        def empty(_: Any) -> None:
            self.ask_empty(False)
            on_empty()

        self.confirm_empty_button.on_click(empty)
        self.toggle.observe(lambda _: self._render(), names="value")
        self.show_batches([])

    @property
    def count(self) -> int:
        """Images in the trash."""
        return sum(batch.count for batch in self.batches)

    def show_batches(self, batches: list[TrashBatch]) -> None:
        """The trash as the history lists it (``History.trash_list``: newest first)."""
        self.batches = list(batches)
        for n, row in enumerate(self.rows):
            row.fill(self.batches[n] if n < len(self.batches) else None)
        older = len(self.batches) - len(self.rows)
        self.more.value = (
            f"<small>and {older:,} older delete{'' if older == 1 else 's'}: restore one of "
            "these to see them</small>"
            if older > 0
            else ""
        )
        self.ask_empty(False)

    def ask_empty(self, asking: bool) -> None:
        count = self.count
        self.toggle.description = f"trash ({images(count)})"
        self.empty_button.description = f"empty trash ({count:,})"
        self.confirm_empty_button.description = f"delete {images(count)} for good"
        show(self.empty_button, count > 0 and not asking)
        show(self.confirm_empty_button, asking)
        show(self.keep_button, asking)
        self._render()

    def _render(self) -> None:
        show(self.toggle, bool(self.batches))
        show(self.list, bool(self.toggle.value) and bool(self.batches))
