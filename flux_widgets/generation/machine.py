"""One generation's life: create, hold or poll, download, cancel on the server, the deadline.

create -> wait (where the protocol holds the answer) or poll on an adaptive schedule -> download
every output concurrently. The create is shielded: a cancel or the deadline arriving while it is
on the wire must not drop its answer, the only handle on a job that may have started, so it is
finished in the background and its job cancelled. A job that succeeds after its generation was
given up is paid for, as is one whose cancel lost the race with its completion (Replicate's
cancel answers ``succeeded``, fal's ``ALREADY_COMPLETED``): past the deadline its images are
downloaded into the ``FluxTimeoutError``; when the caller is gone (task cancelled, ``aclose()``)
its outputs go to ``unclaimed_outputs`` with a warning. Nothing paid for is silently dropped.

``FluxClient`` (``client.py``) builds a ``Generation`` per call and awaits ``run()``; which
protocol it speaks is the provider's business (``providers/``), how requests travel is
``transport/``'s; what it reports is ``progress.py``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from dataclasses import replace

import httpx

from ..errors import (
    ClientClosedError,
    FluxError,
    FluxTimeoutError,
    ProtocolError,
)
from ..images import GeneratedImage
from ..params import FluxParams
from ..providers.base import Job, Output, Request, updated, within_bounds
from ..transport.downloads import download_outputs, file_host, inline_bytes, read_output
from ..transport.lifecycle import LoopResources, being_cancelled
from ..transport.polling import PollSchedule
from ..transport.sending import CreateAttempt, Sender
from .progress import GenerationPolicy, Progress

logger = logging.getLogger("flux_widgets")

# How long after its hold a create's answer is still worth waiting for, to cancel what it started.
_CREATE_GRACE = 2.0
# Past the deadline, how long the outputs of a job that won the race with its cancel may take to
# download (they are paid for); what does not arrive by then is named in error.urls.
_LATE_DOWNLOAD_GRACE = 10.0


class Generation:
    """One generation of ``params``: ``run()`` it once, on the loop ``resources`` belong to."""

    def __init__(
        self,
        params: FluxParams,
        progress: Progress,
        *,
        policy: GenerationPolicy,
        sender: Sender,
        resources: LoopResources,
    ) -> None:
        self.params = params
        self.progress = progress
        self.policy = policy
        self.sender = sender
        self.resources = resources
        # time.monotonic() by which it must be done, so that no retry sleeps past it.
        self.deadline: float | None = None

    async def run(self) -> list[GeneratedImage]:
        """The images; a ``FluxError`` on failure (``FluxTimeoutError`` past the deadline,
        ``ClientClosedError`` when ``aclose()`` ended it, paid-for images kept in both)."""
        resources, progress = self.resources, self.progress
        progress.report("queued")
        # Its own task, owned by the client, so that aclose() can end it
        # (transport/lifecycle.py).
        run = asyncio.ensure_future(self._within_slot())
        resources.track_run(run)
        try:
            return await run
        except asyncio.CancelledError:
            if not resources.closing or being_cancelled():
                raise  # the caller's own cancel (or deadline) goes on as it came
            raise _closed_error(progress) from None

    async def _within_slot(self) -> list[GeneratedImage]:
        progress = self.progress
        async with self.resources.slots:
            try:
                return await asyncio.wait_for(self._create_wait_download(), self.policy.deadline)
            except FluxError as error:  # before TimeoutError: FluxTimeoutError is one
                if error.prediction_id is None:
                    error.prediction_id = progress.prediction_id
                progress.report("failed")
                raise
            except asyncio.TimeoutError:  # wait_for: the total deadline (3.10: not builtin)
                won = await self._cancel_quietly()
                if won is not None:
                    await self._download_late(won)
                progress.report("failed")
                raise _deadline_error(progress, self.policy.deadline) from None
            except asyncio.CancelledError:
                won = await self._cancel_quietly()
                # The caller is gone: what was paid for and not handed over is kept unclaimed.
                if won is not None:
                    self._keep_unclaimed(won)
                elif progress.outputs and progress.job and not self.resources.closing:
                    # While downloading (aclose()'s error carries these instead).
                    self._keep_unclaimed(replace(progress.job, outputs=progress.outputs))
                progress.report("canceled")
                raise

    async def _create_wait_download(self) -> list[GeneratedImage]:
        params, progress, policy = self.params, self.progress, self.policy
        started = time.monotonic()
        self.deadline = started + policy.deadline
        progress.requested = params.num_outputs
        progress.report("starting")
        await self._discover()
        request = policy.provider.create_request(
            params, policy.base_url, deadline=policy.deadline, sync_wait=policy.sync_wait
        )
        # Shielded: a cancel or the deadline arriving now must not drop the answer, which holds
        # the only handle on a job that may have started (_cancel_quietly finishes it).
        attempt = progress.create_attempt = CreateAttempt()
        progress.create = asyncio.ensure_future(self._create(request, attempt))
        progress.create_hold = request.hold
        progress.create_due = asyncio.get_running_loop().time() + request.hold + _CREATE_GRACE
        job = await asyncio.shield(progress.create)
        progress.create = None
        progress.prediction_id = job.id
        progress.opened(job)
        progress.follow(job)
        if not job.ready:
            job = await self._poll(job, started)
        if job.is_final and job.status != "succeeded":
            raise job.failure()
        if not job.outputs:
            raise ProtocolError(f"job {job.id} succeeded but lists no output files")
        job = within_bounds(job, params, time.monotonic() - started)
        if job.duration is not None:
            policy.estimate.observe(job.duration)
        progress.job = job
        progress.outputs = job.outputs
        progress.report("downloading")
        images = await self._download_all(job)
        progress.report("succeeded")
        return images

    # -- the requests ------------------------------------------------------------------

    async def _discover(self) -> None:
        """Send the provider's discovery request first, where it has one (Hugging Face's
        ``route="auto"`` asks the Hub where the model is served); free, so retried as a query."""
        policy = self.policy
        request = policy.provider.discovery_request(policy.base_url)
        if request is None:
            return
        timeout = self.sender.timeouts.for_read(self.sender.timeouts.query)
        send = functools.partial(self._query, request, None, timeout)
        response = await self.sender.send(
            send, create=False, target=request.url, deadline=self.deadline
        )
        policy.provider.read_discovery(response, policy.base_url)

    async def _create(self, request: Request, attempt: CreateAttempt) -> Job:
        # The server may hold the answer `hold` s on purpose (a sync wait; Together: the whole
        # generation); a read timeout on a create is never retried (it would pay twice), so
        # never let it fire first.
        read = self.sender.timeouts.create + request.hold
        response = await self.sender.create(request, attempt, read=read, deadline=self.deadline)
        return self.policy.provider.read_created(response, self.params)

    async def _poll(self, job: Job, started: float) -> Job:
        policy, progress = self.policy, self.progress
        schedule = PollSchedule(policy.estimate.seconds)
        timeout = self.sender.timeouts.for_read(self.sender.timeouts.query)
        while not job.ready:
            # Unknown statuses count as pending; the deadline bounds the wait.
            progress.follow(job)
            if not job.fetch_result:  # a result known to be ready is fetched at once (fal)
                await asyncio.sleep(schedule.next_delay(time.monotonic() - started))
            request = policy.provider.poll_request(job, policy.base_url)
            send = functools.partial(self._query, request, job, timeout)
            response = await self.sender.send(
                send, create=False, target=policy.base_url, deadline=self.deadline
            )
            job = policy.provider.read_polled(response, job, self.params)
        return job

    async def _query(
        self, request: Request, job: Job | None, timeout: httpx.Timeout
    ) -> httpx.Response:
        """One poll: under the client's query-rate cap, shared by every generation."""
        await self.resources.queries.acquire()
        response = await self.sender.request(request, timeout)
        return self.sender.check(response, job)

    async def _download_all(self, job: Job) -> list[GeneratedImage]:
        params, progress, sender = self.params, self.progress, self.sender
        timeout = self.sender.timeouts.for_read(self.sender.timeouts.download)
        http = self.resources.http

        async def download(index: int, output: Output) -> GeneratedImage:
            began = time.monotonic()
            url = output.url
            if url is None:  # the answer held the image (base64, a data: URI): no request
                data = inline_bytes(output, job.id)
            else:
                data = await sender.send(
                    lambda: read_output(http, url, timeout=timeout, prediction_id=job.id),
                    create=False,
                    target=file_host(url),
                    deadline=self.deadline,
                )
            image = GeneratedImage.from_bytes(
                data,
                params,
                seed=job.seed,
                prediction_id=job.id,
                index=index,
                url=url,
                predict_time=job.predict_time,
                download_time=time.monotonic() - began,
                # The mock has answered by now (its header seen on the create's answer).
                source=self.policy.provider.image_source(mock=sender.sighting.seen),
                provider=self.policy.provider.name,
                price=self.policy.price_each(params),
            )
            progress.images[index] = image  # kept even if the deadline passes meanwhile
            return image

        return await download_outputs(job.id, job.outputs, download)

    # -- cancelling on the server --------------------------------------------------------

    async def _cancel_quietly(self) -> Job | None:
        """Ask the server to cancel a job that has not succeeded (one that has is paid for and
        downloading); tolerate anything (CometAPI may not have the route; Together has none).
        The job, when it turns out to have succeeded first (the create's answer, or the
        cancel's): paid for, so the caller keeps its outputs.

        A create still open has its answer awaited by a background task the client owns
        (bounded by the create's own timeouts), which then cancels the job it started.
        """
        progress, resources = self.progress, self.resources
        provider = self.policy.provider
        create, progress.create = progress.create, None
        attempt = progress.create_attempt
        if create is not None and progress.job is None:
            if attempt is not None:
                attempt.abandoned = True  # no further try of the create is sent
            if not create.done() and attempt is not None and not attempt.on_the_wire:
                # Between tries (a backoff): no request is open, so no job can have started.
                create.cancel()
                return None
            if not create.done():
                if not provider.can_cancel:
                    # Nothing could cancel what it started: stop waiting for the answer.
                    create.cancel()
                    logger.info(
                        "%s has no server-side cancel; the generation may still run", provider.name
                    )
                    return None
                finisher = self._cancel_once_created(create, progress.create_hold)
                if resources.closing:
                    # aclose() waits for this generation anyway: finish here, so that a loop
                    # that ends right after it (asyncio.run in a thread) cannot drop the cancel.
                    await finisher
                else:
                    resources.spawn(finisher, due=progress.create_due)
                return None
            if create.cancelled() or create.exception() is not None:
                return None  # no job was created (or its answer was lost: nothing to name)
            progress.job = create.result()
            progress.prediction_id = progress.job.id
        job = progress.job
        if job is None or progress.outputs:
            return None
        progress.won_race = self._paid(job) if job.ready else await self._cancel_on_server(job)
        return progress.won_race

    async def _cancel_once_created(self, create: asyncio.Future[Job], hold: float) -> None:
        """Wait (bounded) for a create whose generation already ended, then cancel what it
        started, unless it had already finished."""
        # The create's own read timeout already bounds it; this only backs that up.
        timeouts = self.sender.timeouts
        bound = timeouts.connect + timeouts.create + hold
        try:
            job = await asyncio.wait_for(create, bound)
        except (Exception, asyncio.CancelledError) as error:
            create.cancel()
            logger.info(
                "a cancelled generation's create ended without a job id (%s)",
                error.__class__.__name__,
            )
            return
        self.progress.opened(job)  # the id arrived after the generation ended: still noted
        won = self._paid(job) if job.ready else await self._cancel_on_server(job)
        if won is not None:
            self._keep_unclaimed(won)
        elif job.ready:
            logger.info(
                "job %s of a cancelled generation had already ended (%s)", job.id, job.status
            )

    def _keep_unclaimed(self, job: Job) -> None:
        """A job that succeeded though its generation was given up is paid for: keep its
        outputs where the user can still fetch them (``unclaimed_outputs``) and say so."""
        self.policy.unclaimed_outputs.append((job.id, job.outputs))
        logger.warning(
            "job %s succeeded though its generation was given up: its %d output(s) are paid "
            "for and kept in client.unclaimed_outputs (%s); providers delete files after "
            "about an hour",
            job.id,
            len(job.outputs),
            ", ".join(output.label for output in job.outputs),
        )

    async def _download_late(self, job: Job) -> None:
        """Past the deadline, download what a job that won the race with its cancel made (paid
        for) into ``progress.images``, for ``_deadline_error``; bounded, failures named there."""
        progress = self.progress
        progress.outputs = job.outputs
        self.deadline = time.monotonic() + _LATE_DOWNLOAD_GRACE  # retries fit in the grace
        # What arrived is kept (progress.images), the rest named in the error's urls.
        with contextlib.suppress(FluxError, asyncio.TimeoutError):
            await asyncio.wait_for(self._download_all(job), _LATE_DOWNLOAD_GRACE)

    async def _cancel_on_server(self, job: Job) -> Job | None:
        """Cancel ``job``; the job when the answer says it had already succeeded (paid for),
        its result fetched first where the answer says only that it completed (fal)."""
        answer = await self._post_cancel(job)
        if answer is not None and answer.fetch_result:
            answer = await self._fetch_result(answer)
        if answer is not None and answer.is_final and answer.status != "succeeded":
            # The server's own word that it ended (Replicate's "canceled"): the job journal
            # closes it now, rather than leave it for the next kernel's recovery to ask about.
            self.progress.job = answer
        return None if answer is None else self._paid(answer)

    def _paid(self, job: Job) -> Job | None:
        """``job`` if it succeeded with outputs (paid for; no more kept than requested)."""
        if job.status != "succeeded" or not job.outputs:
            return None
        return dataclasses.replace(job, outputs=job.outputs[: self.progress.requested])

    async def _fetch_result(self, job: Job) -> Job | None:
        """The result of a job the cancel's answer says had completed; None if unreadable."""
        policy = self.policy
        request = policy.provider.poll_request(job, policy.base_url)
        timeout = self.sender.timeouts.for_read(self.sender.timeouts.cancel)
        try:
            response = await asyncio.shield(self.sender.request(request, timeout))
            return policy.provider.read_polled(self.sender.check(response, job), job, self.params)
        except (httpx.HTTPError, FluxError, asyncio.CancelledError) as error:
            # Paid for but out of reach: say where it is, so that it can be fetched by hand.
            logger.warning(
                "job %s completed before its cancel, but its result could not be fetched (%s); "
                "it is paid for: fetch it from %s within the hour",
                job.id,
                error.__class__.__name__,
                request.url,
            )
            return None

    async def _post_cancel(self, job: Job) -> Job | None:
        """Send the provider's cancel; the job as the answer shows it, when it says (one that
        succeeded meanwhile lists its outputs, which are paid for)."""
        policy = self.policy
        request = policy.provider.cancel_request(job, policy.base_url)
        if request is None:
            logger.info(
                "%s has no server-side cancel; job %s may still run", policy.provider.name, job.id
            )
            return None
        timeout = self.sender.timeouts.for_read(self.sender.timeouts.cancel)
        try:
            response = await asyncio.shield(self.sender.request(request, timeout))
        except (httpx.HTTPError, asyncio.CancelledError):
            logger.info("could not cancel job %s on the server", job.id)
            return None
        if not response.is_success:
            # docs/protocol.md: CometAPI may lack the cancel route (404); fal answers 400
            # ALREADY_COMPLETED for a request that finished first (read_canceled reads it).
            logger.info("the server answered %s to cancelling job %s", response.status_code, job.id)
        try:
            return policy.provider.read_canceled(response, job)
        except FluxError:
            return None

    async def resume(self, job: Job, cancel_running: bool) -> tuple[str, list[GeneratedImage]]:
        """A job an earlier kernel started (``FluxClient.resume``): one query (fal's COMPLETED:
        two), then the download, or the cancel when asked; returns its status and images."""
        policy, sender = self.policy, self.sender
        self.deadline = time.monotonic() + policy.deadline
        timeout = sender.timeouts.for_read(sender.timeouts.query)
        while True:
            # Together has no query route: poll_request raises ProtocolError.
            request = policy.provider.poll_request(job, policy.base_url)
            send = functools.partial(self._query, request, job, timeout)
            response = await sender.send(
                send, create=False, target=policy.base_url, deadline=self.deadline
            )
            job = policy.provider.read_polled(response, job, self.params)
            if job.ready or not job.fetch_result:
                break
        if not job.ready and cancel_running:
            answer = await self._post_cancel(job)
            # Unconfirmed (fal's answer says nothing; a failed request): "canceling", asked again.
            job = answer or updated(job, status="canceling")
        if job.status != "succeeded" or not job.outputs:
            return job.status, []
        job = updated(job, outputs=job.outputs[: self.params.num_outputs])
        return "succeeded", await self._download_all(job)


def _deadline_error(progress: Progress, seconds: float) -> FluxTimeoutError:
    """What a generation past its total deadline raises: paid-for images are kept in it."""
    deadline = f"{seconds:g} s deadline"
    if not progress.outputs:
        cancelled = "; the prediction was cancelled" if progress.prediction_id else ""
        return FluxTimeoutError(
            f"no images within the {deadline}{cancelled}. The service may be busy: try "
            "again, or raise FluxClient(timeout=)",
            prediction_id=progress.prediction_id,
        )
    # The prediction succeeded (and is paid for): keep what arrived, name what did not.
    images, urls, arrived = _paid_for(progress)
    when = "while downloading"
    if progress.won_race is not None:
        when = f"but prediction {progress.prediction_id} had succeeded before the cancel arrived"
    return FluxTimeoutError(
        f"the {deadline} passed {when}: {arrived}",
        prediction_id=progress.prediction_id,
        urls=urls,
        images=images,
    )


def _closed_error(progress: Progress) -> ClientClosedError:
    """What a generation that ``aclose()`` ended raises: paid-for images are kept in it."""
    if progress.won_race is not None:
        return ClientClosedError(
            f"the client was closed (aclose()) during this generation; its prediction "
            f"{progress.prediction_id} had succeeded before the cancel arrived: its outputs "
            "are paid for and kept in client.unclaimed_outputs (URLs also in error.urls)",
            prediction_id=progress.prediction_id,
            urls=[output.url for output in progress.won_race.outputs if output.url],
        )
    if not progress.outputs:
        cancelled = "; its prediction was cancelled" if progress.prediction_id else ""
        return ClientClosedError(
            f"the client was closed (aclose()) during this generation{cancelled}",
            prediction_id=progress.prediction_id,
        )
    images, urls, arrived = _paid_for(progress)
    return ClientClosedError(
        f"the client was closed (aclose()) after prediction {progress.prediction_id} "
        f"succeeded: {arrived}",
        prediction_id=progress.prediction_id,
        urls=urls,
        images=images,
    )


def _paid_for(progress: Progress) -> tuple[list[GeneratedImage], list[str], str]:
    """A succeeded job's images that arrived, the URLs of those that did not (inline ones
    always arrive: they need none), and the sentence that says so."""
    images = [progress.images[i] for i in sorted(progress.images)]
    urls = [o.url for i, o in enumerate(progress.outputs) if i not in progress.images and o.url]
    arrived = (
        f"{len(images)} of {len(progress.outputs)} images arrived (in error.images); the "
        "others are in error.urls, downloadable for about an hour after generation"
    )
    return images, urls, arrived
