"""What a generation reports as it goes, and the settings it runs under: ``Progress`` (status,
job, images so far, for the job rows and the errors that keep paid outputs) and
``GenerationPolicy`` (provider, base URL, deadline, the client's duration estimate).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ..images import GeneratedImage
from ..params import FluxParams
from ..providers.base import Job, Output, Provider
from ..providers.pricing import Price
from ..transport.polling import DurationEstimate
from ..transport.sending import CreateAttempt

logger = logging.getLogger("flux_widgets")

StatusCallback = Callable[[str], None]
"""Called with "queued", "starting", "processing", "downloading", then "succeeded",
"failed" or "canceled" as one generation moves along."""
DetailCallback = Callable[[str], None]
"""Called with what the provider says about progress, when it changes: fal's queue position
("in queue, position 2") or the runner's last log line; "" when there is nothing to say."""


UnclaimedOutputs = list[tuple[str | None, tuple[Output, ...]]]
"""(job id, outputs) of jobs that succeeded after their generation was given up."""


@dataclass(frozen=True)
class GenerationPolicy:
    """What every generation of one client follows: where (provider, base URL), how long (the
    total ``deadline`` in seconds; each request's timeout is the sender's), whether the server
    may hold the create's answer, and where lessons and leftovers go (the duration estimate,
    the outputs of jobs that succeeded after their generation was given up)."""

    provider: Provider
    base_url: str
    deadline: float
    sync_wait: bool
    estimate: DurationEstimate
    unclaimed_outputs: UnclaimedOutputs
    price: Price | None = None
    """The provider's price as the client's ledger has it (overrides included): each image
    records what it cost when it was made, so usage never prices it at another provider's."""

    def price_each(self, params: FluxParams) -> float | None:
        """Estimated US dollars of one image of ``params``; None when the price is unknown."""
        return None if self.price is None else self.price.per_output(params)


@dataclass
class Progress:
    """What a running generation knows about itself, for cancel-on-timeout and status."""

    on_status: StatusCallback | None
    on_detail: DetailCallback | None = None
    prediction_id: str | None = None
    status: str = "queued"
    detail: str = ""
    # The provider's latest word on the job (what a cancel needs to name it).
    job: Job | None = None
    # Set once the job succeeded: what to download, and what has been so far.
    outputs: tuple[Output, ...] = ()
    images: dict[int, GeneratedImage] = field(default_factory=dict)
    # The create request while it is open: if the generation ends first, it is finished in the
    # background and its job cancelled (the id only comes with the answer).
    create: asyncio.Future[Job] | None = None
    create_due: float = 0.0  # loop time by which a server should have answered it
    create_hold: float = 0.0  # seconds the provider let the server hold that answer
    create_attempt: CreateAttempt | None = None  # whether a create request is on the wire
    requested: int = 1  # num_outputs: no more outputs than this are kept from any answer
    on_job: Callable[[Job], None] | None = None  # told each job id as it arrives (a journal)
    # The job, when the cancel answered that it had already succeeded (its outputs are paid).
    won_race: Job | None = None

    def report(self, status: str) -> None:
        """Pass a new status on to ``on_status`` (a repeated one is not reported again)."""
        if status == self.status:
            return
        self.status = status
        if self.on_status is not None:
            try:
                self.on_status(status)
            except Exception:  # a broken UI callback must not break the generation
                logger.exception("status callback failed")

    def opened(self, job: Job) -> None:
        """Tell ``on_job`` that a job's id arrived: the client writes it to its journal."""
        if self.on_job is not None and job.id is not None:
            try:
                self.on_job(job)
            except Exception:  # a journal that cannot write must not lose the job itself
                logger.exception("job journal failed")

    def follow(self, job: Job) -> None:
        """Report a pending job's status and the provider's detail, as they change."""
        self.job = job
        if job.status in ("starting", "processing"):
            self.report(job.status)
        if job.detail != self.detail:
            self.detail = job.detail
            if self.on_detail is not None:
                try:
                    self.on_detail(job.detail)
                except Exception:  # as for on_status
                    logger.exception("detail callback failed")
