"""Durable jobs: each paid job written to the history folder as its id arrives, closed once its
images are stored, and recovered by a new ``History`` on the same folder."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flux_widgets.client import FluxClient
from flux_widgets.errors import (
    ClientClosedError,
    MissingAPIKeyError,
    PredictionCanceledError,
    ServerError,
)
from flux_widgets.history.jobs import JobFiles, RecoveryReport, recover
from flux_widgets.history.store import History
from flux_widgets.images import GeneratedImage
from flux_widgets.mock import FaultConfig, MockConfig
from flux_widgets.params import FluxParams
from flux_widgets.providers import get_provider

KEY = "sk-live-Jobs7Hq2ZxW9mP4vB8nR3kT6"


def _job_files(history: History) -> list[Path]:
    return sorted(history.jobs.folder.glob("*.json"))


async def _wait_for_job_file(history: History) -> Path:
    for _ in range(400):
        files = _job_files(history)
        if files:
            return files[0]
        await asyncio.sleep(0.01)
    raise AssertionError("no job file was written")


async def test_the_job_id_is_on_disk_while_the_generation_runs_and_gone_once_stored(
    tmp_path: Path,
) -> None:
    history = History(tmp_path)
    client = FluxClient.mock(config=MockConfig(generation_time=0.5), journal=history.jobs)
    async with client:
        task = asyncio.create_task(client.generate("a lighthouse", seed=7))
        path = await _wait_for_job_file(history)
        record = json.loads(path.read_bytes())
        assert not task.done()  # written when the id arrived, not when it finished
        assert record["provider"] == client.provider
        assert record["params"]["prompt"] == "a lighthouse"
        images = await task
    assert record["job_id"] == images[0].prediction_id
    assert _job_files(history), "downloaded but not stored: still open"
    for image in images:
        history.store(image)
    assert _job_files(history) == []


async def test_a_job_stays_open_until_every_one_of_its_images_is_stored(tmp_path: Path) -> None:
    history = History(tmp_path)
    async with FluxClient.mock(journal=history.jobs) as client:
        images = await client.generate("two boats", num_outputs=2)
    history.store(images[0])
    assert len(_job_files(history)) == 1
    history.store(images[1])
    assert _job_files(history) == []


async def test_a_new_history_recovers_the_images_of_a_job_left_open_with_their_recipe(
    tmp_path: Path,
) -> None:
    # The first kernel got the images but died before storing them.
    first = History(tmp_path)
    async with FluxClient.mock(journal=first.jobs) as client:
        images = await client.generate("a red fox in snow", seed=42, num_outputs=2)
    assert len(first) == 0
    second = History(tmp_path)
    async with FluxClient.mock() as client:
        report = await second.recover(client)
    assert str(report) == "recovered 2 images from 1 job"
    assert len(second) == 2
    stored = second.recent(2)
    assert {image.params.prompt for image in stored} == {"a red fox in snow"}
    assert {image.seed for image in stored} == {42}
    assert {image.prediction_id for image in stored} == {images[0].prediction_id}
    assert _job_files(second) == []
    async with FluxClient.mock() as client:
        assert str(await second.recover(client)) == "no open jobs to recover"


async def test_recovery_leaves_a_running_job_open_unless_asked_to_cancel_it(
    tmp_path: Path,
) -> None:
    config = MockConfig(generation_time=30)
    history = History(tmp_path)
    async with FluxClient.mock(config=config, journal=history.jobs) as client:
        task = asyncio.create_task(client.generate("a slow sunrise"))
        await _wait_for_job_file(history)
        other_kernel = History(tmp_path)  # does not follow the generation: it asks
        report = await other_kernel.recover(client)
        assert [job.outcome for job in report.jobs] == ["running"]
        assert "left open" in str(report)
        assert len(_job_files(history)) == 1
        report = await other_kernel.recover(client, cancel_running=True)
        # The cancel's answer (the prediction) confirms it: settled, closed.
        assert [(job.outcome, job.closed) for job in report.jobs] == [("canceled", True)]
        assert _job_files(history) == []
        # Cancelled on the server: the generation that followed it ends so.
        with pytest.raises(PredictionCanceledError):
            await asyncio.wait_for(task, 10)


async def test_this_kernels_running_generation_is_not_recovered_twice(tmp_path: Path) -> None:
    history = History(tmp_path)
    config = MockConfig(generation_time=0.6)
    async with FluxClient.mock(config=config, journal=history.jobs) as client:
        task = asyncio.create_task(client.generate("a kite"))
        await _wait_for_job_file(history)
        report = await history.recover(client)  # the same History: it follows that job
        assert report.jobs == []
        await task


async def test_a_cancel_the_server_confirms_closes_the_job_and_an_unconfirmed_one_is_left(
    tmp_path: Path,
) -> None:
    history = History(tmp_path)
    config = MockConfig(generation_time=30)
    async with FluxClient.mock(config=config, journal=history.jobs, history=False) as client:
        task = asyncio.create_task(client.generate("a storm"))
        await _wait_for_job_file(history)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Replicate's cancel answers "canceled": settled here, nothing for the next kernel.
        assert _job_files(history) == []
        assert str(await history.recover(client)) == "no open jobs to recover"
    # A cancel with no answer (a route that is not there) is left for recovery to settle.
    config = MockConfig(generation_time=30, faults=FaultConfig(cancel_missing=True))
    async with FluxClient.mock(config=config, journal=history.jobs, history=False) as client:
        task = asyncio.create_task(client.generate("a storm"))
        await _wait_for_job_file(history)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(_job_files(history)) == 1


def _open(journal: JobFiles, provider: str, job_id: str, age: float = 0) -> None:
    journal.opened(provider, job_id, FluxParams(prompt="p"))
    journal.released(job_id)
    if age:
        path = next(journal.folder.glob(f"{job_id}.json"))
        record = json.loads(path.read_bytes())
        then = datetime.now(timezone.utc) - timedelta(seconds=age)
        record["created_at"] = then.isoformat()
        path.write_text(json.dumps(record))


class _FakeClient:
    """A client whose provider answers what a test says, and records what it was asked."""

    def __init__(self, provider: str = "cometapi", answers: dict[str, object] | None = None):
        self.provider = provider
        self.provider_info = get_provider(provider)
        self.base_url = "http://127.0.0.1:9"
        self.answers = answers or {}
        self.asked: list[tuple[str, bool]] = []

    def with_provider(self, provider: str) -> _FakeClient:
        if provider == "midjourney":
            raise ValueError("unknown provider 'midjourney'")
        if provider == "fal":
            raise MissingAPIKeyError("no fal key: set FAL_KEY")
        return _FakeClient(provider, self.answers)

    async def resume(
        self, job_id: str, params: FluxParams, *, cancel_running: bool = False
    ) -> tuple[str, list[GeneratedImage]]:
        self.asked.append((job_id, cancel_running))
        answer = self.answers[job_id]
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, str)
        return answer, []


async def test_each_job_that_cannot_be_recovered_says_why_in_words(tmp_path: Path) -> None:
    journal = JobFiles(tmp_path)
    _open(journal, "cometapi", "old", age=2 * 3600)
    _open(journal, "cometapi", "failed1")
    _open(journal, "cometapi", "down")
    _open(journal, "together", "sync1")
    _open(journal, "fal", "nokey")
    _open(journal, "midjourney", "newer")  # written by a newer flux-widgets
    answers: dict[str, object] = {"failed1": "failed", "down": ServerError("503 busy")}
    client = _FakeClient(answers=answers)
    report = await recover(journal, client, lambda image: image)
    by_id = {job.job_id: job for job in report.jobs}
    assert by_id["old"].outcome == "expired" and "about an hour" in by_id["old"].reason
    assert by_id["failed1"].outcome == "failed"
    assert by_id["down"].outcome == "error" and not by_id["down"].closed
    assert by_id["sync1"].outcome == "no query route"
    assert "cannot be asked for again" in by_id["sync1"].reason
    assert by_id["nokey"].outcome == "no key" and "FAL_KEY" in by_id["nokey"].reason
    assert not by_id["nokey"].closed
    assert by_id["newer"].outcome == "error" and "unknown provider" in by_id["newer"].reason
    assert ("old", False) not in client.asked  # an expired job costs no request
    # Nothing recovered: the report names the jobs it could not recover, and how many.
    assert str(report).startswith(f"{len(report.jobs)} jobs not recovered: ")
    left = sorted(job.job_id for job in journal.open_jobs())
    assert left == ["down", "newer", "nokey"]  # asked again next time; the others are settled


def test_the_report_counts_images_and_jobs_with_the_right_plurals() -> None:
    from flux_widgets.history.jobs import JobOutcome

    one = JobOutcome("cometapi", "a", "recovered", "1 image stored", images=1)
    three = JobOutcome("cometapi", "b", "recovered", "3 images stored", images=3)
    assert str(RecoveryReport([one])) == "recovered 1 image from 1 job"
    assert str(RecoveryReport([one, three])) == "recovered 4 images from 2 jobs"
    assert str(RecoveryReport()) == "no open jobs to recover"


async def test_the_api_key_is_never_written_into_a_job_file(tmp_path: Path) -> None:
    history = History(tmp_path)
    mock = FluxClient.mock(config=MockConfig(api_key=KEY))
    async with FluxClient(
        KEY, base_url=mock.base_url, transport=mock._transport, journal=history.jobs
    ) as client:
        await client.generate("a secret garden")
    texts = [path.read_text() for path in _job_files(history)]
    assert texts
    for text in texts:
        assert KEY not in text
        assert not any(KEY[i : i + 8] in text for i in range(len(KEY) - 7))
    assert KEY not in repr(history.jobs)


def test_damaged_job_files_are_skipped_not_fatal(tmp_path: Path) -> None:
    journal = JobFiles(tmp_path)
    _open(journal, "cometapi", "good")
    (journal.folder / "bad.json").write_text("{not json")
    assert [job.job_id for job in journal.open_jobs()] == ["good"]


def test_job_ids_of_every_provider_shape_make_safe_file_names(tmp_path: Path) -> None:
    journal = JobFiles(tmp_path)
    ids = ["abc123xyz", "764cabed-1234-4a4a-8a8a-0123456789ab", "../../etc/passwd", "a/b\\c:d"]
    for job_id in ids:
        journal.opened("cometapi", job_id, FluxParams(prompt="p"))
    assert all(path.parent == journal.folder for path in journal.folder.iterdir())
    assert sorted(job.job_id for job in journal.open_jobs(include_followed=True)) == sorted(ids)


async def test_outputs_left_unclaimed_in_memory_stay_open_on_disk_and_are_recovered(
    tmp_path: Path,
) -> None:
    # aclose() cuts a 3.5 s sync-wait hold; the job succeeds in it, paid for: its outputs go to
    # client.unclaimed_outputs (memory), and its job file stays, so a restart loses nothing.
    history = History(tmp_path)
    client = FluxClient.mock(config=MockConfig(), provider="replicate", journal=history.jobs)
    task = asyncio.create_task(client.generate("[mock:slow=3.5] a boat", seed=3))
    await asyncio.sleep(1.0)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await task
    [(job_id, _)] = client.unclaimed_outputs
    [job] = History(tmp_path).jobs.open_jobs()
    assert job.job_id == job_id and job.provider == "replicate"
    async with client:  # the next use reopens it
        report = await History(tmp_path).recover(client)
    assert str(report) == "recovered 1 image from 1 job"
    assert [image.prediction_id for image in History(tmp_path).recent(5)] == [job_id]
