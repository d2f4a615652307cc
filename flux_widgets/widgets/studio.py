"""PromptStudio: the whole workflow in one widget, from prompt to saved image.

Controls -> Generate (one asyncio task per click, as many as the client's concurrency allows,
the rest queued) -> a job row per generation -> the gallery, with every image written to the
history at once, so a kernel restart loses nothing. Everything the buttons do is a method too
(``await studio.generate()``), so notebooks, tests and teachers can drive it from code.
"""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..client import FluxClient
from ..errors import (
    DownloadError,
    FluxError,
    MissingAPIKeyError,
    PredictionCanceledError,
    StyleError,
)
from ..history.store import History
from ..images import GeneratedImage, kept_images
from ..params import FIELD_NAMES, FluxParams, PromptOrigin
from ..prompts.plans import CONFIRM_ABOVE_GENERATIONS, BatchPlan, plain_fields
from ..prompts.styles import StyleLibrary
from ..spending.budget import SpendingCap
from ..transport.polling import useful_concurrency
from ._compat import StaticFallback, close_tree, focus, is_shown, set_tooltip, show
from ._html import ERROR_COLOR, STUDIO_CSS, error_html, warning_html
from ._sheet import WIDGET_VIEW, ContactSheet, PictureOutput
from ._tasks import TaskSet, on_home_loop
from .controls import ParameterControls
from .explore_panel import ExplorePanel
from .gallery import Gallery
from .history_browser import HistoryBrowser
from .jobs import CANCELLED, DONE, FAILED, JobList, JobRow, explain_queue
from .key_input import KeyInput
from .provider_picker import (
    ProviderPicker,
    apply_capabilities,
    cancel_tooltip,
    fit_params,
    price_text,
)
from .shortcuts import Shortcuts

MOCK_BANNER = "Mock API: images are placeholders, not FLUX output"
# The live studio's own saved text: the images it made are in the picture output under it.
LIVE_TEXT = "PromptStudio ({source}): its newest images are in the picture below"
CONTACT_SHEET_IMAGES = 8
# Finished recipes remembered for the repeat warning (a set of small frozen dataclasses).
_REMEMBERED_RECIPES = 10_000
# Fields under "Advanced" (the seed's state is shown next to Generate: no need to open it).
_ADVANCED_FIELDS = frozenset(FIELD_NAMES) - {"prompt", "aspect_ratio", "num_outputs", "seed"}


def _field_property(name: str) -> Any:
    """A studio attribute that reads and writes one parameter control."""

    def get(self: PromptStudio) -> Any:
        return self.controls.get(name)

    def set_(self: PromptStudio, value: Any) -> None:
        self.controls.set(name, value)

    return property(get, set_, doc=f"The ``{name}`` control's value (see FluxParams).")


class PromptStudio(StaticFallback, widgets.VBox):  # type: ignore[misc]
    """Prompt, parameters, Generate, job rows and a gallery backed by the on-disk history.

    ``client`` defaults to ``FluxClient()`` (key from the environment), else the mock, whose
    images are placeholders (a banner says so). ``history=False`` keeps nothing on disk;
    ``history_dir`` picks the folder (default: the user data dir). A prompt may hold variants
    and wildcards (a batch: count and cost shown first, asking above ``confirm_above``
    generations); ``styles_dir`` holds saved styles; ``budget`` caps the estimated spend in US
    dollars (``BudgetExceededError`` before any request).
    """

    aspect_ratio = _field_property("aspect_ratio")
    num_outputs = _field_property("num_outputs")
    num_inference_steps = _field_property("num_inference_steps")
    output_format = _field_property("output_format")
    output_quality = _field_property("output_quality")
    megapixels = _field_property("megapixels")
    go_fast = _field_property("go_fast")
    disable_safety_checker = _field_property("disable_safety_checker")

    def __init__(
        self,
        client: FluxClient | None = None,
        *,
        history_dir: str | os.PathLike[str] | None = None,
        history: bool = True,
        save_dir: str | os.PathLike[str] = "flux-images",
        columns: int = 4,
        budget: float | None = None,
        styles_dir: str | os.PathLike[str] | None = None,
        confirm_above: int = CONFIRM_ABOVE_GENERATIONS,
        **kwargs: Any,
    ) -> None:
        self._job_clients: dict[int, FluxClient] = {}  # id(row) -> the client running it
        # Recipes of finished generations (and of the history's images), newest last: for the
        # warning before an exact, paid repeat. A dict keeps insertion order for trimming.
        self._finished_recipes: dict[FluxParams, None] = {}
        self._repeat_confirmed: FluxParams | None = None
        # The history's images while the gallery makes their thumbnails (see _shown_images).
        self._restoring: list[GeneratedImage] = []
        # Job failures are shown in their rows; the restore's in the message line.
        self._tasks = TaskSet(on_error=lambda error: None)
        self._background = TaskSet(lambda error: self._show_error(error, prefix="history"))
        # History.add picks a free file name, then writes: one add at a time.
        self._history_lock = asyncio.Lock()
        self._sheet = ContactSheet(CONTACT_SHEET_IMAGES)
        self._client_note = ""
        self._initial_client = client if client is not None else self._default_client()
        self._client = self._initial_client
        self._client_from_key = False
        # One cap for every client the studio uses (a typed key makes a new client).
        self.spending_cap = SpendingCap(budget) if budget is not None else None
        if self.spending_cap is not None and self._client is not None:
            self._client.set_budget(self.spending_cap)

        self.banner = widgets.HTML()
        # The provider dropdown (FLUX_PROVIDER sets its start): provider_picker.py.
        client_provider = self._client.provider if self._client is not None else None
        self.provider_picker = ProviderPicker(client_provider)
        provider = self.provider_picker.provider
        self.key_input = KeyInput(env_vars=provider.key_env_vars)
        self.key_input.set_provider(provider.title, provider.console)
        self.controls = ParameterControls()
        self._narrowed: dict[str, Any] = {}  # full option lists of dropdowns a provider narrows
        # Styles, what the prompt will send and cost, batches of a template, usage.
        self.explore = ExplorePanel(
            client=lambda: self._client,
            keep=self._keep,
            history=self._usage_history,
            styles=StyleLibrary(styles_dir),
            confirm_above=confirm_above,
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
        self.capacity_note = widgets.HTML()
        self.job_list = JobList()
        self.style_sheet = widgets.HTML(STUDIO_CSS, layout={"display": "none"})
        # The static picture's output, updated after generations (a saved notebook's fallback).
        self._picture = PictureOutput(self._static_bundle)
        self.gallery = Gallery(columns=columns, save_dir=save_dir, on_reuse=self.reuse)
        self.clear_history_button = widgets.Button(description="Clear history", icon="trash")
        self.confirm_clear_button = widgets.Button(description="delete", button_style="danger")
        self.keep_history_button = widgets.Button(description="keep")
        self.undo_clear_button = widgets.Button(description="undo", icon="undo")
        self.history_label = widgets.HTML()
        # Rows wrap rather than overflow: no horizontal scrollbar in a narrow cell.
        wrap = {"flex_flow": "row wrap", "align_items": "center"}
        # The whole history, browsed a page at a time: built when first opened.
        self.history_section = widgets.Accordion(children=[widgets.VBox()], selected_index=None)
        self.history_browser: HistoryBrowser | None = None
        self._history_count = 0  # entries in the history folder, as last counted
        self._last_clear: str | None = None  # the trash batch "undo" brings back
        self._indexing = False  # a folder from before the index is being indexed
        # Ctrl/Cmd+Enter in the prompt generates (an invisible anywidget, scoped to this studio).
        self.shortcuts = Shortcuts()
        self.controls.prompt.add_class(self.shortcuts.scope)
        super().__init__(
            [
                self.style_sheet,
                self.banner,
                self.provider_picker,
                self.key_input,
                self.controls,
                self.explore,
                widgets.HBox(
                    [
                        self.generate_button,
                        self.controls.seed_state,
                        self.controls.seed_switch,
                        self.cancel_all_button,
                        self.shortcuts,
                    ],
                    layout=wrap,
                    _dom_classes=("flux-generate-row",),
                ),
                self.message,
                self.capacity_note,
                self.job_list,
                self.gallery,
                self.history_section,
                widgets.HBox(
                    [
                        self.clear_history_button,
                        self.confirm_clear_button,
                        self.keep_history_button,
                        self.undo_clear_button,
                        self.history_label,
                    ],
                    layout=wrap,
                ),
            ],
            **kwargs,
        )
        # Stable hooks for CSS and the browser tests (tests/browser/test_studio.py).
        self.add_class("flux-studio")
        self.banner.add_class("flux-banner")
        self.generate_button.add_class("flux-generate")
        self.message.add_class("flux-message")
        self.key_input.on_change(self._use_key)
        self.provider_picker.on_change(self.use_provider)
        self._fit_controls()
        # Clicks may arrive on another thread's event loop (a kernel subshell): see on_home_loop.
        self.generate_button.on_click(on_home_loop(self._on_generate))
        self.shortcuts.on_generate(on_home_loop(self._generate_typed))
        self.cancel_all_button.on_click(on_home_loop(lambda _: self.cancel_all()))
        self.clear_history_button.on_click(lambda _: self._ask_clear(True))
        self.keep_history_button.on_click(lambda _: self._ask_clear(False))
        self.confirm_clear_button.on_click(lambda _: self._confirm_clear())
        self.undo_clear_button.on_click(lambda _: self._background.spawn(self.undo_clear()))
        self.history_section.observe(self._open_history_section, names="selected_index")
        for control in (self.controls.prompt, self.controls.num_outputs, self.controls.megapixels):
            control.observe(lambda _: self._refresh_estimate(), names="value")
        self._input_error = False  # the message line shows a refused input
        for control in self.controls.field_widgets.values():
            control.observe(self._input_changed, names="value")
        self.controls.lock_seed.observe(self._input_changed, names="value")
        self.explore.styles.dropdown.observe(self._on_style, names="value")
        self.explore.styles.save_button.on_click(lambda _: self._save_style())
        show(self.undo_clear_button, False)
        self.history = History(history_dir) if history else None
        self._ask_clear(False)
        self.history_section.set_title(0, "History")
        show(self.history_section, self.history is not None)
        self._restore()
        self._refresh()
        self._refresh_estimate()

    # -- driving it from code -------------------------------------------------------------

    @property
    def prompt(self) -> str:
        """The prompt text box's value."""
        return str(self.controls.prompt.value)

    @prompt.setter
    def prompt(self, text: str) -> None:
        self.controls.set("prompt", text)

    @property
    def seed(self) -> int | None:
        """The locked seed, or None while unlocked (a fresh seed per generation)."""
        return self.controls.get("seed")  # type: ignore[no-any-return]

    @seed.setter
    def seed(self, value: int | None) -> None:
        self.controls.set("seed", value)

    @property
    def client(self) -> FluxClient | None:
        """The client new generations use (running ones keep theirs)."""
        return self._client

    @property
    def images(self) -> list[GeneratedImage]:
        """The gallery's images, oldest first: the history's newest page when the studio
        opened, then this session's. The whole history: ``history`` or the History section."""
        return self.gallery.images

    @property
    def jobs(self) -> list[JobRow]:
        """The rows of generations started here that are still listed (every running one and
        the job list's last finished ones), oldest first. Dropped rows are closed."""
        return self.job_list.rows[::-1]

    def params(self) -> FluxParams:
        """The parameters as the controls show them (ValueError names a bad field)."""
        return self.controls.params()

    def reuse(self, image: GeneratedImage) -> None:
        """Put an image's parameters, with the seed it used, back into the controls (the seed
        locked); say what changed in the message line and bring the controls into view."""
        before = self.controls.values()
        was_locked = self.controls.seed_locked
        # An image made on another provider: what this one cannot honour takes its default.
        recipe, adjusted = fit_params(image.recipe, self.provider_picker.provider)
        origin = image.origin
        if origin is not None:  # the template as typed, not one of its expansions
            recipe = recipe.replace(prompt=origin.template)
        self.controls.set_params(recipe)
        style_note = self._restore_style(origin)
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
                changes.append(label if name == "prompt" else f"{label} {old} → {new}")
        if style_note:
            changes.append(style_note)
        text = "reuse: " + (", ".join(changes) if changes else "the controls already match")
        if adjusted:
            text += "; not available here: " + ", ".join(adjusted)
        self.message.value = f"<span class='flux-reuse'>{html.escape(text)}</span>"
        if changed & _ADVANCED_FIELDS:
            self.controls.advanced.selected_index = 0  # show the advanced fields it changed
        focus(self.controls.prompt)  # the browser scrolls the focused prompt into view

    def is_repeat(self, params: FluxParams) -> bool:
        """Whether ``params`` would exactly repeat a finished generation: same recipe, same
        seed, and go_fast off (fp8's non-determinism is what makes a repeat worth paying for
        with go_fast on)."""
        return params.seed is not None and not params.go_fast and params in self._finished_recipes

    def start(
        self, *, confirmed: bool = False, **params: Any
    ) -> asyncio.Task[list[GeneratedImage]] | None:
        """Start a generation from the controls (after applying ``params`` to them).

        Returns its task at once; invalid parameters (or a template or style that cannot be
        used, or a cap it would pass) raise (also shown) and send nothing. A prompt with
        variants or wildcards starts a batch, one row for all of it; above ``confirm_above``
        generations it asks first and returns None (*send* starts it) unless ``confirmed``.
        What the Generate button does.
        """
        try:
            for name, value in params.items():
                self.controls.set(name, value)
            flux_params = self.controls.next_params()
            client = self._require_client()
            client.provider_info.check(flux_params)  # ValueError naming it, before any request
            plan = self.explore.plan(flux_params.prompt, plain_fields(flux_params))
            if plan.generations > 1:
                return self._start_batch(plan, confirmed=confirmed)
            if plan.base != flux_params:  # a style changed the prompt
                flux_params = plan.base
                client.provider_info.check(flux_params)
            origin = plan.origin if plan.origin.style is not None else None
        except (ValueError, AttributeError, FluxError) as error:
            self._show_error(error)
            raise
        self.message.value = ""
        row = JobRow(flux_params)
        row.estimate = price_text(client.provider, flux_params)
        set_tooltip(row.cancel_button, cancel_tooltip(client.provider_info))
        task = self._tasks.start(self._run(client, flux_params, row, origin))
        row.attach(task)
        self._job_clients[id(row)] = client
        self.job_list.add(row)
        row.observe(self._on_job_state, names=["state"])  # after the list's: it prunes first
        self._explain_queue()
        self._refresh()
        return task

    async def generate(self, *, confirmed: bool = False, **params: Any) -> list[GeneratedImage]:
        """Generate from the controls and return the new images (a template's: all of them).

        A failure is shown in the job row, then raised (a FluxError subclass); a job
        cancelled with its Cancel button raises PredictionCanceledError. A template above
        ``confirm_above`` generations raises ValueError unless ``confirmed`` (the studio
        shows its question too).
        """
        task = self.start(confirmed=confirmed, **params)
        if task is None:
            raise ValueError(
                f"{self.explore.estimate.text}: the studio asks before sending more than "
                f"{self.explore.confirm_above} generations; pass confirmed=True, or click send"
            )
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()  # whoever awaited us was cancelled: so is the generation
            raise
        if task.cancelled():
            raise PredictionCanceledError("the generation was cancelled")
        return task.result()

    def cancel_all(self) -> None:
        """Cancel every running generation and batch (each is cancelled on the server too)."""
        for row in self.jobs:
            row.cancel()
        self.explore.cancel_all()

    def close(self) -> None:
        """Cancel running generations and close the studio with every widget it made (rows,
        gallery, controls, their layouts and styles)."""
        self.cancel_all()
        self._background.cancel_all()
        if self.history_browser is not None:
            self.history_browser.cancel()  # its page loads and thumbnails
        self._picture.close()  # displayed in its own output, not a child
        close_tree(self)

    async def wait(self) -> None:
        """Wait until running generations, the history restore and viewer work are done."""
        await self._background.wait()
        await self._tasks.wait()
        await self.explore.wait()
        await self.gallery.wait()
        if self.history_browser is not None:
            await self.history_browser.wait()

    def clear_history(self) -> str | None:
        """Move every image in the history folder to its trash (``undo_clear`` brings them
        back) and empty the gallery; returns the trash batch. Blocks: the button runs it in a
        worker thread."""
        batch = self.history.clear() if self.history is not None else None
        self._cleared(batch)
        return batch

    async def undo_clear(self) -> int:
        """Bring back what the last "Clear history" moved to the trash; returns how many."""
        history, batch = self.history, self._last_clear
        if history is None or batch is None:
            return 0
        self._last_clear = None
        show(self.undo_clear_button, False)
        self.message.value = "bringing the images back from the trash…"
        count = await asyncio.to_thread(history.undo, batch)
        self.message.value = f"{count:,} image{_s(count)} back in the history"
        await self._show_restored()
        return count

    # -- the generation -------------------------------------------------------------------

    async def _run(
        self,
        client: FluxClient,
        params: FluxParams,
        row: JobRow,
        origin: PromptOrigin | None = None,
    ) -> list[GeneratedImage]:
        try:
            images = await client.generate(
                params, on_status=row.client_status, on_detail=row.client_detail, origin=origin
            )
            images = await self._keep(images)
        except asyncio.CancelledError:
            row.finish(CANCELLED)
            raise
        except PredictionCanceledError as error:
            row.finish(CANCELLED, error)
            raise
        except DownloadError as error:
            kept = kept_images(error)
            await self._keep(kept)  # paid for: keep what did download
            row.finish(FAILED, error, len(kept))
            await self._update_fallback()
            raise
        except Exception as error:
            row.finish(FAILED, error)
            raise
        finally:
            self._refresh()
        self._remember(params)
        row.finish(DONE, image_count=len(images))
        self._refresh()
        # Before returning: a notebook run by nbclient records the picture within this cell.
        await self._update_fallback()
        return images

    async def _keep(self, images: Sequence[GeneratedImage]) -> list[GeneratedImage]:
        """Write new images to the history and show them, both at once; returns them as
        stored (their thumbnails cached in the history, so a reopened studio decodes none)."""
        shown = list(images)
        if not shown:
            return shown
        showing = self.gallery.add_soon(shown)  # thumbnails are made while the history writes
        kept = shown
        history = self.history
        if history is not None:

            def add_all() -> tuple[list[GeneratedImage], int]:  # one thread call per batch
                return [history.store(image) for image in shown], len(history)

            try:
                async with self._history_lock:
                    kept, self._history_count = await asyncio.to_thread(add_all)
            except OSError as error:
                self._show_error(error, prefix="not saved to the history")
            else:
                # The gallery made its thumbnails from the images in hand; the history's cache
                # gets its own copies off the loop, after the new images are on screen.
                stored = list(kept)
                self._background.spawn(asyncio.to_thread(lambda: [i.thumbnail() for i in stored]))
            if self.history_browser is not None:
                self._background.spawn(self.history_browser.reload())
        await showing
        # What generate() returns is what the gallery shows: the stored copies.
        self.gallery.swap(list(zip(shown, kept, strict=True)))
        return kept

    def _on_generate(self, _button: Any) -> None:
        try:
            params = self.controls.params()
        except ValueError as error:
            # Something to type differently, said in words (no Python error name), until
            # the controls change (``_input_changed``).
            self.message.value = (
                f"<span style='color:{ERROR_COLOR}'>{html.escape(str(error))}</span>"
            )
            self._input_error = True
            return
        if self.is_repeat(params) and self._repeat_confirmed != params:
            # Same seed, same recipe, go_fast off: the images would be the same ones, paid again.
            self._repeat_confirmed = params
            self.message.value = warning_html(
                f"This repeats a finished generation exactly (seed {params.seed}, go fast off): "
                "the same images, paid again. Click Generate again to make them anyway, or "
                "change the seed (unlock it for a random one)."
            )
            return
        self._repeat_confirmed = None
        try:
            self.start()
        except (ValueError, AttributeError, FluxError, RuntimeError) as error:
            self._show_error(error)  # start() already showed it, except for a missing loop

    def _input_changed(self, _change: Any) -> None:
        if self._input_error:
            self._input_error = False
            self.message.value = ""

    def _generate_typed(self, prompt: str) -> None:
        # Ctrl/Cmd+Enter: the text as typed (the Textarea syncs only on blur), then Generate.
        self.prompt = prompt
        self._on_generate(None)

    # -- clients and keys -----------------------------------------------------------------

    def _default_client(self) -> FluxClient | None:
        try:
            return FluxClient()
        except MissingAPIKeyError:
            pass
        try:
            return FluxClient.mock()
        except FluxError as error:
            self._client_note = f"no API key and no mock API ({error}): type a key below"
            return None

    def _use_key(self, key: str | None) -> None:
        if key is None:
            self._client, self._client_from_key = self._initial_client, False
        else:
            provider = self.provider_picker.value  # a key belongs to the provider shown
            self._client, self._client_from_key = FluxClient(api_key=key, provider=provider), True
            if self.spending_cap is not None:
                self._client.set_budget(self.spending_cap)
        self._refresh()
        self._refresh_estimate()

    def use_provider(self, name: str) -> None:
        """Send new generations to provider ``name`` (running ones keep theirs), with its key
        from the environment, else the mock; the controls then offer only what it honours.
        What the Provider dropdown does; an unknown name raises ValueError."""
        current = self._client
        if current is not None and current.provider == name:
            self.provider_picker.revert(name)
            return
        try:
            client = self._client_for(name)
        except (ValueError, FluxError) as error:
            self._show_error(error)
            if current is not None:
                self.provider_picker.revert(current.provider)
            raise
        if self.spending_cap is not None:
            client.set_budget(self.spending_cap)  # one budget across the studio's providers
        self._client = self._initial_client = client
        if self._client_from_key:
            self.key_input.api_key = None  # a typed key belongs to the provider it was for
        self._client_from_key = False
        info = client.provider_info
        self.key_input.set_provider(info.title, info.console)
        self.provider_picker.revert(client.provider)
        self._fit_controls()
        self._refresh()
        self._refresh_estimate()  # another provider, another price

    def _client_for(self, name: str) -> FluxClient:
        current = self._client
        try:
            if current is not None:
                return current.with_provider(name)
            return FluxClient(provider=name)
        except MissingAPIKeyError:  # no key for it in the environment: its mock, and a banner
            return FluxClient.mock(provider=name)

    def _fit_controls(self) -> None:
        """Grey out and narrow the controls to what the current provider honours."""
        apply_capabilities(
            self.controls.field_widgets, self.provider_picker.provider, self._narrowed
        )

    def _require_client(self) -> FluxClient:
        if self._client is None:
            raise MissingAPIKeyError(self._client_note or "no client: type an API key above")
        return self._client

    # -- templates, styles, batches -------------------------------------------------------

    def _start_batch(
        self, plan: BatchPlan, *, confirmed: bool
    ) -> asyncio.Task[list[GeneratedImage]] | None:
        self.message.value = ""
        task = self.explore.submit(plan, ask=not confirmed)
        if task is not None:
            task.add_done_callback(lambda _: self._refresh())
        self._refresh()
        return task

    def _refresh_estimate(self) -> None:
        values = self.controls.values()
        fields = {k: v for k, v in values.items() if k not in ("prompt", "seed")}
        self.explore.refresh_estimate(str(values["prompt"]), fields)

    def _on_style(self, change: dict[str, Any]) -> None:
        """A style chosen: its parameters go into the controls, where they show (and where
        a change of yours then wins)."""
        try:
            style = self.explore.styles.selected()
            if style is not None:
                for name, value in style.params.items():
                    self.controls.set(name, value)
        except (ValueError, FluxError) as error:
            self._show_error(error)
        self._refresh_estimate()

    def _save_style(self) -> None:
        """Save the prompt (holding ``{prompt}``) and the shown aspect ratio and format as a
        style under the typed name."""
        values = self.controls.values()
        params = {"aspect_ratio": values["aspect_ratio"], "output_format": values["output_format"]}
        try:
            self.explore.styles.save(
                self.explore.styles.name_box.value, str(values["prompt"]), params
            )
        except (StyleError, OSError):
            return  # shown next to the button

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

    def _usage_history(self) -> Any:
        """What the usage view counts for today and the whole history: the history index's
        records (no image is read), or this session's images without a history."""
        history = self.history
        if history is None:
            return list(self.images)
        return history.page(0, max(1, len(history)))

    # -- history --------------------------------------------------------------------------

    def _restore(self) -> None:
        """Show the history's newest page; only that page's images are read (the index lists
        them), in a worker thread when a loop runs, so the studio opens at once."""
        history = self.history
        if history is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # plain Python: no loop to hand the work to
            try:
                images, self._history_count = history.recent(self.gallery.page_size), len(history)
            except Exception as error:  # a damaged folder must not stop the studio from opening
                self._show_error(error, prefix="could not read the history")
                return
            for image in images:
                self._remember(image.params)
            self.gallery.load_now(images)
        else:
            # A folder from before the index: its records are read once (~0.1 ms each).
            self._indexing = not history.index.path.exists() and history.directory.is_dir()
            self._background.spawn(self._show_restored())

    async def _show_restored(self) -> None:
        history = self.history
        if history is None:
            return
        try:
            images, self._history_count = await asyncio.to_thread(
                lambda: (history.recent(self.gallery.page_size), len(history))
            )
        except Exception as error:  # a damaged folder must not stop the studio from opening
            self._show_error(error, prefix="could not read the history")
            return
        finally:
            self._indexing = False
        for image in images:
            self._remember(image.params)
        # Images made while the history was read are in the gallery already: keep them last.
        made_here = self.gallery.images
        keys = {_identity(image) for image in made_here}
        restored = [image for image in images if _identity(image) not in keys] + made_here
        # Until the gallery has them, the static picture and summary use them from here.
        self._restoring = restored
        await self.gallery.load(restored)
        self._restoring = []
        self._refresh()
        await self._update_fallback()

    def _open_history_section(self, change: dict[str, Any]) -> None:
        if change["new"] is None or self.history_browser is not None or self.history is None:
            return
        self.history_browser = HistoryBrowser(
            self.history,
            on_open=self.gallery.open_image,
            on_reuse=self.reuse,
            on_count=self._history_counted,
        )
        self.history_section.children = [self.history_browser]
        self._background.spawn(self.history_browser.reload())

    def _ask_clear(self, asking: bool) -> None:
        count = self._history_count if self.history is not None else len(self.images)
        self.confirm_clear_button.description = f"delete {count:,} image{_s(count)}"
        show(self.confirm_clear_button, asking)
        show(self.keep_history_button, asking)
        show(self.clear_history_button, not asking)
        if asking and self.history is not None:
            self.history_label.value = (
                f"Delete all {count:,} image{_s(count)} in "
                f"<code>{html.escape(_home_short(self.history.directory))}</code>? "
                "They go to its trash; <i>undo</i> brings them back."
            )
        else:
            self._refresh()

    def _confirm_clear(self) -> None:
        self._ask_clear(False)
        history = self.history
        if history is None:
            self.clear_history()
            return

        async def clear() -> None:
            count = self._history_count
            # ~0.1 ms per image: 100,000 take seconds, in a worker thread.
            self.message.value = f"moving {count:,} image{_s(count)} to the history's trash…"
            try:
                batch = await asyncio.to_thread(history.clear)
            except OSError as error:
                self._show_error(error, prefix="could not clear the history")
                return
            self._cleared(batch)

        self._background.spawn(clear())

    def _history_counted(self, count: int) -> None:
        # The browser read the index (a delete, an undo, a page): one count everywhere.
        if count != self._history_count:
            self._history_count = count
            self._refresh()

    def _cleared(self, batch: str | None) -> None:
        moved = self._history_count
        self._last_clear = batch
        self._history_count = 0
        self.gallery.clear()
        if batch is not None:
            self.message.value = f"moved {moved:,} image{_s(moved)} to the history's trash"
        show(self.undo_clear_button, batch is not None)
        if self.history_browser is not None:
            self._background.spawn(self.history_browser.reload())
        self._refresh()

    # -- jobs and their queue -------------------------------------------------------------

    def _remember(self, params: FluxParams) -> None:
        recipes = self._finished_recipes
        recipes.pop(params, None)
        recipes[params] = None
        while len(recipes) > _REMEMBERED_RECIPES:
            del recipes[next(iter(recipes))]

    def _on_job_state(self, change: dict[str, Any]) -> None:
        row = change["owner"]
        if row.finished:
            row.unobserve(self._on_job_state, names=["state"])
        self._explain_queue()
        self._refresh()

    def _explain_queue(self) -> None:
        """Tell each waiting row why it waits (``jobs.explain_queue``)."""
        jobs = self.jobs
        # Rows the job list dropped (and closed) are forgotten with their client.
        listed = {id(row) for row in jobs}
        for key in [key for key in self._job_clients if key not in listed]:
            del self._job_clients[key]
        explain_queue(jobs, lambda row: self._job_clients[id(row)])

    def capacity_warning(self) -> str:
        """Why some of the client's ``max_concurrency`` cannot be used, or "" when all can."""
        client = self._client
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

    # -- display --------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Banner, key field, button label and history line, from the current state."""
        client = self._client
        if client is None:
            self.banner.value = (
                f"<b style='color:{ERROR_COLOR}'>{html.escape(self._client_note)}</b>"
            )
        elif client.is_mock:
            # Colours from the theme (STUDIO_CSS): readable in light and dark alike.
            self.banner.value = (
                f"<div class='flux-mock-banner'><b>{MOCK_BANNER}</b>. "
                "Type an API key to use the real API.</div>"
            )
        else:
            self.banner.value = ""
        show(self.banner, bool(self.banner.value))
        show(
            self.key_input,
            client is None or client.is_mock or not client.has_api_key or self._client_from_key,
        )
        running = sum(1 for row in self.job_list.rows if not row.finished)
        self.generate_button.description = (
            f"Generate ({running} running)" if running else "Generate"
        )
        show(self.cancel_all_button, running > 0)
        capacity = self.capacity_warning()
        self.capacity_note.value = warning_html(capacity) if capacity else ""
        show(self.capacity_note, bool(capacity))
        if self.history is not None:
            count = self._history_count
            where = f"<code>{html.escape(_home_short(self.history.directory))}</code>"
            self.history_label.value = (
                f"<small>indexing the history in {where} (once per folder)…</small>"
                if self._indexing
                else f"<small>{count:,} image{_s(count)} in the history, {where}</small>"
            )
            self.history_section.set_title(0, f"History ({count:,} image{_s(count)})")
        show(
            self.clear_history_button,
            self.history is not None and not is_shown(self.confirm_clear_button),
        )

    def _show_error(self, error: BaseException, prefix: str = "") -> None:
        self.message.value = error_html(error, prefix)

    def summary(self) -> str:
        """One deterministic line: how many images, and which API made them."""
        count = len(self._shown_images())
        return f"PromptStudio: {count} image{'s' if count != 1 else ''} ({self._source()})"

    def _source(self) -> str:
        client = self._client
        return "no client" if client is None else "mock API" if client.is_mock else client.provider

    def contact_sheet(self) -> bytes | None:
        """A PNG of the most recent images' thumbnails (None when there are none)."""
        return self._sheet.of(self._shown_images())

    def _shown_images(self) -> list[GeneratedImage]:
        # The history's images count from the start, while their thumbnails are still made.
        return self.images or self._restoring

    def _static_bundle(self) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.summary()}
        sheet = self.contact_sheet()
        if sheet is not None:
            bundle["image/png"] = sheet
        return bundle

    def _ipython_display_(self, **kwargs: Any) -> None:
        """Show the studio, then its static picture in an output kept up to date
        (``PictureOutput``)."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)  # type: ignore[no-untyped-call]
        handle_displayed = getattr(self, "_handle_displayed", None)
        if handle_displayed is not None:  # ipywidgets 7 fires on_displayed callbacks here
            handle_displayed(**kwargs)
        self._picture.display()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(include, exclude)
        if WIDGET_VIEW in bundle:
            # Live: the picture goes in the separate output that follows (_ipython_display_),
            # kept up to date; this output's text is saved as it was at display time, so it
            # names no count that the picture below would contradict.
            bundle.pop("image/png", None)
            bundle["text/plain"] = LIVE_TEXT.format(source=self._source())
        return bundle

    async def _update_fallback(self) -> None:
        await self._picture.update()

    def __repr__(self) -> str:
        return self.summary()


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _home_short(path: Path) -> str:
    """``~/...`` for a folder under the home folder: what a person recognises."""
    try:
        return str(Path("~") / path.resolve().relative_to(Path.home().resolve()))
    except (ValueError, RuntimeError):
        return str(path)


def _identity(image: GeneratedImage) -> tuple[object, ...]:
    # The same image read back from the history is another object with the same identity.
    return (image.prediction_id, image.index, image.seed, image.created_at)
