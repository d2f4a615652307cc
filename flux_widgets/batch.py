"""Many generations, yielded as each completes, with a bounded number in flight.

``FluxClient.generate_many`` (``client.py``) hands the batch here: it is expanded, validated
and held against the spending cap whole, then a few workers share one iterator of items (a
batch of 10,000 holds 10,000 small items, not tasks), each result is queued as it ends, and
whatever ends the iteration (done, a break, an error) cancels the workers and releases the
holds of items never started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import DownloadError, FluxError, FluxTimeoutError
from .generation import Progress, StatusCallback
from .images import GeneratedImage, kept_images
from .params import FluxParams, PromptOrigin
from .prompts.plans import BatchPlan, batch_items
from .prompts.progress import BatchProgress
from .prompts.styles import Style
from .providers.base import Job, Provider
from .spending.ledger import Hold, Ledger

logger = logging.getLogger("flux_widgets")
_NO_JOB = Job(id=None, status="succeeded")

GenerateOne = Callable[[FluxParams, Progress, Hold], Awaitable[list[GeneratedImage]]]
"""Runs one generation with its hold settled (``FluxClient``'s own)."""


@dataclass
class BatchResult:
    """One finished item of ``generate_many``: its position, inputs, and images or error."""

    index: int
    params: FluxParams
    images: list[GeneratedImage] = field(default_factory=list)
    error: FluxError | None = None

    @property
    def ok(self) -> bool:
        """True when the item made its images (``error`` is None)."""
        return self.error is None


async def batch_results(
    prompts: str | BatchPlan | Iterable[str | FluxParams],
    *,
    provider: Provider,
    ledger: Ledger,
    generate: GenerateOne,
    concurrency: int,
    style: Style | str | None,
    random_count: int | None,
    seed_template: int | None,
    progress: bool | BatchProgress,
    params: Mapping[str, Any],
) -> AsyncIterator[BatchResult]:
    """Yield a ``BatchResult`` per item as each completes, at most ``concurrency`` in flight
    (``FluxClient.generate_many`` documents the arguments). Every item is validated, and the
    whole batch held on ``ledger``, before the first request; one failure does not stop the
    rest."""
    items = [
        (provider.prepare(item), origin)
        for item, origin in batch_items(
            prompts,
            provider=provider.name,
            style=style,
            random_count=random_count,
            seed_template=seed_template,
            prices=ledger.prices,
            params=params,
            defaults=provider.defaults(),
        )
    ]
    holds = ledger.hold_batch([item for item, _ in items])
    counts = progress if isinstance(progress, BatchProgress) else None
    if counts is None and progress:
        counts = BatchProgress(len(items))
    queue: asyncio.Queue[BatchResult | Exception] = asyncio.Queue()
    pending = iter(enumerate(zip(items, holds, strict=True)))

    async def worker() -> None:
        # Workers share one iterator: each item is taken once, when a worker is free.
        for index, ((item, origin), hold) in pending:
            try:
                queue.put_nowait(await _one(index, item, origin, hold, generate, counts))
            except Exception as error:  # a bug: raise it to the caller instead of hanging
                queue.put_nowait(error)
                return

    workers = [asyncio.create_task(worker()) for _ in range(min(len(items), concurrency))]
    try:
        for _ in items:
            result = await queue.get()
            if isinstance(result, Exception):
                raise result
            yield result
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for hold in holds:  # items never started hold nothing any more
            ledger.settle(hold, images=0, status="queued", prediction_id=None, error=None)
        if counts is not None and counts is not progress:
            counts.close()


async def _one(
    index: int,
    item: FluxParams,
    origin: PromptOrigin | None,
    hold: Hold,
    generate: GenerateOne,
    counts: BatchProgress | None,
) -> BatchResult:
    result = BatchResult(index, item)
    report: StatusCallback | None = (
        None if counts is None else (lambda status: counts.status(index, status))
    )
    try:
        result.images = await generate(item, Progress(report), hold)
    except FluxError as error:
        result.error = error
        if isinstance(error, DownloadError | FluxTimeoutError):
            result.images = kept_images(error)
    result.images = with_origin(result.images, origin)
    if counts is not None:
        counts.finish(index, ok=result.error is None)
    return result


async def in_calls(
    parts: list[FluxParams],
    progress: Progress,
    run: Callable[[FluxParams, Progress], Awaitable[list[GeneratedImage]]],
) -> list[GeneratedImage]:
    """One generation made by several creates (``Provider.calls``: one image per call), run
    together within the client's concurrency; statuses go to ``progress`` once each.

    The images come back numbered in call order. Every image made is paid for, so when some
    calls fail and others succeed, the images that arrived are returned and the failure is
    logged and said through ``progress``'s detail ("3 of 4 images: ..."); when every call
    fails, the first call's error is raised.
    """
    subs = [Progress(_forward(progress)) for _ in parts]
    results = await asyncio.gather(
        *(run(part, sub) for part, sub in zip(parts, subs, strict=True)), return_exceptions=True
    )
    images: list[GeneratedImage] = []
    errors: list[BaseException] = []
    for result in results:
        if isinstance(result, BaseException):
            errors.append(result)
            images.extend(kept_images(result) if isinstance(result, FluxError) else [])
        else:
            images.extend(result)
    progress.prediction_id = next((s.prediction_id for s in subs if s.prediction_id), None)
    if errors and not images:
        progress.report("failed")
        raise errors[0]
    for error in errors:
        if not isinstance(error, Exception):
            raise error  # a cancel or an exit: not a failed call
    if errors:
        said = f"{len(images)} of {sum(p.num_outputs for p in parts)} images: {errors[0]}"
        logger.warning("a generation made only %s", said)
        progress.follow(dataclasses.replace(progress.job or _NO_JOB, detail=said))
    progress.report("succeeded")
    return [dataclasses.replace(image, index=i) for i, image in enumerate(images)]


def _forward(progress: Progress) -> StatusCallback:
    """A call's status callback: "starting" and "downloading" passed on (each once)."""

    def report(status: str) -> None:
        if status in ("starting", "processing", "downloading"):
            progress.report(status)

    return report


def with_origin(images: list[GeneratedImage], origin: PromptOrigin | None) -> list[GeneratedImage]:
    """The images with ``origin`` (the template and style they came from) in their recipe."""
    if origin is None:
        return images
    return [dataclasses.replace(image, origin=origin) for image in images]
