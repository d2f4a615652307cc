"""The studio's controls panel: prompt, parameters, styles and estimate, Generate, messages.

The parameters (``ParameterControls``) and what a prompt will send (``ExplorePanel``: styles,
count and cost, usage) sit above the Generate row, which shows the seed's state next to the
button (a locked seed silently repeats paid images); a batch's question and its rows sit under
it, with the message line, in view of the click that made them. Generate reads the controls, refuses
a bad input in words, serves an exact repeat from the history (repeats.py; without a history it
warns before one), and starts one generation (a row in the jobs panel) or a batch (a template or
style with variants; the items the history holds are served, the rest made). The message line
under the row shows ``state.notice``, which every panel writes.
"""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as widgets
import traitlets

from ...client import FluxClient
from ...errors import FluxError, MissingAPIKeyError, StyleError
from ...images import GeneratedImage
from ...params import FIELD_NAMES, FluxParams, PromptOrigin
from ...prompts.plans import BatchPlan, plain_fields
from ...prompts.styles import StyleLibrary, check_slot_filled
from ...providers import Provider, get_provider
from ...spending.usage import HistoryEntry
from ...wording import setting
from .._compat import close_tree, focus, set_tooltip, show
from .._html import error_html, warning_html
from .._tasks import TaskSet, on_home_loop
from ..controls import ParameterControls
from ..explore_panel import ExplorePanel, KeepImages
from ..provider_picker import apply_capabilities, fit_params
from ..shortcuts import Shortcuts
from .jobs_panel import ServeImages
from .repeats import FinishedRecipes, served
from .state import StudioState
from .style_params import StyleParameters

StartJob = Callable[
    [FluxClient, FluxParams, PromptOrigin | None, bool], asyncio.Task[list[GeneratedImage]]
]
"""Runs one generation in a job row (``JobsPanel.start``; True: make again) and returns its task."""
# Fields under "Advanced" (the seed's state is shown next to Generate: no need to open it).
_ADVANCED_FIELDS = frozenset(FIELD_NAMES) - {"prompt", "aspect_ratio", "num_outputs", "seed"}


class ControlsPanel(widgets.VBox):  # type: ignore[misc]
    """Parameters, the exploration panel, the Generate row and the message line."""

    input_refused = traitlets.Bool(
        False, help="the message line says why an input was refused; a change clears it"
    )
    repeat_confirmed = traitlets.Instance(
        FluxParams, allow_none=True, help="the exact repeat a second Generate click confirmed"
    )

    def __init__(
        self,
        state: StudioState,
        *,
        start_job: StartJob,
        keep: KeepImages,
        serve: ServeImages,
        usage_records: Callable[[], Iterable[HistoryEntry] | None],
        cancel_all: Callable[[], None],
        finished: FinishedRecipes,
        styles_dir: str | os.PathLike[str] | None,
        confirm_above: int,
    ) -> None:
        self._state = state
        self._start_job = start_job
        self._finished = finished
        self._serve = serve
        self._tasks = TaskSet(on_error=lambda error: None)  # batches' repeats shown, then made
        self.controls = ParameterControls()
        self._style_params = StyleParameters(self.controls)  # given back on another choice
        self._narrowed: dict[str, Any] = {}  # full option lists of dropdowns a provider narrows
        self._switch_note = ""  # what the last provider switch changed, as shown
        # Styles, what the prompt will send and cost, batches of a template, usage.
        self.explore = ExplorePanel(
            client=lambda: state.client,
            keep=keep,
            keep_in=state.keep_in,
            history=usage_records,
            styles=StyleLibrary(styles_dir),
            confirm_above=confirm_above,
            # What Generate would serve from the history: the line says it (one rule).
            served=lambda client, recipes: served(state.history, client, recipes),
        )
        self.generate_button = widgets.Button(
            description="Generate",
            button_style="primary",
            icon="paint-brush",
            layout={"width": "auto", "min_width": "120px"},  # "Generate (5 running)" fits
        )
        set_tooltip(self.generate_button, "start a generation (click again to queue more)")
        self.cancel_all_button = widgets.Button(
            description="Cancel all", icon="stop", layout={"width": "auto"}
        )
        self.message = widgets.HTML()
        # Ctrl/Cmd+Enter in the prompt generates (an invisible anywidget, scoped to this studio).
        self.shortcuts = Shortcuts()
        self.controls.prompt.add_class(self.shortcuts.scope)
        row = [self.generate_button, *self.controls.take_seed_switch()]
        # What a click on Generate asks ("Send 12 generations?") and the batch rows it starts
        # show right under the button, where the user is looking, not above the usage view.
        explore = self.explore
        explore.children = tuple(
            child for child in explore.children if child not in (explore.confirm, explore.batches)
        )
        super().__init__(
            [
                self.controls,
                explore,
                widgets.HBox(
                    [*row, self.cancel_all_button, self.shortcuts],
                    # Rows wrap rather than overflow: no horizontal scrollbar in a narrow cell.
                    layout={"flex_flow": "row wrap", "align_items": "center"},
                    _dom_classes=("flux-generate-row",),
                ),
                self.message,
                explore.confirm,
                explore.batches,
            ]
        )
        # Stable hooks for CSS and the browser tests (tests/browser/test_studio.py).
        self.generate_button.add_class("flux-generate")
        self.message.add_class("flux-message")
        traitlets.dlink((state, "notice"), (self.message, "value"))
        traitlets.dlink((self.explore, "running"), (state, "batches"))
        self._wire(cancel_all)
        self._fit_controls()
        self._show_running()
        self._refresh_estimate()

    # -- what the studio asks -------------------------------------------------------------

    def start(
        self, *, confirmed: bool = False, make_again: bool = False, **params: Any
    ) -> asyncio.Task[list[GeneratedImage]] | None:
        """``PromptStudio.start``: one generation (or a batch) from the controls."""
        try:
            for name, value in params.items():
                self.controls.set(name, value)
            flux_params = self.controls.next_params()
            client = self._require_client()
            client.provider_info.check(flux_params)  # ValueError naming it, before any request
            plan = self.explore.plan(flux_params.prompt, plain_fields(flux_params))
            if plan.generations > 1:
                self._state.notice = ""
                return self._start_batch(client, plan, ask=not confirmed, make_again=make_again)
            if plan.base != flux_params:  # a style changed the prompt
                flux_params = plan.base
                client.provider_info.check(flux_params)
            origin = plan.origin if plan.origin.style is not None else None
            if client.spending_cap is not None:  # said here, before a row is made
                client.spending_cap.check(client.estimate_cost(flux_params))
        except (ValueError, AttributeError, FluxError) as error:
            self._state.notice = error_html(error)
            raise
        self._state.notice = ""
        return self._start_job(client, flux_params, origin, make_again)

    def reuse(self, image: GeneratedImage) -> None:
        """``PromptStudio.reuse``: an image's parameters and seed back into the controls."""
        before = self.controls.values()
        was_locked = self.controls.seed_locked
        # An image made on another provider: what this one cannot honour takes its default.
        recipe, adjusted = fit_params(image.recipe, self._fitted_provider())
        origin = image.origin
        if origin is not None:  # the template as typed, not one of its expansions
            recipe = recipe.replace(prompt=origin.template)
        style_note = self._restore_style(origin)
        self._style_params.forget()  # the image's recipe, not the style, sets them here
        self.controls.set_params(recipe)
        changes: list[str] = []
        changed: set[str] = set()
        for name in FIELD_NAMES:
            old, new = before[name], getattr(recipe, name)
            if name == "seed":
                if old != new or not was_locked:
                    changes.append(f"seed {new} (locked)")
            elif old != new:
                changed.add(name)
                label = name.replace("_", " ")
                changes.append(
                    label if name == "prompt" else f"{label} {setting(old)} → {setting(new)}"
                )
        if style_note:
            changes.append(style_note)
        text = "reuse: " + (", ".join(changes) if changes else "the controls already match")
        if adjusted:
            text += "; not available here: " + ", ".join(adjusted)
        self._state.notice = f"<span class='flux-reuse'>{html.escape(text)}</span>"
        if changed & _ADVANCED_FIELDS:
            self.controls.advanced.selected_index = 0  # show the advanced fields it changed
        focus(self.controls.prompt)  # the browser scrolls the focused prompt into view

    async def wait(self) -> None:
        """Wait for batches and the usage view."""
        await self._tasks.wait()
        await self.explore.wait()

    def cancel(self) -> None:
        """Cancel every running batch (each generation is cancelled on the server too)."""
        self._tasks.cancel_all()
        self.explore.cancel_all()

    # -- a batch, less what the history holds ---------------------------------------------

    def _start_batch(
        self, client: FluxClient, plan: BatchPlan, *, ask: bool, make_again: bool
    ) -> asyncio.Task[list[GeneratedImage]] | None:
        """Serve the items of ``plan`` the history holds (exact repeats: no cost), make the
        rest as a batch (asking first as ``explore.submit`` does, with the split in its
        question); the task returns the served images, then the made ones."""
        found = {} if make_again else served(self._state.history, client, list(plan.params()))
        if not found:
            return self.explore.submit(plan, ask=ask)
        rest = plan.without(found)
        images: list[GeneratedImage] = [i for n in sorted(found) for i in found[n]]
        shown = self._tasks.start(self._serve(images))
        split = f"{len(found)} of {plan.generations} from history"
        if not rest.prompts:
            self._state.notice = f"{split}: nothing to make, no cost"
            return shown
        self._state.notice = f"{split} (no cost), {rest.generations} to make"
        made = self.explore.submit(rest, ask=ask, served=split)
        return None if made is None else self._tasks.start(_in_turn(shown, made))

    def close(self) -> None:
        self.cancel()
        close_tree(self)

    # -- the Generate button --------------------------------------------------------------

    def _wire(self, cancel_all: Callable[[], None]) -> None:
        # Clicks may arrive on another thread's event loop (a kernel subshell): see on_home_loop.
        self.generate_button.on_click(on_home_loop(self._on_generate))
        self.shortcuts.on_generate(on_home_loop(self._generate_typed))
        self.cancel_all_button.on_click(on_home_loop(lambda _: cancel_all()))
        # Every control can change the count or the price (steps and size: Cloudflare, fal).
        for control in self.controls.field_widgets.values():
            control.observe(lambda _: self._refresh_estimate(), names="value")
            control.observe(self._input_changed, names="value")
        self.shortcuts.on_typing(on_home_loop(self._on_typing))
        self.controls.observe(self._input_changed, names="seed_locked")
        self.explore.styles.dropdown.observe(self._on_style, names="value")
        self.explore.styles.save_button.on_click(lambda _: self._save_style())
        self._state.observe(lambda _: self._show_running(), names="running")
        self._state.observe(lambda _: self._refresh_estimate(), names=["client", "prices_set"])
        # The open Usage view follows what it counts: a generation ending, another provider,
        # a price, the history's images (a clear, an undo, a delete, an import).
        changes = ["client", "prices_set", "history_count", "running"]
        self._state.observe(lambda _: self.explore.usage_changed(), names=changes)
        # What the history holds changed: the line's "from history" with it. Once all work is
        # done, not per image kept (a batch's line would be looked up again for each item).
        self._state.observe(
            self._on_history_changed, names=["history", "history_count", "running", "batches"]
        )
        self._state.observe(self._on_provider, names="provider")

    def _on_history_changed(self, _change: Any) -> None:
        if self._state.running == 0 and self._state.batches == 0:
            self._refresh_estimate()

    def _on_generate(self, _button: Any) -> None:
        try:
            params = self.controls.params()
            check_slot_filled(params.prompt)  # a StyleError is a ValueError: said in words
        except ValueError as error:
            # Something to type differently, said in words (no Python error name), until
            # the controls change (``_input_changed``).
            self._state.notice = error_html(error)
            self.input_refused = True
            return
        repeat = self._state.history is None and self._finished.is_repeat(params)
        if repeat and self.repeat_confirmed != params:
            # Same seed, same recipe, go_fast off: the images would be the same ones, paid again
            # (with a history, they are shown from it instead: repeats.py).
            self.repeat_confirmed = params
            self._state.notice = warning_html(
                f"This repeats a finished generation exactly (seed {params.seed}, go fast off): "
                "the same images, paid again. Click Generate again to make them anyway, or "
                "change the seed (unlock it for a random one)."
            )
            return
        self.repeat_confirmed = None
        try:
            self.start()
        except (ValueError, AttributeError, FluxError, RuntimeError) as error:
            self._state.notice = error_html(error)  # start() showed it, except a missing loop
            # A template or field refused (a ValueError): said until the controls change.
            self.input_refused = isinstance(error, ValueError)

    def _input_changed(self, _change: Any) -> None:
        if self.input_refused:
            self.input_refused = False
            self._state.notice = ""

    def _on_typing(self, prompt: str) -> None:
        self._input_changed(None)  # a refused prompt being retyped: the refusal goes
        self._refresh_estimate(prompt)

    def _generate_typed(self, prompt: str) -> None:
        # Ctrl/Cmd+Enter: the text as typed (the Textarea syncs only on blur), then Generate.
        # A batch whose count the line had not shown yet (pasted, then Ctrl+Enter at once)
        # is shown first: the next Ctrl+Enter or Generate sends it.
        unseen = prompt != self.explore.estimate.prompt
        self.controls.set("prompt", prompt)
        self._refresh_estimate()
        if unseen and self.explore.estimate.generations > 1:
            self._state.notice = warning_html(
                f"{self.explore.estimate.text}. Press Ctrl+Enter again (or Generate) to send."
            )
            return
        self._on_generate(None)

    def _show_running(self) -> None:
        running = self._state.running
        self.generate_button.description = (
            f"Generate ({running} running)" if running else "Generate"
        )
        show(self.cancel_all_button, running > 0)

    def _require_client(self) -> FluxClient:
        client = self._state.client
        if client is None:
            note = self._state.client_note or "no client: type an API key above"
            raise MissingAPIKeyError(note)
        return client

    # -- the provider ---------------------------------------------------------------------

    def _fitted_provider(self) -> Provider:
        return get_provider(self._state.provider)

    def _on_provider(self, _change: Any) -> None:
        changed = self._fit_controls()
        said = self._state.notice == self._switch_note  # the last switch's note, still shown
        # A value the new provider cannot honour was replaced: say so, in words (and take the
        # last switch's note away when this one changed nothing).
        self._switch_note = (
            warning_html("Changed to what this provider offers: " + "; ".join(changed))
            if changed
            else ""
        )
        if changed or said:
            self._state.notice = self._switch_note
        self._refresh_estimate()  # another provider, another price

    def _fit_controls(self) -> list[str]:
        """Grey out and narrow the controls to what the current provider honours; the notes
        of the values that changed (``apply_capabilities``)."""
        return apply_capabilities(
            self.controls.field_widgets, self._fitted_provider(), self._narrowed
        )

    # -- styles and the estimate ----------------------------------------------------------

    def _refresh_estimate(self, typed: str | None = None) -> None:
        """The count and cost line for the controls, or for ``typed``: the prompt as it is
        being typed (the box syncs on blur; ``Shortcuts`` sends it while typing)."""
        values = self.controls.values()
        fields = {k: v for k, v in values.items() if k != "prompt"}
        if not self.controls.seed_locked:  # a fresh random seed: nothing to serve
            fields["seed"] = None
        prompt = str(values["prompt"]) if typed is None else typed
        self.explore.refresh_estimate(prompt, fields)

    def _on_style(self, change: dict[str, Any]) -> None:
        """A style chosen: its parameters go into the controls, where they show (and where
        a change of yours then wins); the last style's parameters go back to what they were."""
        try:
            notes = self._style_params.switch(self.explore.styles.selected())
        except (ValueError, FluxError) as error:
            self._state.notice = error_html(error)
        else:
            if notes:
                style = self.explore.styles.value or "no style"
                self._state.notice = html.escape(f"{style}: " + ", ".join(notes))
        self._refresh_estimate()

    def _save_style(self) -> None:
        """Save the prompt (holding ``{prompt}``) and the shown aspect ratio and format as a
        style under the typed name, then empty the prompt for a subject: the template left
        there would be wrapped in itself ("a drawing of a drawing of prompt")."""
        values = self.controls.values()
        params = {"aspect_ratio": values["aspect_ratio"], "output_format": values["output_format"]}
        try:
            style = self.explore.styles.save(
                self.explore.styles.name_box.value, str(values["prompt"]), params
            )
        except (StyleError, OSError):
            return  # shown next to the button
        self.controls.set("prompt", "")
        self._state.notice = html.escape(
            f"style {style.name} saved and chosen: type a subject for it and Generate"
        )
        focus(self.controls.prompt)

    def _restore_style(self, origin: PromptOrigin | None) -> str:
        """Reuse: select the style an image was made with; a note for the message line."""
        styles = self.explore.styles
        name = origin.style if origin is not None else None
        if name == styles.value:
            return ""
        try:
            styles.value = name
        except StyleError:
            styles.value = None
            return f"style {name} (no longer saved: shown without it)"
        return f"style {name}" if name is not None else "no style"


async def _in_turn(*tasks: asyncio.Task[list[GeneratedImage]]) -> list[GeneratedImage]:
    """The images of ``tasks``, in turn (the served ones first)."""
    return [image for task in tasks for image in await task]
