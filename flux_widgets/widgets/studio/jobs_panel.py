"""The studio's jobs panel: one row per generation, run as a task, and why some wait.

A generation started here runs in a task the panel keeps (``TaskSet``); its row follows the
client's status reports, ends done, failed or cancelled, and a queued row says why it waits
(``jobs.explain_queue``). The panel counts the rows still running into ``state.running`` and
says when the client's concurrency is more than the query-rate cap can feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import ipywidgets as widgets

from ...client import FluxClient
from ...errors import DownloadError, PredictionCanceledError
from ...images import GeneratedImage, kept_images
from ...params import FluxParams, PromptOrigin
from ...transport.polling import useful_concurrency
from .._compat import close_tree, set_tooltip, show
from .._html import warning_html
from .._tasks import TaskSet
from ..jobs import (
    CANCELLED,
    DONE,
    DOWNLOADING,
    FAILED,
    PROCESSING,
    STARTING,
    JobList,
    JobRow,
    explain_queue,
)
from ..provider_picker import cancel_tooltip, cost_text
from .repeats import FinishedRecipes, served
from .state import StudioState

KeepImages = Callable[[Sequence[GeneratedImage]], Awaitable[list[GeneratedImage]]]
"""Files new images (history and gallery) and returns them as kept."""
ServeImages = Callable[[Sequence[GeneratedImage]], Coroutine[Any, Any, list[GeneratedImage]]]
"""Shows images served from the history (an exact repeat) and returns them."""


class JobsPanel(widgets.VBox):  # type: ignore[misc]
    """The capacity note and the job rows; ``start`` runs one generation in a row of its own."""

    def __init__(
        self,
        state: StudioState,
        *,
        keep: KeepImages,
        serve: ServeImages,
        finished: FinishedRecipes,
        update_picture: Callable[[], Awaitable[None]],
    ) -> None:
        self._state = state
        self._keep = keep
        self._serve = serve
        self._finished = finished
        self._update_picture = update_picture
        self._job_clients: dict[int, FluxClient] = {}  # id(row) -> the client running it
        # Job failures are shown in their rows.
        self._tasks = TaskSet(on_error=lambda error: None)
        self.capacity_note = widgets.HTML()
        self.job_list = JobList()
        super().__init__([self.capacity_note, self.job_list])
        # A client's settings are plain attributes: look again as generations start and end.
        state.observe(lambda _: self._show_capacity(), names=["client", "running"])
        self._show_capacity()

    @property
    def jobs(self) -> list[JobRow]:
        """The rows still listed, oldest first (every running one and the last finished)."""
        return self.job_list.rows[::-1]

    def start(
        self,
        client: FluxClient,
        params: FluxParams,
        origin: PromptOrigin | None = None,
        make_again: bool = False,
    ) -> asyncio.Task[list[GeneratedImage]]:
        """Run one generation of ``params`` on ``client`` in a new row; returns its task.

        An exact repeat of a deterministic recipe the history holds is shown from it instead
        (no request, nothing reserved or paid; the row says "from history" and offers "make
        again"), unless ``make_again``."""
        row = JobRow(params)
        # The client's own estimate: the same price as the estimate line and the cap.
        row.estimate = cost_text(client.estimate_cost(params))
        set_tooltip(row.cancel_button, cancel_tooltip(client.provider_info))
        task = self._tasks.start(self._run(client, params, row, origin, make_again))
        row.attach(task)
        self._job_clients[id(row)] = client
        self.job_list.add(row)
        row.observe(self._on_job_state, names=["state"])  # after the list's: it prunes first
        self._explain_queue()
        self._count_running()
        return task

    def capacity_warning(self) -> str:
        """Why some of the client's ``max_concurrency`` cannot be used, or "" when all can."""
        client = self._state.client
        if client is None or client.sync_wait:
            return ""  # a synchronous wait needs no queries: the query-rate cap does not bind
        useful = useful_concurrency()
        if client.max_concurrency <= useful:
            return ""
        return (
            f"max_concurrency={client.max_concurrency}, but the query-rate cap keeps only about "
            f"{useful} polled generations busy at once; the rest wait in line "
            "(flux_widgets.transport.polling)"
        )

    async def wait(self) -> None:
        """Wait until every generation started here has ended."""
        await self._tasks.wait()

    def cancel(self) -> None:
        """Cancel every running generation (each is cancelled on the server too)."""
        for row in self.jobs:
            row.cancel()

    def close(self) -> None:
        self.cancel()
        close_tree(self)

    async def _run(
        self,
        client: FluxClient,
        params: FluxParams,
        row: JobRow,
        origin: PromptOrigin | None,
        make_again: bool,
    ) -> list[GeneratedImage]:
        try:
            found = None if make_again else await self._served(client, params)
            if found is not None:
                images = await self._serve(found)
                row.serve(len(images), lambda: self.start(client, params, origin, True))
                return images
            images = await client.generate(
                params,
                on_status=row.client_status,
                on_detail=row.client_detail,
                origin=origin,
                history=self._state.keep_in(),  # kept there by the client, once
            )
            images = await self._keep(images)
        except asyncio.CancelledError:
            row.finish(CANCELLED, outcome=_cancel_outcome(client, row))
            raise
        except PredictionCanceledError as error:
            row.finish(CANCELLED, error)
            raise
        except DownloadError as error:
            kept = kept_images(error)
            await self._keep(kept)  # paid for: keep what did download
            row.finish(FAILED, error, len(kept))
            await self._update_picture()
            raise
        except Exception as error:
            row.finish(FAILED, error)
            raise
        self._finished.remember(params)
        row.finish(DONE, image_count=len(images))
        # Before returning: a notebook run by nbclient records the picture within this cell.
        await self._update_picture()
        return images

    async def _served(self, client: FluxClient, params: FluxParams) -> list[GeneratedImage] | None:
        """The history's images of ``params`` when this is an exact repeat, else None."""
        found = await asyncio.to_thread(served, self._state.history, client, [params])
        return list(found[0]) if found else None

    def _on_job_state(self, change: dict[str, Any]) -> None:
        row = change["owner"]
        if row.finished:
            row.unobserve(self._on_job_state, names=["state"])
        self._explain_queue()
        self._count_running()

    def _explain_queue(self) -> None:
        """Tell each waiting row why it waits (``jobs.explain_queue``)."""
        jobs = self.jobs
        # Rows the job list dropped (and closed) are forgotten with their client.
        listed = {id(row) for row in jobs}
        for key in [key for key in self._job_clients if key not in listed]:
            del self._job_clients[key]
        explain_queue(jobs, lambda row: self._job_clients[id(row)])

    def _count_running(self) -> None:
        self._state.running = sum(1 for row in self.job_list.rows if not row.finished)

    def _show_capacity(self) -> None:
        capacity = self.capacity_warning()
        self.capacity_note.value = warning_html(capacity) if capacity else ""
        show(self.capacity_note, bool(capacity))


def _cancel_outcome(client: FluxClient, row: JobRow) -> str:
    """What a cancelled row says when "cancelled" would mislead: a provider with no cancel
    (Together, Hugging Face, Cloudflare) makes and bills a request already sent."""
    sent = any(state in row.states for state in (STARTING, PROCESSING, DOWNLOADING))
    if sent and not client.provider_info.can_cancel:
        return "stopped waiting (still billed)"
    return ""
