"""The seam between a generation and a record of paid jobs (``history/jobs.py`` keeps one):
each job id is written the moment it arrives, and marked when this kernel is done with it, so a
new kernel can recover what this one did not finish. The client and the history never import
each other: both speak this protocol.
"""

from __future__ import annotations

from typing import Protocol

from ..params import FluxParams
from ..providers.base import Job
from .progress import Progress


class JobJournal(Protocol):
    """Where a client notes each paid job so that a new kernel can recover it (``History.jobs``,
    ``history/jobs.py``): ``opened`` when the provider returns its id; ``downloaded`` when its
    images arrived here (closed once stored); ``finished`` when it ended without images;
    ``released`` when this kernel stopped following it (cancel, deadline, error)."""

    def opened(self, provider: str, job_id: str, params: FluxParams) -> None: ...
    def downloaded(self, job_id: str, images: int) -> None: ...
    def finished(self, job_id: str) -> None: ...
    def released(self, job_id: str) -> None: ...


def note_in_journal(
    progress: Progress, journal: JobJournal, provider: str, params: FluxParams
) -> None:
    """Write each job id to ``journal`` as it arrives, and how this kernel was done with it."""
    on_status = progress.on_status

    def opened(job: Job) -> None:
        journal.opened(provider, str(job.id), params)
        if progress.status in ("failed", "canceled"):  # its create answered after the end
            journal.released(str(job.id))

    def status(word: str) -> None:
        job_id, job = progress.prediction_id, progress.job
        try:
            if job_id is not None and word == "succeeded":
                journal.downloaded(job_id, len(progress.images))
            elif job_id is not None and word in ("failed", "canceled"):
                # Else (running, cancel unconfirmed, outputs unclaimed) recover() asks later.
                ended = job is not None and job.is_final and not progress.outputs
                (journal.finished if ended else journal.released)(job_id)
        finally:
            if on_status is not None:
                on_status(word)

    progress.on_job, progress.on_status = opened, status
