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
from .providers.base import Provider
from .spending.ledger import Hold, Ledger

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


def with_origin(images: list[GeneratedImage], origin: PromptOrigin | None) -> list[GeneratedImage]:
    """The images with ``origin`` (the template and style they came from) in their recipe."""
    if origin is None:
        return images
    return [dataclasses.replace(image, origin=origin) for image in images]
