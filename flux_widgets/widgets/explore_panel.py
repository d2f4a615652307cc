"""The studio's exploration panel: styles, what a prompt will send and cost, batches, usage.

A prompt with variants or wildcards (or a style) becomes a ``BatchPlan``; its count, images and
estimated cost show before anything is sent, a batch above ``confirm_above`` generations asks
first, and a batch runs as one row (a progress bar with done / failed / running counts) through
``client.generate_many``, whose workers keep at most the client's concurrency in flight: a
template of 10,000 prompts is 10,000 short strings and one row, never 10,000 widgets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from ..errors import FluxError
from ..history.records import recipe_key
from ..images import GeneratedImage
from ..params import FluxParams
from ..prompts.plans import CONFIRM_ABOVE_GENERATIONS, BatchPlan, plan_batch
from ..prompts.progress import BatchProgress
from ..prompts.styles import StyleLibrary, check_slot_filled
from ..spending.prices import dollars
from ..spending.usage import HistoryEntry, UsageReport
from ..wording import plural
from ._compat import show
from ._html import error_html
from ._tasks import TaskSet
from .explore import BatchRow, ConfirmRow, EstimateLine, StylePicker, UsageView

if TYPE_CHECKING:
    from ..client import FluxClient
    from ..generation import HistorySetting

KeepImages = Callable[[Sequence[GeneratedImage]], Awaitable[Sequence[GeneratedImage]]]
"""Files images (history, gallery) and returns them as kept."""
FindServed = Callable[["FluxClient", Sequence[FluxParams]], Mapping[int, object]]
"""The items (by position) of a batch the history would serve (``repeats.served``); blocking."""
_KEEP_BATCH_ROWS = 4


class ExplorePanel(widgets.VBox):  # type: ignore[misc]
    """Style picker, estimate line, confirm row, batch rows and the usage view.

    ``client`` returns the studio's current client (None without one); ``keep`` files new
    images (history, gallery); ``history`` lists the stored images for the usage view.
    """

    running = traitlets.Int(0, help="batches started here that have not finished")

    def __init__(
        self,
        *,
        client: Callable[[], FluxClient | None],
        keep: KeepImages,
        history: Callable[[], Iterable[HistoryEntry] | None] = lambda: None,
        keep_in: Callable[[], HistorySetting | None] = lambda: None,
        styles: StyleLibrary | None = None,
        confirm_above: int = CONFIRM_ABOVE_GENERATIONS,
        served: FindServed = lambda client, recipes: {},
        **kwargs: Any,
    ) -> None:
        self._client = client
        self._served = served
        self._estimate_seq = 0  # which refresh the line shows (a late lookup is dropped)
        self._keep = keep
        self._history = history
        self._keep_in = keep_in  # where the client keeps a batch's images (None: its own)
        self.confirm_above = confirm_above
        self.styles = StylePicker(styles or StyleLibrary())
        self.estimate = EstimateLine()
        self.confirm = ConfirmRow()
        self.batches = widgets.VBox()
        # Filled when the Usage section is opened: it reads the whole history's index.
        self.usage = UsageView(
            self.usage_report,
            load=False,
            on_refresh=lambda: self._tasks.spawn(self.refresh_usage()),
        )
        self.usage_box = widgets.Accordion(children=[self.usage], selected_index=None)
        self.usage_box.set_title(0, "Usage")
        self.batch_rows: list[BatchRow] = []
        self._tasks = TaskSet(on_error=lambda error: None)
        # usage_changed: one refresh at a time, and one more if something changed meanwhile.
        self._usage_refreshing = False
        self._usage_stale = False
        self.usage_box.observe(self._on_usage_opened, names="selected_index")
        super().__init__(
            [self.styles, self.estimate, self.confirm, self.batches, self.usage_box], **kwargs
        )
        self.add_class("flux-explore")

    # -- planning ---------------------------------------------------------------------

    def plan(self, prompt: str, params: dict[str, Any]) -> BatchPlan:
        """The generations ``prompt`` (a template, styled by the chosen style) makes with
        ``params``; raises ``ValueError`` (a TemplateError, StyleError...) before any request."""
        client = self._require_client()
        return plan_batch(
            prompt,
            provider=client.provider,
            style=self.styles.selected(),
            prices=client.prices,
            **params,
        )

    def refresh_estimate(self, prompt: str, params: dict[str, Any]) -> None:
        """Show what Generate would do with ``prompt``: how many generations the history
        serves at no cost, how many are made and their cost, whether it asks first; or why
        it refuses (the same plan and checks Generate runs). Expanding the largest template
        allowed (100,000 prompts) takes ~0.1 s; the history lookup runs in a worker thread,
        and an answer for an older prompt never replaces a newer line."""
        client = self._client()
        self._estimate_seq += 1
        self.estimate.prompt, self.estimate.generations = prompt, 0
        if not prompt.strip() or client is None:
            self.estimate.show_summary("")  # and the last prompt's error with it
            return
        try:
            check_slot_filled(prompt)  # asked here, in view, before Generate refuses it
            plan = self.plan(prompt, params)
            client.provider_info.check(plan.base)
        except (ValueError, FluxError) as error:
            self.estimate.show_error(error)
            return
        self.estimate.generations = plan.generations
        self._show_estimate(client, plan, {})
        if recipe_key(plan.base, client.provider_info.image_source(mock=client.is_mock)):
            # A fixed seed with go_fast off: some items may be served from the history.
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no loop (built outside one): nothing to keep responsive
                self._show_estimate(client, plan, self._served(client, list(plan.params())))
                return
            self._tasks.start(self._look_up_served(client, plan, self._estimate_seq))

    async def _look_up_served(self, client: FluxClient, plan: BatchPlan, seq: int) -> None:
        found = await asyncio.to_thread(lambda: self._served(client, list(plan.params())))
        if seq == self._estimate_seq and found:  # still the line's prompt
            self._show_estimate(client, plan, found)

    def _show_estimate(self, client: FluxClient, plan: BatchPlan, found: Collection[int]) -> None:
        rest = plan.without(found)
        if not found:
            summary = plan.summary()
        elif not rest.prompts:
            made = f"{plural(plan.generations, 'generation')} · {plural(plan.images, 'image')}"
            summary = f"{made} from history, no cost"
        else:
            split = f"{len(found)} of {plan.generations} from history (no cost)"
            summary = f"{split} · to make: {rest.summary()}"
        if plan.generations > 1 and self.asks(rest):  # one generation is never asked about
            summary += " · asks before sending"
        self.estimate.show_summary(summary + cap_note(client, rest.cost if rest.prompts else 0))

    def asks(self, plan: BatchPlan) -> bool:
        """Whether Generate asks before sending the batch ``plan`` (what is left to make of
        it once the history served its repeats): above ``confirm_above`` generations."""
        return plan.needs_confirmation(self.confirm_above)

    # -- batches ----------------------------------------------------------------------

    def submit(
        self, plan: BatchPlan, *, ask: bool = True, served: str = ""
    ) -> asyncio.Task[list[GeneratedImage]] | None:
        """Run ``plan`` as a batch, asking first (unless ``ask`` is False) above
        ``confirm_above`` generations. ``served``: what the history served of a larger batch
        ("3 of 8 from history"), said in the question.

        Returns the batch's task, or None while the question is shown (send starts it).
        ``BudgetExceededError`` before asking, when the batch would pass the spending cap or
        its price is unknown while a cap is set.
        """
        cap = self._require_client().spending_cap
        if cap is not None:  # refused in words before asking, not after "send"
            cap.check(plan.cost, what=f"this batch of {plan.generations} generations")
        if ask and self.asks(plan):
            question = f"Send {plan.summary()}?"
            if served:
                question = f"{served}, {plan.generations} to make: send {plan.summary()}?"
            self.confirm.ask(question, lambda: self._launch(plan))
            return None
        return self._launch(plan)

    def _launch(self, plan: BatchPlan) -> asyncio.Task[list[GeneratedImage]]:
        client = self._require_client()
        holder: dict[str, asyncio.Task[list[GeneratedImage]]] = {}
        row = BatchRow(plan.generations, plan.origin.template, lambda: holder["task"].cancel())
        task = self._tasks.start(self.run_batch(client, plan, row))
        holder["task"] = task
        self.batch_rows.insert(0, row)
        self._show_rows()
        return task

    async def run_batch(
        self, client: FluxClient, plan: BatchPlan, row: BatchRow
    ) -> list[GeneratedImage]:
        """Send every item of ``plan`` through ``client.generate_many`` and keep the images;
        failures count in the row (their errors in ``row.errors``), a cancel stops the rest."""
        counts = BatchProgress(plan.generations, bar=False, listener=row.update)
        images: list[GeneratedImage] = []
        state = "done"
        try:
            batch = client.generate_many(plan, progress=counts, history=self._keep_in())
            # Closed however the loop ends: a cancel landing while images are filed (outside
            # the generator) left its workers sending the rest of the batch.
            async with contextlib.aclosing(batch):
                async for result in batch:
                    if result.images:
                        images.extend(await self._keep(result.images))
                    if result.error is not None:
                        row.errors.append(result.error)
        except asyncio.CancelledError:
            state = f"cancelled: {counts.done} done, {counts.queued} not sent"
            if counts.running and not client.provider_info.can_cancel:
                # Without a server-side cancel, what was sent is still made and billed.
                state = (
                    f"stopped waiting ({counts.running} sent: still billed), "
                    f"{counts.done} done, {counts.queued} not sent"
                )
            raise
        except Exception as error:
            state = "failed"
            row.label.value += f"<br>{error_html(error)}"
            raise
        finally:
            row.finish(state)
            self._show_rows()
            self.usage_changed()
        return images

    def _show_rows(self) -> None:
        running = [r for r in self.batch_rows if not r.finished]
        finished = [r for r in self.batch_rows if r.finished][:_KEEP_BATCH_ROWS]
        keep = {id(r) for r in running + finished}
        for row in self.batch_rows:
            if id(row) not in keep:
                row.close()
        self.batch_rows = [r for r in self.batch_rows if id(r) in keep]
        self.batches.children = tuple(self.batch_rows)
        show(self.batches, bool(self.batch_rows))
        self.running = len(running)

    async def wait(self) -> None:
        await self._tasks.wait()

    def cancel_all(self) -> None:
        self._tasks.cancel_all()

    # -- usage ------------------------------------------------------------------------

    def usage_report(self) -> UsageReport | None:
        client = self._client()
        if client is None:
            return None
        return client.usage_report(history=self._history())

    async def refresh_usage(self, *, quota: bool = True) -> None:
        """Read usage (the history's index in a worker thread) and, with ``quota``, the key's
        quota from the provider; then show them."""
        client = self._client()
        if quota and client is not None:
            await client.key_quota()
        try:
            report = await asyncio.to_thread(self.usage_report)
        except Exception as error:  # a broken history must not break the view
            self.usage.table.value = error_html(error, "usage")
            return
        self.usage.show_report(report)

    def usage_changed(self) -> None:
        """Something usage counts changed (a generation ended, the provider, a price or cap,
        the history): refresh the open Usage view. Debounced: while a refresh runs, changes
        only mark it stale, so a batch of 100 rebuilds it a few times, not 100."""
        if self.usage_box.selected_index != 0:  # read when opened
            return
        if self._usage_refreshing:
            self._usage_stale = True
            return
        self._usage_refreshing = True

        async def refresh() -> None:
            try:
                while True:
                    self._usage_stale = False
                    await self.refresh_usage(quota=False)
                    if not self._usage_stale:
                        return
            finally:
                self._usage_refreshing = False

        self._tasks.spawn(refresh())

    def _on_usage_opened(self, change: dict[str, Any]) -> None:
        if change["new"] == 0:
            self._tasks.spawn(self.refresh_usage())

    def _require_client(self) -> FluxClient:
        client = self._client()
        if client is None:
            raise FluxError("no client: type an API key above")
        return client


def cap_note(client: FluxClient, cost: float | None) -> str:
    """What the estimate line adds about the spending cap: "" when the cost fits under it."""
    cap = client.spending_cap
    if cap is None:
        return ""
    if cost is None:
        title = client.provider_info.title
        return (
            f" · {title}'s price per image is not known, so the ${cap.max_spend:.2f} cap can't "
            "check it: set a price or pick a priced provider"
        )
    if cost > cap.remaining + 1e-9:
        return f" · over the spending cap ({dollars(cap.remaining)} left)"
    return ""
