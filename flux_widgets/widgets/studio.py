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
from typing import Any

import ipywidgets as widgets

from ..client import FluxClient
from ..errors import DownloadError, FluxError, MissingAPIKeyError, PredictionCanceledError
from ..history import History
from ..images import GeneratedImage
from ..params import FluxParams
from ._compat import StaticFallback, is_shown, set_tooltip, show
from ._html import ERROR_COLOR, error_html
from ._sheet import ContactSheet
from ._tasks import TaskSet
from .controls import ParameterControls
from .gallery import Gallery
from .jobs import CANCELLED, DONE, FAILED, JobList, JobRow
from .key_input import KeyInput
from .shortcuts import Shortcuts

MOCK_BANNER = "Mock API: images are placeholders, not FLUX output"
CONTACT_SHEET_IMAGES = 8


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
    ``history_dir`` picks the folder (default: the user data dir).
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
        **kwargs: Any,
    ) -> None:
        self._jobs: list[JobRow] = []
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

        self.banner = widgets.HTML()
        self.key_input = KeyInput()
        self.controls = ParameterControls()
        self.generate_button = widgets.Button(
            description="Generate", button_style="primary", icon="paint-brush"
        )
        set_tooltip(self.generate_button, "start a generation (click again to queue more)")
        self.cancel_all_button = widgets.Button(description="Cancel all", icon="stop")
        self.message = widgets.HTML()
        self.job_list = JobList()
        self.gallery = Gallery(columns=columns, save_dir=save_dir, on_reuse=self.reuse)
        self.clear_history_button = widgets.Button(description="Clear history", icon="trash")
        self.confirm_clear_button = widgets.Button(description="delete", button_style="danger")
        self.keep_history_button = widgets.Button(description="keep")
        self.history_label = widgets.HTML()
        # Ctrl/Cmd+Enter in the prompt generates (an invisible anywidget, scoped to this studio).
        self.shortcuts = Shortcuts()
        self.controls.prompt.add_class(self.shortcuts.scope)
        super().__init__(
            [
                self.banner,
                self.key_input,
                self.controls,
                widgets.HBox(
                    [self.generate_button, self.cancel_all_button, self.message, self.shortcuts]
                ),
                self.job_list,
                self.gallery,
                widgets.HBox(
                    [
                        self.clear_history_button,
                        self.confirm_clear_button,
                        self.keep_history_button,
                        self.history_label,
                    ]
                ),
            ],
            **kwargs,
        )
        # Stable hooks for CSS and the browser tests (tests/test_browser.py).
        self.add_class("flux-studio")
        self.banner.add_class("flux-banner")
        self.generate_button.add_class("flux-generate")
        self.message.add_class("flux-message")
        self.key_input.on_change(self._use_key)
        self.generate_button.on_click(self._on_generate)
        self.shortcuts.on_generate(self._generate_typed)
        self.cancel_all_button.on_click(lambda _: self.cancel_all())
        self.clear_history_button.on_click(lambda _: self._ask_clear(True))
        self.keep_history_button.on_click(lambda _: self._ask_clear(False))
        self.confirm_clear_button.on_click(lambda _: self._confirm_clear())
        self._ask_clear(False)
        self.history = History(history_dir) if history else None
        self._restore()
        self._refresh()

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
        """Every image shown: the history's first (oldest first), then this session's."""
        return self.gallery.images

    @property
    def jobs(self) -> list[JobRow]:
        """One row per generation started here, oldest first."""
        return list(self._jobs)

    def params(self) -> FluxParams:
        """The parameters as the controls show them (ValueError names a bad field)."""
        return self.controls.params()

    def reuse(self, image: GeneratedImage) -> None:
        """Put an image's parameters, with the seed it used, back into the controls."""
        self.controls.set_params(image.recipe)

    def start(self, **params: Any) -> asyncio.Task[list[GeneratedImage]]:
        """Start one generation from the controls (after applying ``params`` to them).

        Returns its task at once; invalid parameters raise ValueError (also shown) and send
        nothing. What the Generate button does.
        """
        try:
            for name, value in params.items():
                self.controls.set(name, value)
            flux_params = self.controls.next_params()
            client = self._require_client()
        except (ValueError, AttributeError, FluxError) as error:
            self._show_error(error)
            raise
        self.message.value = ""
        row = JobRow(flux_params)
        task = self._tasks.spawn(self._run(client, flux_params, row))
        row.attach(task)
        self._jobs.append(row)
        self.job_list.add(row)
        self._refresh()
        return task

    async def generate(self, **params: Any) -> list[GeneratedImage]:
        """Generate from the controls and return the new images.

        A failure is shown in the job row, then raised (a FluxError subclass); a job
        cancelled with its Cancel button raises PredictionCanceledError.
        """
        task = self.start(**params)
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()  # whoever awaited us was cancelled: so is the generation
            raise
        if task.cancelled():
            raise PredictionCanceledError("the generation was cancelled")
        return task.result()

    def cancel_all(self) -> None:
        """Cancel every running generation (each is cancelled on the server too)."""
        for row in self._jobs:
            row.cancel()

    async def wait(self) -> None:
        """Wait until running generations, the history restore and viewer work are done."""
        await self._background.wait()
        await self._tasks.wait()
        await self.gallery.wait()

    def clear_history(self) -> None:
        """Delete every image in the history folder and empty the gallery."""
        if self.history is not None:
            self.history.clear()
        self.gallery.clear()
        self._refresh()

    # -- the generation -------------------------------------------------------------------

    async def _run(
        self, client: FluxClient, params: FluxParams, row: JobRow
    ) -> list[GeneratedImage]:
        try:
            images = await client.generate(params, on_status=row.client_status)
            await self._keep(images)
        except asyncio.CancelledError:
            row.finish(CANCELLED)
            raise
        except PredictionCanceledError as error:
            row.finish(CANCELLED, error)
            raise
        except DownloadError as error:
            await self._keep(error.images)  # paid for: keep what did download
            row.finish(FAILED, error, len(error.images))
            raise
        except Exception as error:
            row.finish(FAILED, error)
            raise
        finally:
            self._refresh()
        row.finish(DONE, image_count=len(images))
        self._refresh()
        return images

    async def _keep(self, images: Sequence[GeneratedImage]) -> None:
        """Write new images to the history and show them, both at once."""
        if not images:
            return
        showing = self.gallery.add_soon(images)  # thumbnails are made while the history writes
        history = self.history
        if history is not None:
            try:
                async with self._history_lock:
                    await asyncio.to_thread(lambda: [history.add(image) for image in images])
            except OSError as error:
                self._show_error(error, prefix="not saved to the history")
        await showing

    def _on_generate(self, _button: Any) -> None:
        try:
            self.start()
        except (ValueError, AttributeError, FluxError, RuntimeError) as error:
            self._show_error(error)  # start() already showed it, except for a missing loop

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
            current = self._client
            provider = None if current is None or current.is_mock else current.provider
            self._client, self._client_from_key = FluxClient(api_key=key, provider=provider), True
        self._refresh()

    def _require_client(self) -> FluxClient:
        if self._client is None:
            raise MissingAPIKeyError(self._client_note or "no client: type an API key above")
        return self._client

    # -- history --------------------------------------------------------------------------

    def _restore(self) -> None:
        if self.history is None:
            return
        try:
            images = list(self.history.load())
        except Exception as error:  # a damaged folder must not stop the studio from opening
            self._show_error(error, prefix="could not read the history")
            return
        if not images:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # plain Python: no loop to hand the thumbnails to
            self.gallery.load_now(images)
        else:
            self._background.spawn(self._show_restored(images))

    async def _show_restored(self, images: Sequence[GeneratedImage]) -> None:
        await self.gallery.load(images)
        self._refresh()

    def _ask_clear(self, asking: bool) -> None:
        count = len(self.images)
        self.confirm_clear_button.description = f"delete {count} image{'s' if count != 1 else ''}"
        show(self.confirm_clear_button, asking)
        show(self.keep_history_button, asking)
        show(self.clear_history_button, not asking)

    def _confirm_clear(self) -> None:
        self._ask_clear(False)
        try:
            self.clear_history()
        except OSError as error:
            self._show_error(error, prefix="could not clear the history")

    # -- display --------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Banner, key field, button label and history line, from the current state."""
        client = self._client
        if client is None:
            self.banner.value = (
                f"<b style='color:{ERROR_COLOR}'>{html.escape(self._client_note)}</b>"
            )
        elif client.is_mock:
            self.banner.value = (
                "<div style='background:#fff3cd;border:1px solid #e0c36a;padding:4px 8px'>"
                f"<b>{MOCK_BANNER}</b>. Type an API key to use the real API.</div>"
            )
        else:
            self.banner.value = ""
        show(self.banner, bool(self.banner.value))
        show(
            self.key_input,
            client is None or client.is_mock or not client.has_api_key or self._client_from_key,
        )
        running = sum(1 for row in self._jobs if not row.finished)
        self.generate_button.description = (
            f"Generate ({running} running)" if running else "Generate"
        )
        show(self.cancel_all_button, running > 0)
        if self.history is not None:
            self.history_label.value = (
                f"<small>{len(self.images)} images · history in "
                f"<code>{html.escape(str(self.history.directory))}</code></small>"
            )
        show(
            self.clear_history_button,
            self.history is not None and not is_shown(self.confirm_clear_button),
        )

    def _show_error(self, error: BaseException, prefix: str = "") -> None:
        self.message.value = error_html(error, prefix)

    def summary(self) -> str:
        """One deterministic line: how many images, and which API made them."""
        count = len(self.images)
        client = self._client
        source = (
            "no client" if client is None else "mock API" if client.is_mock else client.provider
        )
        return f"PromptStudio: {count} image{'s' if count != 1 else ''} ({source})"

    def contact_sheet(self) -> bytes | None:
        """A PNG of the most recent images' thumbnails (None when there are none)."""
        return self._sheet.of(self.images)

    def _static_bundle(self) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.summary()}
        sheet = self.contact_sheet()
        if sheet is not None:
            bundle["image/png"] = sheet
        return bundle

    def __repr__(self) -> str:
        return self.summary()
