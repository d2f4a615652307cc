"""The seam between a client and the place where every image it paid for is kept (``History``,
``history/store.py``, is one): ``FluxClient(history=...)`` and each call's ``history=``.

Every finished generation's images (and the paid images a failure kept: ``error.images``) go
through ``keep_images`` once, off the event loop. A disk that refuses the write costs the
history its copy, never the image: the caller gets it anyway, with a warning in the log, and
its job stays open in the journal so that ``History.recover`` can store it later. The client
and the history never import each other for this: both speak ``ImageKeeper``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ..errors import ClientClosedError, DownloadError, FluxTimeoutError
from ..images import GeneratedImage, kept_images
from ..params import PromptOrigin
from .journal import JobJournal

logger = logging.getLogger("flux_widgets")


class ImageKeeper(Protocol):
    """Where a client keeps each image it was paid for (``History``): ``store`` writes one (a
    blocking call, run in a worker thread) and returns it as stored, and does nothing to an
    image already stored there; ``jobs`` is the journal of the same place, so that storing an
    image closes its job there."""

    @property
    def jobs(self) -> JobJournal: ...

    def store(self, image: GeneratedImage) -> GeneratedImage: ...


HistorySetting = ImageKeeper | bool
"""``FluxClient(history=)``: True keeps in the default history folder (``History()``'s),
False keeps nothing, an ``ImageKeeper`` (``History(path)``) keeps there."""


def check_history(setting: object) -> None:
    """``TypeError`` unless ``setting`` is a ``history=`` value (before any request: a folder
    given as text would otherwise fail after the images were paid for)."""
    if isinstance(setting, bool) or (hasattr(setting, "store") and hasattr(setting, "jobs")):
        return
    raise TypeError(
        "history must be True (the default history folder), False (keep nothing) or a "
        f"History (History(path) keeps in that folder), not {type(setting).__name__}"
    )


def keeping(
    setting: HistorySetting, journal: JobJournal | None, override: HistorySetting | None
) -> tuple[ImageKeeper | None, JobJournal | None]:
    """Where a call keeps its images, and where it writes its job ids. The images: its own
    ``history=`` (``override``) unless None, else the client's ``setting``; True is the
    default history folder, False nowhere. The ids: the client's ``journal`` if it has one,
    else the keeper's; but a call that names its history journals there, so that storing its
    images closes their job. ``TypeError`` for a bad setting, before any request."""
    chosen = setting if override is None else override
    check_history(chosen)
    keeper = (default_history() if chosen else None) if isinstance(chosen, bool) else chosen
    if keeper is not None and (override is not None or journal is None):
        return keeper, keeper.jobs
    return keeper, journal


_DEFAULTS: dict[Path, ImageKeeper] = {}
_DEFAULTS_LOCK = threading.Lock()


def default_history() -> ImageKeeper:
    """The ``History()`` of the default folder (``FLUX_WIDGETS_HISTORY_DIR``, else the user's
    data folder), one per folder in this process: every client that keeps there shares it, so
    its journal knows every job this process still follows."""
    # The only import of the history below the widgets: imported when first kept, and the
    # history imports neither the client nor this package (ARCHITECTURE.md, the layer rule).
    from ..history.store import History, default_directory

    directory = default_directory()
    with _DEFAULTS_LOCK:
        keeper = _DEFAULTS.get(directory)
        if keeper is None:
            keeper = _DEFAULTS[directory] = History(directory)
    return keeper


def store_all(keeper: ImageKeeper, images: Sequence[GeneratedImage]) -> list[GeneratedImage]:
    """Each image as ``keeper`` stored it, or as it was when the write failed (logged as a
    warning: the image itself must reach the caller). Blocking file I/O."""
    kept = []
    for image in images:
        try:
            kept.append(keeper.store(image))
        except Exception as error:  # a full disk, a locked index, a bug: never lose the image
            logger.warning(
                "image %d of job %s was not saved to the history at %s (%s); it is returned "
                "as usual, and its job stays open for History.recover",
                image.index,
                image.prediction_id,
                getattr(keeper, "directory", keeper),
                error,
            )
            kept.append(image)
    return kept


async def keep_images(
    keeper: ImageKeeper | None, images: Sequence[GeneratedImage]
) -> list[GeneratedImage]:
    """``store_all`` in a worker thread (the event loop keeps running other generations); the
    images as they are without a keeper."""
    if keeper is None or not images:
        return list(images)
    return await asyncio.to_thread(store_all, keeper, images)


async def keep_finished(
    keeper: ImageKeeper | None, images: Sequence[GeneratedImage], origin: PromptOrigin | None
) -> list[GeneratedImage]:
    """A generation's images with ``origin`` in their recipe, kept (``keep_images``)."""
    return await keep_images(keeper, with_origin(images, origin))


async def keep_failed(
    keeper: ImageKeeper | None, error: BaseException, origin: PromptOrigin | None
) -> None:
    """Keep the paid images a failed generation holds (``error.images``: a deadline, a
    download or a close after the job succeeded), and put the kept copies in their place."""
    if isinstance(error, DownloadError | FluxTimeoutError | ClientClosedError):
        images = kept_images(error)
        if images:
            error.images = list(await keep_finished(keeper, images, origin))


def with_origin(
    images: Sequence[GeneratedImage], origin: PromptOrigin | None
) -> list[GeneratedImage]:
    """The images with ``origin`` (the template and style they came from) in their recipe."""
    if origin is None:
        return list(images)
    return [dataclasses.replace(image, origin=origin) for image in images]
