"""The studio's prompt-exploration row: style picker, count and cost, confirm, batch, usage.

Each piece is a small widget the studio lays out and drives; none builds HTTP requests:

- ``StylePicker``: a dropdown of styles (shipped and saved) and a "save style" box that saves the
  current prompt as a new style (the prompt must hold ``{prompt}``).
- ``EstimateLine``: "12 generations · 24 images · about $0.0720 on replicate", or the template's
  error, before anything is sent.
- ``ConfirmRow``: "Send 40 generations (about $0.12)?" with send / cancel, shown above a
  threshold; the studio never sends a big batch on one click.
- ``BatchRow``: one row for a whole batch (never one widget per item): a progress bar, done /
  failed / running counts, and Cancel.
- ``UsageView``: the usage report (``client.usage``) as a table, with a refresh button.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..prompts.progress import BatchProgress
from ..prompts.styles import PROMPT_SLOT, SHIPPED_STYLES, Style, StyleError, StyleLibrary
from ..spending.usage import UsageReport
from ..wording import error_text
from ._compat import set_tooltip, show
from ._html import ERROR_COLOR, error_html, warning_html
from ._tasks import on_home_loop

NO_STYLE = "(no style)"


class StylePicker(widgets.VBox):  # type: ignore[misc]
    """A style dropdown (``value`` is the style's name, or None) and a save-style box."""

    def __init__(self, library: StyleLibrary, **kwargs: Any) -> None:
        self.library = library
        self.dropdown = widgets.Dropdown(
            description="Style", style={"description_width": "initial"}
        )
        set_tooltip(self.dropdown, "a style wraps your prompt in its template and sets parameters")
        self.detail = widgets.HTML()
        self.name_box = widgets.Text(placeholder="style name", layout={"width": "180px"})
        self.save_button = widgets.Button(description="save as style", icon="save")
        set_tooltip(
            self.save_button,
            f"save the prompt as a style: write {PROMPT_SLOT} where a prompt should go",
        )
        self.message = widgets.HTML()
        super().__init__(
            [
                widgets.HBox([self.dropdown, self.detail]),
                widgets.HBox([self.name_box, self.save_button, self.message]),
            ],
            **kwargs,
        )
        self.add_class("flux-styles")
        self.dropdown.observe(lambda _: self._show_detail(), names="value")
        self._replacing: str | None = None  # a taken name the next save may replace (asked)
        self.reload()

    @property
    def value(self) -> str | None:
        name = self.dropdown.value
        return None if name in (None, NO_STYLE) else str(name)

    @value.setter
    def value(self, name: str | None) -> None:
        if name is not None and name not in self.dropdown.options:
            self.reload()
        if name is not None and name not in self.dropdown.options:
            raise StyleError(f"no style named {name!r}; known styles: {', '.join(self.names())}")
        self.dropdown.value = NO_STYLE if name is None else name

    def names(self) -> list[str]:
        return [n for n in self.dropdown.options if n != NO_STYLE]

    def selected(self) -> Style | None:
        """The chosen style (read again from the library, so edits on disk count)."""
        name = self.value
        return None if name is None else self.library.get(name)

    def reload(self) -> None:
        """Re-read the styles (shipped, then the user's folder), keeping the choice if it exists."""
        current = self.dropdown.value
        options = [NO_STYLE, *self.library.names()]
        with self.dropdown.hold_sync():
            self.dropdown.options = options
            self.dropdown.value = current if current in options else NO_STYLE
        self._show_detail()
        # A saved style that cannot be read must not just vanish from the list: say which, why.
        skipped = "; ".join(
            f"style file {name} skipped: {why}" for name, why in self.library.skipped.items()
        )
        self.message.value = f"<small>{warning_html(skipped)}</small>" if skipped else ""

    def save(self, name: str, template: str, params: dict[str, Any]) -> Style:
        """Save a style and select it; raises ``StyleError`` (also shown) when it is invalid, or
        when ``name`` is taken and this is not the second save of it in a row (the first one
        asks: a saved style replaces a built-in or earlier one of that name)."""
        try:
            style = Style(name, template, params)
            taken = style.name in self.library.names()
            if taken and self._replacing != style.name:
                self._replacing = style.name
                built_in = style.name in {shipped.name for shipped in SHIPPED_STYLES}
                whose = "a built-in style" if built_in else "one of your styles"
                raise StyleError(
                    f"{style.name!r} is {whose}: click save again to replace it with this one "
                    "(delete the file in the styles folder to get it back), or choose another "
                    "name"
                )
            self._replacing = None
            self.library.save(style)
        except (StyleError, OSError) as error:
            self.message.value = error_html(error, "could not save the style")
            raise
        self.reload()
        self.dropdown.value = style.name
        self.name_box.value = ""
        self.message.value = (
            f"<small>saved in <code>{html.escape(str(self.library.directory))}</code></small>"
        )
        return style

    def _show_detail(self) -> None:
        name = self.value
        if name is None:
            self.detail.value = ""
            return
        try:
            style = self.library.get(name)
        except StyleError as error:
            self.detail.value = error_html(error)
            return
        params = ", ".join(f"{k}={v}" for k, v in style.params.items())
        text = html.escape(style.template) + (f" · {html.escape(params)}" if params else "")
        self.detail.value = f"<small><i>{text}</i></small>"


class EstimateLine(widgets.HTML):  # type: ignore[misc]
    """What the prompt will send: counts and the estimated cost, or why it cannot be sent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("flux-estimate")
        self.text = ""
        self.prompt = ""  # the prompt the line was last worked out for
        self.generations = 0  # how many generations that prompt makes (0: none, or an error)

    def show_summary(self, summary: str) -> None:
        self.text = summary
        self.value = f"<small>{html.escape(summary)}</small>" if summary else ""

    def show_error(self, error: BaseException) -> None:
        self.text = error_text(error)
        self.value = f"<small>{error_html(error)}</small>"


class ConfirmRow(widgets.HBox):  # type: ignore[misc]
    """Asks before a big batch: a question, send and cancel; hidden until ``ask``."""

    def __init__(self, **kwargs: Any) -> None:
        self.question = widgets.HTML()
        self.send_button = widgets.Button(description="send", button_style="warning", icon="check")
        self.cancel_button = widgets.Button(description="cancel", icon="times")
        super().__init__([self.question, self.send_button, self.cancel_button], **kwargs)
        self.add_class("flux-confirm")
        self._on_send: Callable[[], object] | None = None
        # Clicks may arrive on a kernel subshell's thread: send starts a task on the home loop.
        self.send_button.on_click(on_home_loop(lambda _: self._answer(True)))
        self.cancel_button.on_click(on_home_loop(lambda _: self._answer(False)))
        show(self, False)

    @property
    def asking(self) -> bool:
        return self._on_send is not None

    def ask(self, question: str, on_send: Callable[[], object]) -> None:
        self.question.value = f"<b style='color:{ERROR_COLOR}'>{html.escape(question)}</b>"
        self._on_send = on_send
        show(self, True)

    def _answer(self, send: bool) -> None:
        on_send, self._on_send = self._on_send, None
        show(self, False)
        if send and on_send is not None:
            on_send()


class BatchRow(widgets.HBox):  # type: ignore[misc]
    """One batch's progress: a bar, done / failed / running counts, and Cancel."""

    def __init__(self, total: int, label: str, on_cancel: Callable[[], object], **kwargs: Any):
        self.total = total
        self.bar = widgets.IntProgress(value=0, min=0, max=max(1, total), bar_style="info")
        self.label = widgets.HTML()
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop", button_style="warning"
        )

        def cancel(_: object) -> None:
            on_cancel()

        self.cancel_button.on_click(on_home_loop(cancel))  # Task.cancel only on its own loop
        self._title = label
        self.finished = False
        self._last = BatchProgress(total, bar=False)
        self.errors: list[BaseException] = []
        """The failed items' errors, in the order they ended."""
        super().__init__([self.cancel_button, self.bar, self.label], **kwargs)
        self.add_class("flux-batch")
        self.update(BatchProgress(total, bar=False))

    def update(self, progress: BatchProgress) -> None:
        """Show ``progress`` (its listener calls this on every change); once the batch has
        ended its last words stay (a late report must not hide "cancelled")."""
        if self.finished:
            return
        self._last = progress
        with self.bar.hold_sync():
            self.bar.value = progress.done + progress.failed
            if progress.failed:
                self.bar.bar_style = "warning"
        self._show(progress.text())

    def _show(self, counts: str, ending: str = "") -> None:
        self.label.value = (
            f"<small>{html.escape(counts)} · <i>{html.escape(self._title)}</i></small>{ending}"
        )

    def finish(self, state: str) -> None:
        """The batch ended (``done``, ``failed``, or a cancel in words: ``cancelled: 3 done, 9
        not sent``): stop offering Cancel."""
        self.finished = True
        show(self.cancel_button, False)
        if state == "done" and self.bar.bar_style != "warning":
            self.bar.bar_style = "success"
        elif state != "done":
            self.bar.bar_style = "danger"
        # Nothing runs any more: the counts end without "4 running" (a cancel says what was
        # not sent itself).
        last = self._last
        finished = last.done + last.failed
        counts = f"{finished}/{last.total} · {last.done} done · {last.failed} failed"
        self._show(counts, f" <small>· {html.escape(state)}</small>")


class UsageView(widgets.VBox):  # type: ignore[misc]
    """The usage report as a table; ``refresh`` asks ``source`` for a new one (reading the
    history's index: done when asked, not when the view is made)."""

    def __init__(
        self,
        source: Callable[[], UsageReport | None],
        *,
        load: bool = True,
        on_refresh: Callable[[], object] | None = None,
        **kwargs: Any,
    ) -> None:
        self._source = source
        self.table = widgets.HTML()
        self.refresh_button = widgets.Button(description="refresh usage", icon="refresh")
        self.refresh_button.on_click(lambda _: (on_refresh or self.refresh)())
        super().__init__([self.table, self.refresh_button], **kwargs)
        self.add_class("flux-usage")
        self.report: UsageReport | None = None
        if load:
            self.refresh()

    def refresh(self) -> None:
        """Ask the source for a new report and show it."""
        try:
            report = self._source()
        except Exception as error:  # a broken history must not break the view
            self.table.value = error_html(error, "usage")
            return
        self.show_report(report)

    def show_report(self, report: UsageReport | None) -> None:
        self.report = report
        self.table.value = "<small>no client</small>" if report is None else report._repr_html_()
