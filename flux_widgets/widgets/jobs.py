"""Job rows: one line per generation with its state, elapsed time, Cancel, and its error.

The row follows the client's ``on_status`` reports; while the job runs, a small asyncio ticker
refreshes the elapsed time a few times a second and stops when the job ends. Failures show the
typed error's own message, which says what to do; nothing is swallowed. A queued row says why
it waits (``note``, written by the studio, which knows its jobs and the client's slots).

A row's ``state`` is an observable trait, so the list (and anyone else) hears when it ends; rows
the list drops are closed with their layouts and styles, so a long session keeps a bounded
number of live widget models.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from ..params import FluxParams
from ..wording import plural
from ._compat import close_tree, set_tooltip, show
from ._html import ACCENT_COLOR, ERROR_COLOR, MUTED_COLOR, SUCCESS_COLOR, error_html
from ._tasks import on_home_loop

if TYPE_CHECKING:
    from ..client import FluxClient

QUEUED, STARTING, PROCESSING, DOWNLOADING = "queued", "starting", "processing", "downloading"
# "cancelled" is what people read; the protocol's status string stays "canceled".
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"
FINAL_STATES = frozenset({DONE, FAILED, CANCELLED})
# The client's status words (FluxClient on_status) in the row's words.
_FROM_CLIENT = {
    "queued": QUEUED,
    "starting": STARTING,
    "processing": PROCESSING,
    "downloading": DOWNLOADING,
    "succeeded": DOWNLOADING,  # images are in; the studio still files them, then says "done"
    "failed": FAILED,
    "canceled": CANCELLED,
}
_COLORS = {DONE: SUCCESS_COLOR, FAILED: ERROR_COLOR, CANCELLED: MUTED_COLOR}
TICK_SECONDS = 0.25
# A create the provider has not answered for this long: say what may be holding it (the client
# retries 429s by itself, so from here a rate limit looks like a slow start).
SLOW_START_SECONDS = 5.0
SLOW_START = "sent; no answer yet: the provider's queue, or retries after its rate limit"


class JobRow(widgets.VBox):  # type: ignore[misc]
    """The visible state of one generation; ``attach`` it to the task that runs it."""

    # Plain (kernel-side) traits: observable, never synced to the browser.
    state = traitlets.Unicode(QUEUED, help="queued, starting, processing, downloading, done...")
    image_count = traitlets.Int(0, help="images the generation delivered (set when it ends)")
    note = traitlets.Unicode("", help="why a waiting job waits, e.g. its place in the queue")
    detail = traitlets.Unicode(
        "", help="the provider's word on progress: fal's queue position or its last log line"
    )
    estimate = traitlets.Unicode("", help="what the generation is estimated to cost, e.g. ≈ $0.006")
    from_history = traitlets.Bool(
        False, help="an exact repeat shown from the history: no request, no cost (``serve``)"
    )
    outcome = traitlets.Unicode(
        "",
        help="the end said in words where the state word would mislead: a cancel on a provider "
        "without one is 'stopped waiting (still billed)'",
    )

    def __init__(self, params: FluxParams, **kwargs: Any) -> None:
        self.params = params
        self.states = [QUEUED]  # every state it went through, for tests and curious teachers
        self.error: BaseException | None = None
        self._started = self._entered = time.monotonic()
        self._ended: float | None = None
        self._task: asyncio.Task[Any] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.make_again_button: widgets.Button | None = None  # made by ``serve``
        # The label takes what is left and wraps; the button never shrinks (a long "queued
        # (waiting for ...)" line clipped it to "Can…").
        self.label = widgets.HTML(layout={"flex": "1 1 auto", "min_width": "0"})
        self.cancel_button = widgets.Button(
            description="Cancel",
            icon="stop",
            button_style="warning",
            layout={"width": "90px", "flex": "0 0 auto"},
        )
        set_tooltip(self.cancel_button, "stop this generation (the server is told to cancel)")
        self.error_box = widgets.HTML()
        show(self.error_box, False)
        # In the list's scrolling box a row keeps its height: a flex item may shrink by default,
        # and past about 9 rows they were squashed to 15 px, text over the Cancel buttons.
        kwargs.setdefault("layout", {"flex": "0 0 auto"})
        super().__init__([widgets.HBox([self.cancel_button, self.label]), self.error_box], **kwargs)
        self.add_class("flux-job")
        self.cancel_button.add_class("flux-cancel")
        self.label.add_class("flux-status")
        self.cancel_button.on_click(on_home_loop(lambda _: self.cancel()))
        self.observe(lambda _: self._render(), names=["note", "detail", "estimate"])
        self._render()

    @property
    def elapsed(self) -> float:
        """Seconds since the job was created (frozen when it ended)."""
        end = self._ended if self._ended is not None else time.monotonic()
        return end - self._started

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the generation runs on (None before ``attach``)."""
        return self._task.get_loop() if self._task is not None else None

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    def attach(self, task: asyncio.Task[Any]) -> None:
        """Tie the row to the task running the generation: Cancel cancels it; start the ticker."""
        self._task = task
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    def cancel(self) -> None:
        """Cancel the generation's task; the client cancels the prediction on the server."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            self.cancel_button.disabled = True
            self.cancel_button.description = "Cancelling"

    def client_status(self, status: str) -> None:
        """The client's ``on_status`` callback."""
        state = _FROM_CLIENT.get(status, status)
        if not self.finished and state not in (FAILED, CANCELLED):
            # Failures are recorded by ``finish`` with their error, not by the status word.
            self._enter(state)
            self._render()

    def client_detail(self, detail: str) -> None:
        """The client's ``on_detail`` callback: shown instead of the studio's note while set."""
        if not self.finished:
            self.detail = detail

    def finish(
        self,
        state: str,
        error: BaseException | None = None,
        image_count: int = 0,
        *,
        outcome: str = "",
    ) -> None:
        """Record how the job ended; stops the ticker and the Cancel button. ``outcome`` is
        shown instead of the state word (``"stopped waiting (still billed)"``)."""
        if state not in FINAL_STATES:
            raise ValueError(f"a job ends {', '.join(sorted(FINAL_STATES))}, not {state!r}")
        if self.finished:
            return
        self.error, self.image_count = error, image_count
        self._ended = time.monotonic()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        show(self.cancel_button, False)
        if error is not None:
            self.error_box.value = error_html(error)
            show(self.error_box, True)
        self.note = self.detail = ""
        self.outcome = outcome
        self._enter(state)  # last: observers of ``state`` see a row that is complete
        self._render()

    def serve(self, image_count: int, make_again: Callable[[], object]) -> None:
        """End the row as an exact repeat shown from the history (nothing sent, nothing paid),
        with a "make again" button that calls ``make_again`` (a fresh, paid generation)."""
        self.from_history = True
        button = widgets.Button(
            description="make again", icon="refresh", layout={"width": "auto", "flex": "0 0 auto"}
        )
        button.add_class("flux-make-again")
        set_tooltip(button, "pay for a fresh generation of this exact recipe")

        def clicked(_: Any) -> None:
            button.disabled = True  # one click, one generation
            make_again()

        button.on_click(on_home_loop(clicked))
        self.make_again_button = button
        head = self.children[0]
        head.children = (*head.children, button)
        self.finish(DONE, image_count=image_count)

    def close(self) -> None:
        """Stop the ticker; close the row with every child, layout and style."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        close_tree(self)

    def _enter(self, state: str) -> None:
        if state != self.state:
            self._entered = time.monotonic()
            self.states.append(state)
            self.state = state

    def _in_state(self) -> float:
        """Seconds since the row entered its current state."""
        return time.monotonic() - self._entered

    async def _tick(self) -> None:
        while not self.finished and self.comm is not None:
            await asyncio.sleep(TICK_SECONDS)
            self._render()

    def _render(self) -> None:
        color = _COLORS.get(self.state, ACCENT_COLOR)
        prompt = self.params.prompt
        if len(prompt) > 60:
            prompt = prompt[:59] + "…"
        count = self.image_count if self.state == DONE else self.params.num_outputs
        detail = f"{plural(count, 'image')}, seed {self.params.seed}"
        if self.from_history:
            detail += ", <b class='flux-from-history'>from history</b>, no cost"
        elif self.estimate:
            detail += f", {html.escape(self.estimate)}"
        # The provider's own word (fal: "in queue, position 2") says more than the studio's.
        why = self.detail or self.note
        if not why and self.state == STARTING and self._in_state() > SLOW_START_SECONDS:
            why = SLOW_START
        note = f" <span class='flux-job-note'>({html.escape(why)})</span>" if why else ""
        said = html.escape(self.outcome or self.state)
        self.label.value = (
            f"<span style='color:{color};font-weight:bold'>{said}</span>{note} "
            f"{self.elapsed:.1f} s · {detail} · <i>{html.escape(prompt)}</i>"
        )

    def __repr__(self) -> str:
        return f"<JobRow {self.state} {self.elapsed:.1f}s seed={self.params.seed}>"


def explain_queue(rows: Sequence[JobRow], client_of: Callable[[JobRow], FluxClient]) -> None:
    """Tell each queued row (``rows`` oldest first) why it waits and its place in line.

    A client runs ``max_concurrency`` generations at once and its semaphore serves the rest in
    order. Only these rows are known here: if fewer of them hold slots than the client has,
    other work on the same client (a grid, a second studio) holds the rest. The client keeps
    one semaphore per event loop, and ipykernel 7 may run a button's callback on another loop
    than a cell's: rows are grouped by client and loop.
    """
    by_client: dict[tuple[int, int], list[JobRow]] = {}
    for row in rows:
        if not row.finished:
            by_client.setdefault((id(client_of(row)), id(row.loop)), []).append(row)
    for group in by_client.values():
        slots = client_of(group[0]).max_concurrency
        busy = sum(1 for row in group if row.state != QUEUED)
        if slots == 1:  # "one of 1 slot (all 1 busy)" is not how people say it
            wanted = "the one slot"
            holders = "busy here" if busy else "held by other work on this client"
        else:
            wanted = f"one of {plural(slots, 'slot')}"
            holders = (
                f"all {slots} busy here"
                if busy >= slots
                else f"{busy} busy here, the rest by other work on this client"
            )
        waiting = [row for row in group if row.state == QUEUED]
        for place, row in enumerate(waiting, start=1):
            row.note = f"waiting for {wanted} ({holders}); #{place} in line"
        for row in group:
            if row.state != QUEUED:
                row.note = ""  # a slow start the row says itself (SLOW_START)


class JobList(widgets.VBox):  # type: ignore[misc]
    """The job rows, newest first; at most ``keep_finished`` finished rows stay (older ones
    are dropped and closed), and every running one."""

    def __init__(self, keep_finished: int = 8, **kwargs: Any) -> None:
        self.keep_finished = keep_finished
        self.rows: list[JobRow] = []
        self.clear_button = widgets.Button(description="clear finished", icon="eraser")
        self.clear_button.add_class("flux-clear-finished")
        self.clear_button.on_click(lambda _: self.clear_finished())
        show(self.clear_button, False)
        # Many queued jobs scroll inside the list instead of pushing the gallery off screen;
        # each row keeps its own height there (``JobRow``'s layout, and STUDIO_CSS for rows
        # made elsewhere).
        self._box = widgets.VBox(layout={"max_height": "260px", "overflow": "hidden auto"})
        self._box.add_class("flux-job-rows")
        super().__init__([self._box, self.clear_button], **kwargs)
        self.add_class("flux-jobs")

    def add(self, row: JobRow) -> None:
        self.rows.insert(0, row)
        row.observe(self._on_state, names=["state"])
        self._prune()

    def clear_finished(self) -> None:
        """Drop (and close) every finished row."""
        self._drop([row for row in self.rows if row.finished])

    def refresh(self) -> None:
        """Re-lay the rows, pruning old finished ones (also done on every state change)."""
        self._prune()

    def _on_state(self, change: dict[str, Any]) -> None:
        if change["new"] in FINAL_STATES:
            self._prune()

    def _prune(self) -> None:
        finished = [row for row in self.rows if row.finished]
        self._drop(finished[self.keep_finished :])

    def _drop(self, dropped: list[JobRow]) -> None:
        gone = {id(row) for row in dropped}
        self.rows = [row for row in self.rows if id(row) not in gone]
        self._box.children = tuple(self.rows)
        show(self.clear_button, any(row.finished for row in self.rows))
        for row in dropped:
            row.unobserve(self._on_state, names=["state"])
            row.close()
