"""PromptStudio: the whole workflow in one widget, from prompt to saved image.

Controls -> Generate (one asyncio task per click, as many as the client's concurrency allows,
the rest queued) -> a job row per generation -> the gallery, with every image written to the
history at once, so a kernel restart loses nothing. Everything the buttons do is a method too
(``await studio.generate()``), so notebooks, tests and teachers can drive it from code.

The studio is a column of panels (``PromptStudio.panels``), each a module of this package with
one job, sharing the state the studio declares as traits (``state.py``); the studio itself only
builds them, lays them out, and answers for them from code.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Generic, TypeVar, overload

import ipywidgets as widgets

from ...client import FluxClient
from ...errors import PredictionCanceledError
from ...images import GeneratedImage
from ...params import FIELD_NAMES, FluxParams
from ...prompts.plans import CONFIRM_ABOVE_GENERATIONS
from ...spending.budget import SpendingCap
from .._compat import StaticFallback, close_tree
from .._html import STUDIO_CSS
from .._sheet import WIDGET_VIEW, ContactSheet, PictureOutput
from ..gallery import Gallery
from ..jobs import JobRow
from .controls_panel import ControlsPanel
from .history_panel import HistoryPanel
from .jobs_panel import JobsPanel
from .provider_panel import ProviderPanel
from .repeats import FinishedRecipes
from .state import Panel, StudioState

# The live studio's own saved text: the images it made are in the picture output under it.
LIVE_TEXT = "PromptStudio ({source}): its newest images are in the picture below"
CONTACT_SHEET_IMAGES = 8

T = TypeVar("T")


class ControlValue(Generic[T]):
    """A studio attribute that reads and writes one parameter control (see FluxParams)."""

    def __init__(self, name: str, doc: str = "") -> None:
        self.name = name
        self.__doc__ = doc or f"The ``{name}`` control's value (see FluxParams)."

    @overload
    def __get__(self, studio: None, owner: type) -> ControlValue[T]: ...
    @overload
    def __get__(self, studio: PromptStudio, owner: type) -> T: ...
    def __get__(self, studio: PromptStudio | None, owner: type) -> Any:
        return self if studio is None else studio.controls.get(self.name)

    def __set__(self, studio: PromptStudio, value: T) -> None:
        studio.controls.set(self.name, value)  # ValueError for what the schema refuses


class Part:
    """A widget of one of the studio's panels, under the name the studio has always given it."""

    def __init__(self, panel: str, name: str) -> None:
        self.panel, self.name = panel, name

    def __get__(self, studio: PromptStudio | None, owner: type) -> Any:
        return self if studio is None else getattr(getattr(studio, self.panel), self.name)


class PromptStudio(StaticFallback, StudioState, widgets.VBox):  # type: ignore[misc]
    """Prompt, parameters, Generate, job rows and a gallery backed by the on-disk history.

    ``client`` defaults to ``FluxClient()`` (key from the environment), else the mock, whose
    images are placeholders (a banner says so). ``history=False`` keeps nothing on disk;
    ``history_dir`` picks the folder (default: the user data dir). A prompt may hold variants
    and wildcards (a batch: count and cost shown first, asking above ``confirm_above``
    generations); ``styles_dir`` holds saved styles; ``budget`` caps the estimated spend in US
    dollars (``BudgetExceededError`` before any request).
    """

    # Each schema field's control as an attribute, typed for type checkers; a field without a
    # line here gets an untyped one below the class (FIELD_NAMES), so none is ever missing.
    prompt = ControlValue[str]("prompt", "The prompt text box's value.")
    seed = ControlValue[int | None](
        "seed", "The locked seed, or None while unlocked (a fresh seed per generation)."
    )
    aspect_ratio = ControlValue[str]("aspect_ratio")
    num_outputs = ControlValue[int]("num_outputs")
    num_inference_steps = ControlValue[int]("num_inference_steps")
    output_format = ControlValue[str]("output_format")
    output_quality = ControlValue[int]("output_quality")
    megapixels = ControlValue[str]("megapixels")
    go_fast = ControlValue[bool]("go_fast")
    disable_safety_checker = ControlValue[bool]("disable_safety_checker")

    # The panels' widgets under their old names (notebooks and tests reach them so).
    banner = Part("provider_panel", "banner")
    provider_picker = Part("provider_panel", "provider_picker")
    key_input = Part("provider_panel", "key_input")
    controls = Part("controls_panel", "controls")
    explore = Part("controls_panel", "explore")
    shortcuts = Part("controls_panel", "shortcuts")
    generate_button = Part("controls_panel", "generate_button")
    cancel_all_button = Part("controls_panel", "cancel_all_button")
    message = Part("controls_panel", "message")
    capacity_note = Part("jobs_panel", "capacity_note")
    job_list = Part("jobs_panel", "job_list")
    history_section = Part("history_panel", "section")
    history_browser = Part("history_panel", "browser")
    clear_history_button = Part("history_panel", "clear_button")
    confirm_clear_button = Part("history_panel", "confirm_button")
    keep_history_button = Part("history_panel", "keep_button")
    undo_clear_button = Part("history_panel", "undo_button")
    history_label = Part("history_panel", "label")

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
        # One cap for every client the studio uses (a typed key makes a new client).
        self.spending_cap = SpendingCap(budget) if budget is not None else None
        self.finished = FinishedRecipes()
        self._sheet = ContactSheet(CONTACT_SHEET_IMAGES)
        # The static picture's output, updated after generations (a saved notebook's fallback).
        self._picture = PictureOutput(self._static_bundle)
        update_picture = self._picture.update
        self.provider_panel = ProviderPanel(self, client, self.spending_cap)
        self.gallery = Gallery(columns=columns, save_dir=save_dir, on_reuse=self.reuse)
        self.history_panel = HistoryPanel(
            self,
            self.gallery,
            directory=history_dir,
            enabled=history,
            finished=self.finished,
            reuse=self.reuse,
            update_picture=update_picture,
        )
        keep, serve = self.history_panel.keep, self.history_panel.serve
        self.jobs_panel = JobsPanel(
            self, keep=keep, serve=serve, finished=self.finished, update_picture=update_picture
        )
        self.controls_panel = ControlsPanel(
            self,
            start_job=self.jobs_panel.start,
            keep=keep,
            serve=serve,
            usage_records=self._usage_records,
            cancel_all=self.cancel_all,
            finished=self.finished,
            styles_dir=styles_dir,
            confirm_above=confirm_above,
        )
        # The panels, top to bottom: a new panel is its module plus its line here.
        self.panels: tuple[Panel, ...] = (
            self.provider_panel,
            self.controls_panel,
            self.jobs_panel,
            self.gallery,
            self.history_panel,
        )
        self.style_sheet = widgets.HTML(STUDIO_CSS, layout={"display": "none"})
        super().__init__([self.style_sheet, *self.panels], **kwargs)
        self.add_class("flux-studio")  # a stable hook for CSS and the browser tests
        self.history_panel.restore()

    # -- driving it from code -------------------------------------------------------------

    @property
    def images(self) -> list[GeneratedImage]:
        """The gallery's images, oldest first: the history's newest page when the studio
        opened, then this session's. The whole history: ``history`` or the History section."""
        return self.gallery.images

    @property
    def jobs(self) -> list[JobRow]:
        """The rows of generations started here that are still listed (every running one and
        the job list's last finished ones), oldest first. Dropped rows are closed."""
        return self.jobs_panel.jobs

    def params(self) -> FluxParams:
        """The parameters as the controls show them (ValueError names a bad field)."""
        return self.controls.params()  # type: ignore[no-any-return]

    def reuse(self, image: GeneratedImage) -> None:
        """Put an image's parameters, with the seed it used, back into the controls (the seed
        locked); say what changed in the message line and bring the controls into view."""
        self.controls_panel.reuse(image)

    def is_repeat(self, params: FluxParams) -> bool:
        """Whether ``params`` would exactly repeat a generation finished in this session: same
        recipe, same seed, and go_fast off (fp8's non-determinism is what makes a repeat worth
        paying for with go_fast on). Without a history the studio warns before such a repeat;
        with one, it serves it from there (across sessions: ``history.repeats``)."""
        return self.finished.is_repeat(params)

    def start(
        self, *, confirmed: bool = False, make_again: bool = False, **params: Any
    ) -> asyncio.Task[list[GeneratedImage]] | None:
        """Start a generation from the controls (after applying ``params`` to them).

        Returns its task at once; invalid parameters (or a template or style that cannot be
        used, or a cap it would pass) raise (also shown) and send nothing. A prompt with
        variants or wildcards starts a batch, one row for all of it; above ``confirm_above``
        generations it asks first and returns None (*send* starts it) unless ``confirmed``.
        An exact repeat the history holds (fixed seed, go_fast off, same provider) is shown
        from it at no cost, labelled "from history", unless ``make_again`` (pay for a fresh
        one; a batch: only its other items are made). What the Generate button does.
        """
        return self.controls_panel.start(confirmed=confirmed, make_again=make_again, **params)

    async def generate(
        self, *, confirmed: bool = False, make_again: bool = False, **params: Any
    ) -> list[GeneratedImage]:
        """Generate from the controls and return the new images (a template's: all of them;
        an exact repeat's: the history's, unless ``make_again``: see ``start``).

        A failure is shown in the job row, then raised (a FluxError subclass); a job
        cancelled with its Cancel button raises PredictionCanceledError. A template above
        ``confirm_above`` generations raises ValueError unless ``confirmed`` (the studio
        shows its question too).
        """
        task = self.start(confirmed=confirmed, make_again=make_again, **params)
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
        """Cancel every running generation and batch (each is cancelled on the server too).

        Only the panels that start generations: the gallery's thumbnails and the history's
        reads are of images already paid for, and go on."""
        self.jobs_panel.cancel()
        self.controls_panel.cancel()

    def close(self) -> None:
        """Cancel running generations and close the studio with every widget it made (rows,
        gallery, controls, their layouts and styles): each panel's own ``cancel`` and
        ``close`` first, then whatever is left of the tree."""
        for panel in self.panels:
            panel.cancel()
        for panel in self.panels:
            panel.close()
        self._picture.close()  # displayed in its own output, not a child
        close_tree(self)

    async def wait(self) -> None:
        """Wait until running generations, the history restore and viewer work are done."""
        for panel in self.panels:
            await panel.wait()

    def clear_history(self) -> str | None:
        """Move every image in the history folder to its trash (``undo_clear`` brings them
        back) and empty the gallery; returns the trash batch. Blocks: the button runs it in a
        worker thread."""
        return self.history_panel.clear()

    async def undo_clear(self) -> int:
        """Bring back what the last "Clear history" moved to the trash; returns how many."""
        return await self.history_panel.undo_clear()

    def use_provider(self, name: str) -> None:
        """Send new generations to provider ``name`` (running ones keep theirs), with its key
        from the environment, else the mock; the controls then offer only what it honours.
        What the Provider dropdown does; an unknown name raises ValueError."""
        self.provider_panel.use_provider(name)

    def capacity_warning(self) -> str:
        """Why some of the client's ``max_concurrency`` cannot be used, or "" when all can."""
        return self.jobs_panel.capacity_warning()

    # -- display --------------------------------------------------------------------------

    def summary(self) -> str:
        """One deterministic line: how many images, and which API made them."""
        # The history's images count from the start, while their thumbnails are still made.
        count = len(self.images or self.history_panel.restoring)
        return f"PromptStudio: {count} image{'s' if count != 1 else ''} ({_source(self.client)})"

    def contact_sheet(self) -> bytes | None:
        """A PNG of the most recent images' thumbnails (None when there are none)."""
        return self._sheet.of(self.images or self.history_panel.restoring)

    def _usage_records(self) -> Any:
        """What the usage view counts for today and the whole history: the history index's
        records (no image is read), or this session's images without a history."""
        history = self.history
        if history is None:
            return list(self.images)
        return history.page(0, max(1, len(history)))

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
            bundle["text/plain"] = LIVE_TEXT.format(source=_source(self.client))
        return bundle

    def __repr__(self) -> str:
        return self.summary()


def _source(client: FluxClient | None) -> str:
    return "no client" if client is None else "mock API" if client.is_mock else client.provider


# A schema field added since the typed lines above were written is reachable all the same:
# ``studio.<field>`` reads and writes its control with no edit here (schema.py declares it once).
for _name in FIELD_NAMES:
    if not isinstance(PromptStudio.__dict__.get(_name), ControlValue):
        setattr(PromptStudio, _name, ControlValue[Any](_name))
