"""Many generations, yielded as each completes, with a bounded number in flight.

``FluxClient.generate_many`` (``client.py``) hands the batch here: it is expanded, validated
and held against the spending cap whole, then a few workers share one iterator of items (a
batch of 10,000 holds 10,000 small items, not tasks), each result is queued as it ends, and
whatever ends the iteration (done, ``aclose()``, an error, or the consuming task cancelled
or failed with the generator still open: a cancel landing in the loop's body) cancels the
workers, so no queued item is sent and the running ones are cancelled on the server, and
releases the holds of items never started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import DownloadError, FluxError, FluxTimeoutError
from .generation import Progress, StatusCallback, UnclaimedOutputs
from .images import GeneratedImage, kept_images
from .params import FluxParams, PromptOrigin
from .prompts.plans import BatchPlan, batch_items
from .prompts.progress import BatchProgress
from .prompts.styles import Style
from .providers.base import Job, Output, Provider
from .spending.ledger import Hold, Ledger

logger = logging.getLogger("flux_widgets")
_NO_JOB = Job(id=None, status="succeeded")

GenerateOne = Callable[
    [FluxParams, Progress, Hold, PromptOrigin | None], Awaitable[list[GeneratedImage]]
]
"""Runs one generation with its hold settled, its images with their origin, kept in the
history where the client keeps them (``FluxClient``'s own)."""


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
) -> AsyncGenerator[BatchResult, None]:
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

    stopped = False  # set when the batch ends early: no worker takes another item

    async def worker() -> None:
        # Workers share one iterator: each item is taken once, when a worker is free.
        for index, ((item, origin), hold) in pending:
            if stopped:
                # A cancel that a generation absorbed (it ended as "cancelled" instead of
                # raising) must not let this worker go on to the next item.
                return
            try:
                queue.put_nowait(await _one(index, item, origin, hold, generate, counts))
            except Exception as error:  # a bug: raise it to the caller instead of hanging
                queue.put_nowait(error)
                return

    def release(_: object = None) -> None:
        for hold in holds:  # items never started hold nothing any more
            ledger.settle(hold, images=0, status="queued", prediction_id=None, error=None)

    def consumer_ended(consumer: asyncio.Task[Any]) -> None:
        # Its task was cancelled or failed (in the loop's body) with the generator left open,
        # which only the garbage collector would close: stop the workers now, as aclose does.
        # A task that ends well may be a helper that awaited one item (wait_for on 3.10).
        if not consumer.cancelled() and consumer.exception() is None:
            return
        nonlocal stopped
        stopped = True
        for task in workers:
            task.cancel()
        asyncio.gather(*workers, return_exceptions=True).add_done_callback(release)

    workers = [asyncio.create_task(worker()) for _ in range(min(len(items), concurrency))]
    consumer = asyncio.current_task()
    if consumer is not None:
        consumer.add_done_callback(consumer_ended)
    try:
        for _ in items:
            result = await queue.get()
            if isinstance(result, Exception):
                raise result
            yield result
    finally:
        stopped = True
        if consumer is not None:
            consumer.remove_done_callback(consumer_ended)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        release()
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
        # With ``origin`` in their recipe and kept in the history, by the client.
        result.images = await generate(item, Progress(report), hold, origin)
    except FluxError as error:
        result.error = error
        if isinstance(error, DownloadError | FluxTimeoutError):
            result.images = kept_images(error)  # paid for, and kept as the others
    if counts is not None:
        counts.finish(index, ok=result.error is None)
    return result


RunOne = Callable[[FluxParams, Progress], Awaitable[list[GeneratedImage]]]
"""Runs one call's generation (``Generation.run``), in the client's slots."""

_FORWARD_ORDER = ("queued", "starting", "processing", "downloading")


async def run_calls(
    params: FluxParams,
    progress: Progress,
    provider: Provider,
    run_one: RunOne,
    unclaimed: UnclaimedOutputs,
) -> list[GeneratedImage]:
    """One generation of ``params``, sent as ``provider.calls(params)``: one call (the usual
    case), or several at once (Hugging Face: one image per call), each a generation of its own
    in the client's slots, their images joined in order (``index`` 0, 1, ...).

    ``progress`` follows the furthest call. Every image made is paid for: when some calls fail
    and others succeed, the images that arrived are returned and the failure is logged and said
    in ``progress``'s detail ("3 of 4 images: ..."); when every call fails, the first error is
    raised; when the generation is cancelled, images of calls already done go to ``unclaimed``
    (``FluxClient.unclaimed_outputs``) with a warning.
    """
    parts = provider.calls(params)
    if len(parts) == 1:
        return await run_one(params, progress)

    def forward(status: str) -> None:
        now = progress.status
        known = status in _FORWARD_ORDER and now in _FORWARD_ORDER
        if known and _FORWARD_ORDER.index(status) > _FORWARD_ORDER.index(now):
            progress.report(status)

    children = [Progress(forward, progress.on_detail) for _ in parts]
    tasks = [asyncio.ensure_future(run_one(p, c)) for p, c in zip(parts, children, strict=True)]
    try:
        results = await asyncio.gather(*tasks, return_exceptions=True)
    except asyncio.CancelledError:
        done = [t.result() for t in tasks if t.done() and not t.cancelled() and not t.exception()]
        _keep_unclaimed([image for images in done for image in images], unclaimed)
        progress.report("canceled")
        raise
    progress.prediction_id = next((c.prediction_id for c in children if c.prediction_id), None)
    images: list[GeneratedImage] = []
    errors: list[BaseException] = []
    for result in results:
        if isinstance(result, BaseException):
            errors.append(result)
            images.extend(kept_images(result))  # a deadline or download error keeps its images
        else:
            images.extend(result)
    leaving = next((e for e in errors if not isinstance(e, Exception)), None)
    if leaving is not None:  # a cancel or an exit, not a failed call: paid images kept aside
        _keep_unclaimed(images, unclaimed)
        raise leaving
    if errors and not images:
        progress.report("failed")
        raise errors[0]
    if errors:
        # Some calls made their images (paid for), others failed: the images are the answer,
        # and the failure is said where the job's detail is shown.
        said = f"{len(images)} of {params.num_outputs} images: {errors[0]}"
        logger.warning("a generation made only %s", said)
        progress.follow(dataclasses.replace(progress.job or _NO_JOB, detail=said))
    progress.report("succeeded")
    return [dataclasses.replace(image, index=i) for i, image in enumerate(images)]


def _keep_unclaimed(images: list[GeneratedImage], unclaimed: UnclaimedOutputs) -> None:
    if not images:
        return
    for image in images:
        unclaimed.append((image.prediction_id, (Output(data=image.data),)))
    logger.warning(
        "%d image(s) of this generation were made (and paid for) but the generation did not "
        "complete: they are kept in client.unclaimed_outputs",
        len(images),
    )
