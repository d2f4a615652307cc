"""Durable jobs: every paid job written to the history folder the moment its id arrives, so that
a kernel restart, a closed laptop or a culled Binder does not lose what was paid for.

``JobFiles`` is the client's ``JobJournal`` (``generation/journal.py``): one small JSON file per
open job in ``<history>/.jobs/`` (provider, job id, the recipe, the time), written atomically as
the store writes entries. A job closes (its file goes) when its images are in the history, or when
the provider ended it without images. ``recover`` asks each provider about the jobs left open
and stores what succeeded; what it found is a ``RecoveryReport``.

Never imports the client (the layer rule, ARCHITECTURE.md): ``recover`` is handed one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..errors import FluxError, InvalidRequestError, MissingAPIKeyError, ProtocolError
from ..images import GeneratedImage
from ..params import FluxParams
from ..providers.base import Job, Provider
from ..wording import plural

__all__ = [
    "OUTPUT_LIFETIME",
    "JobFiles",
    "JobOutcome",
    "OpenJob",
    "RecoveryReport",
    "Resumer",
    "recover",
]

logger = logging.getLogger("flux_widgets")

JOBS_FOLDER = ".jobs"
# docs/protocol.md: providers delete output files after about an hour. A job older than that
# is reported expired without asking (its files are gone, or going: nothing can be fetched).
OUTPUT_LIFETIME = 3600.0
_VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class OpenJob:
    """A job written down and not yet closed: who (``provider``, ``job_id``), what
    (``params``, the recipe), when (``created_at``, UTC), ``images`` downloaded by the kernel
    that ran it (None: not known) and the output indices already ``stored`` in the history."""

    provider: str
    job_id: str
    params: FluxParams
    created_at: datetime
    images: int | None = None
    stored: frozenset[int] = frozenset()

    def age(self, now: datetime | None = None) -> float:
        """Seconds since the provider returned its id."""
        return ((now or datetime.now(timezone.utc)) - self.created_at).total_seconds()


class JobFiles:
    """The jobs journal of one history folder (``History.jobs``): a file per open job.

    Blocking file I/O of a few hundred bytes (plus an fsync) per call: the id must be on disk
    before anything else can go wrong. Safe across threads of one process.
    """

    def __init__(self, directory: Path) -> None:
        self.folder = directory / JOBS_FOLDER
        self._lock = threading.Lock()
        # Jobs a generation of this process still follows: recover() leaves them to it.
        self._following: set[str] = set()

    def __repr__(self) -> str:
        return f"JobFiles({str(self.folder)!r})"

    # -- the client's JobJournal ------------------------------------------------------------

    def opened(self, provider: str, job_id: str, params: FluxParams) -> None:
        """Write the job down: from now on it is paid for."""
        created = datetime.now(timezone.utc).isoformat()
        record = {"version": _VERSION, "provider": provider, "job_id": job_id}
        record |= {"params": dataclasses.asdict(params), "created_at": created}
        with self._lock:
            self._following.add(job_id)
            self._write(job_id, record)

    def downloaded(self, job_id: str, images: int) -> None:
        """Its ``images`` arrived in this kernel: closed once that many are stored."""
        self._change(job_id, lambda record: record.update(images=images))

    def finished(self, job_id: str) -> None:
        """The provider ended it without images: nothing to recover."""
        self.close(job_id)

    def released(self, job_id: str) -> None:
        """This kernel stopped following it without its images: left open for ``recover``."""
        with self._lock:
            self._following.discard(job_id)

    # -- the history's side -------------------------------------------------------------

    def stored(self, image: GeneratedImage) -> None:
        """``History.add`` stored ``image``: its job closes once all its images are stored."""
        if image.prediction_id is None or not self._path(image.prediction_id).exists():
            return

        def mark(record: dict[str, Any]) -> None:
            record["stored"] = sorted({*record.get("stored", []), image.index})

        record = self._change(image.prediction_id, mark)
        if record is not None:
            expected = record.get("images") or FluxParams.from_input(record["params"]).num_outputs
            if set(range(expected)) <= set(record["stored"]):
                self.close(image.prediction_id)

    def close(self, job_id: str) -> None:
        """Forget the job (its images are in the history, or there are none to fetch)."""
        with self._lock:
            self._following.discard(job_id)
            self._path(job_id).unlink(missing_ok=True)

    def open_jobs(self, *, include_followed: bool = False) -> list[OpenJob]:
        """The jobs left open, oldest first; damaged files are logged and skipped. Jobs a
        generation of this process still follows are left out unless ``include_followed``."""
        if not self.folder.is_dir():
            return []
        jobs = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                job = _open_job(json.loads(path.read_bytes()))
            except (OSError, ValueError, KeyError, TypeError) as error:
                logger.warning("job file %s is damaged (%s); skipped", path.name, error)
                continue
            if include_followed or job.job_id not in self._following:
                jobs.append(job)
        return sorted(jobs, key=lambda job: job.created_at)

    # -- files --------------------------------------------------------------------------

    def _path(self, job_id: str) -> Path:
        return self.folder / f"{_UNSAFE.sub('_', job_id)[:120]}.json"

    def _write(self, job_id: str, record: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path(job_id), json.dumps(record, ensure_ascii=False).encode())
        fsync_directory(self.folder)

    def _change(
        self, job_id: str, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any] | None:
        with self._lock:
            try:
                record = json.loads(self._path(job_id).read_bytes())
            except (OSError, ValueError):
                return None  # closed meanwhile, or never written (a journal added later)
            change(record)
            self._write(job_id, record)
            return dict(record)


def _open_job(record: dict[str, Any]) -> OpenJob:
    if record.get("version") != _VERSION:
        raise ValueError(f"unknown job file version {record.get('version')!r}")
    created = datetime.fromisoformat(record["created_at"])
    return OpenJob(
        provider=str(record["provider"]),
        job_id=str(record["job_id"]),
        params=FluxParams.from_input(record["params"]),
        created_at=created if created.tzinfo else created.replace(tzinfo=timezone.utc),
        images=record.get("images"),
        stored=frozenset(int(i) for i in record.get("stored", [])),
    )


# -- recovery -------------------------------------------------------------------------------


class Resumer(Protocol):
    """What ``recover`` needs of a client (``FluxClient`` is one)."""

    @property
    def provider(self) -> str: ...
    @property
    def provider_info(self) -> Provider: ...
    @property
    def base_url(self) -> str: ...
    def with_provider(self, provider: str) -> Resumer: ...
    async def resume(
        self, job_id: str, params: FluxParams, *, cancel_running: bool = False
    ) -> tuple[str, list[GeneratedImage]]: ...


@dataclass(frozen=True)
class JobOutcome:
    """What recovery found for one job: ``outcome`` is "recovered", "expired", "failed",
    "canceled", "running", "no query route", "no key" or "error"; ``reason`` says it in words;
    ``images`` how many were stored now; ``closed`` whether the job left the journal."""

    provider: str
    job_id: str
    outcome: str
    reason: str
    images: int = 0
    closed: bool = True


@dataclass
class RecoveryReport:
    """What ``History.recover`` did: ``str(report)`` reads "recovered 2 images from 1 job",
    followed by what became of the other jobs, in words."""

    jobs: list[JobOutcome] = field(default_factory=list)
    images: list[GeneratedImage] = field(default_factory=list)

    @property
    def recovered(self) -> list[JobOutcome]:
        return [job for job in self.jobs if job.outcome == "recovered"]

    def __str__(self) -> str:
        if not self.jobs:
            return "no open jobs to recover"
        recovered = self.recovered
        images = sum(job.images for job in recovered)
        others = [
            f"{job.provider} job {job.job_id}: {job.reason}"
            for job in self.jobs
            if job.outcome != "recovered"
        ]
        parts = []
        if recovered:
            parts.append(
                f"recovered {plural(images, 'image')} from {plural(len(recovered), 'job')}"
            )
        if others:
            # "recovered 0 images from 0 jobs; replicate job ..." read as if no job was named.
            parts.append(f"{plural(len(others), 'job')} not recovered: " + "; ".join(others))
        return "; ".join(parts)


async def recover(
    journal: JobFiles,
    client: Resumer,
    store: Callable[[GeneratedImage], GeneratedImage],
    *,
    cancel_running: bool = False,
) -> RecoveryReport:
    """``History.recover``: ask each open job's provider about it (through ``client``, or its
    ``with_provider`` for another provider) and ``store`` what succeeded. Blocking file I/O
    runs in worker threads; network errors leave a job open, to be asked again."""
    report = RecoveryReport()
    clients: dict[str, Resumer | ValueError | MissingAPIKeyError] = {client.provider: client}
    for job in await asyncio.to_thread(journal.open_jobs):
        outcome = await _recover_one(journal, job, clients, client, store, cancel_running, report)
        if outcome.closed:
            await asyncio.to_thread(journal.close, job.job_id)
        report.jobs.append(outcome)
    return report


async def _recover_one(
    journal: JobFiles,
    job: OpenJob,
    clients: dict[str, Resumer | ValueError | MissingAPIKeyError],
    client: Resumer,
    store: Callable[[GeneratedImage], GeneratedImage],
    cancel_running: bool,
    report: RecoveryReport,
) -> JobOutcome:
    def outcome(kind: str, reason: str, images: int = 0, closed: bool = True) -> JobOutcome:
        return JobOutcome(job.provider, job.job_id, kind, reason, images, closed)

    if job.age() > OUTPUT_LIFETIME:
        hours = job.age() / 3600
        return outcome("expired", f"expired ({hours:.1f} h old; outputs last about an hour)")
    if job.provider not in clients:
        try:
            clients[job.provider] = client.with_provider(job.provider)
        except (MissingAPIKeyError, ValueError) as error:  # ValueError: a provider unknown here
            clients[job.provider] = error
    resumer = clients[job.provider]
    if isinstance(resumer, MissingAPIKeyError):
        return outcome("no key", f"no key for {job.provider} now ({resumer})", closed=False)
    if isinstance(resumer, ValueError):
        return outcome("error", f"cannot ask: {resumer}", closed=False)
    try:
        resumer.provider_info.poll_request(Job(job.job_id, "starting"), resumer.base_url)
    except ProtocolError:
        reason = f"{job.provider} answers in one call: its jobs cannot be asked for again"
        return outcome("no query route", reason)
    try:
        status, images = await resumer.resume(job.job_id, job.params, cancel_running=cancel_running)
    except InvalidRequestError as error:  # 404 and the like: the provider no longer knows it
        return outcome("expired", f"unknown to {job.provider} now ({error})")
    except FluxError as error:  # the network, the server: ask again next time
        return outcome("error", f"could not ask ({error}); left open", closed=False)
    if status == "succeeded":
        fresh = [image for image in images if image.index not in job.stored]
        for image in fresh:
            report.images.append(await asyncio.to_thread(store, image))
        return outcome("recovered", f"{plural(len(fresh), 'image')} stored", len(fresh))
    if status in ("failed", "aborted"):
        return outcome("failed", f"the generation {status} on the server")
    if status == "canceled":
        return outcome("canceled", "cancelled on the server")
    hint = "cancel requested" if cancel_running else "recover(cancel_running=True) cancels it"
    return outcome("running", f"still {status}: left open ({hint})", closed=False)


def atomic_write(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never a part (even after a crash)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def fsync_directory(directory: Path) -> None:
    # The renames are durable only once the directory itself is synced (POSIX); Windows
    # cannot open a directory, and its replace is durable enough.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
