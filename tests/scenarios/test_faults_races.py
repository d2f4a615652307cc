"""Cancels that lose the race with completion (issue #17, item 2): whichever gives the
generation up (the caller's cancel, the deadline, ``aclose()``, the background cancel of a
create still open) and whichever family answers (Replicate-format's ``succeeded`` prediction,
fal's ``ALREADY_COMPLETED``), the outputs are paid for: downloaded into the deadline's error,
or kept in ``client.unclaimed_outputs`` with a warning; never "was cancelled", never dropped.

The mock's ``late_cancels`` fault stages each race: the job completes just before the cancel
arrives, and the cancel answers as the real API does for a finished job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
import pytest

from flux_widgets import ClientClosedError, FluxClient, FluxTimeoutError
from flux_widgets.mock import FaultConfig, MockConfig
from flux_widgets.mock.state import MockState
from flux_widgets.providers import FAL, Job, Output

pytestmark = pytest.mark.usefixtures("no_proxy_from_the_runner")

# Every family with a server-side cancel; Together has none (its images come with the answer).
CANCELLING = ["cometapi", "replicate", "fal"]
STUCK = "[mock:stuck] a lighthouse"  # never ends on its own: only the late cancel finishes it


def _client(provider: str, **faults: int | bool) -> FluxClient:
    config = MockConfig(generation_time=0.05, faults=FaultConfig(late_cancels=1, **faults))
    return FluxClient.mock(config=config, provider=provider, sync_wait=False)


def _state(client: FluxClient) -> MockState:
    return client._mock_server.state  # type: ignore[no-any-return]


def _only_prediction(client: FluxClient) -> str:
    [prediction_id] = _state(client).predictions
    return prediction_id


def _cancel_requests(client: FluxClient) -> list[str]:
    return [r.path for r in _state(client).requests if r.path.endswith("/cancel")]


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


def _assert_kept_unclaimed(
    client: FluxClient, caplog: pytest.LogCaptureFixture, count: int
) -> list[Output]:
    """The one prediction succeeded on the server, and its outputs are kept and announced."""
    prediction_id = _only_prediction(client)
    state = _state(client)
    assert state.predictions[prediction_id].status(state.now()) == "succeeded"
    assert len(_cancel_requests(client)) == 1  # the cancel was sent, and lost the race
    [(job_id, outputs)] = client.unclaimed_outputs
    assert job_id == prediction_id and len(outputs) == count
    assert all(o.url and f"/files/{prediction_id}/out-" in o.url for o in outputs)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        prediction_id in r.getMessage() and "unclaimed_outputs" in r.getMessage() for r in warned
    )
    return list(outputs)


@pytest.mark.parametrize("provider", CANCELLING)
async def test_a_task_cancel_that_loses_the_race_keeps_the_outputs_unclaimed(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    statuses: list[str] = []
    client = _client(provider)
    task = asyncio.create_task(
        client.generate(STUCK, megapixels="0.25", num_outputs=2, on_status=statuses.append)
    )
    await _until(lambda: "processing" in statuses)
    with caplog.at_level(logging.WARNING, logger="flux_widgets"):
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    outputs = _assert_kept_unclaimed(client, caplog, count=2)
    # The kept URLs work: the files are there to fetch within the hour.
    async with httpx.AsyncClient(transport=client._mock_server.transport()) as http:
        answers = [await http.get(o.url or "") for o in outputs]
    assert [a.status_code for a in answers] == [200, 200]
    await client.aclose()


@pytest.mark.parametrize("provider", CANCELLING)
async def test_the_deadline_that_loses_the_race_downloads_the_images_into_its_error(
    provider: str,
) -> None:
    config = MockConfig(generation_time=0.05, faults=FaultConfig(late_cancels=1))
    client = FluxClient.mock(config=config, provider=provider, sync_wait=False, timeout=1.0)
    async with client:
        with pytest.raises(FluxTimeoutError) as caught:
            await client.generate(STUCK, megapixels="0.25", num_outputs=2)
    error = caught.value
    prediction_id = _only_prediction(client)
    assert error.prediction_id == prediction_id
    assert [image.index for image in error.images] == [0, 1]
    assert all(image.prediction_id == prediction_id for image in error.images)
    assert all(image.width * image.height > 0 for image in error.images)
    assert error.urls == ()
    assert "cancelled" not in str(error) and "succeeded before the cancel" in str(error)
    assert client.unclaimed_outputs == []  # handed over in the error, not kept twice


@pytest.mark.parametrize("provider", CANCELLING)
async def test_aclose_that_loses_the_race_keeps_the_outputs_unclaimed(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    statuses: list[str] = []
    client = _client(provider)
    task = asyncio.create_task(client.generate(STUCK, megapixels="0.25", on_status=statuses.append))
    await _until(lambda: "processing" in statuses)
    with caplog.at_level(logging.WARNING, logger="flux_widgets"):
        await client.aclose()
    with pytest.raises(ClientClosedError) as caught:
        await task
    _assert_kept_unclaimed(client, caplog, count=1)
    message = str(caught.value)
    assert "was cancelled" not in message and "unclaimed_outputs" in message


@pytest.mark.parametrize("provider", CANCELLING)
async def test_the_background_cancel_of_an_open_create_that_loses_the_race_keeps_the_outputs(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Cancelled while the create is on the wire: the client cancels the job once the create
    # answers, in the background; that cancel too can arrive after the job completed.
    client = _client(provider, create_delay=0.5)
    task = asyncio.create_task(client.generate(STUCK, megapixels="0.25"))
    await _until(lambda: len(_state(client).predictions) == 1)
    with caplog.at_level(logging.WARNING, logger="flux_widgets"):
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _until(lambda: bool(client.unclaimed_outputs))
    _assert_kept_unclaimed(client, caplog, count=1)
    await client.aclose()


async def test_a_cancel_that_wins_the_race_keeps_nothing_and_says_cancelled() -> None:
    # The control: without the fault the cancel arrives in time; nothing was paid for.
    config = MockConfig(generation_time=0.05)
    client = FluxClient.mock(config=config, provider="fal", sync_wait=False, timeout=1.0)
    async with client:
        with pytest.raises(FluxTimeoutError, match="cancelled") as caught:
            await client.generate(STUCK, megapixels="0.25")
    assert caught.value.images == [] and client.unclaimed_outputs == []
    state = _state(client)
    assert state.predictions[_only_prediction(client)].status(state.now()) == "canceled"


def test_fal_reads_already_completed_as_a_result_to_fetch() -> None:
    job = Job(id="r1", status="processing", detail="generating")
    request = httpx.Request("PUT", "https://queue.fal.run/fal-ai/flux/requests/r1/cancel")
    completed = httpx.Response(400, json={"status": "ALREADY_COMPLETED"}, request=request)
    verdict = FAL.read_canceled(completed, job)
    assert verdict is not None and verdict.fetch_result and verdict.id == "r1"
    assert FAL.poll_request(verdict, "https://queue.fal.run").url == (
        "https://queue.fal.run/fal-ai/flux/requests/r1"
    )
    requested = httpx.Response(202, json={"status": "CANCELLATION_REQUESTED"}, request=request)
    assert FAL.read_canceled(requested, job) is None
    not_json = httpx.Response(400, text="<html>bad gateway</html>", request=request)
    assert FAL.read_canceled(not_json, job) is None


async def test_a_lost_race_sends_the_key_only_to_the_api_and_never_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The result fetch after fal's ALREADY_COMPLETED goes to the API (with the key); the late
    # downloads go to the file host (without it); no message or log line holds it.
    key = "fal-key-0123456789abcdef-SECRET"
    config = MockConfig(generation_time=0.05, api_key=key, faults=FaultConfig(late_cancels=1))
    client = FluxClient.mock(
        config=config, provider="fal", api_key=key, sync_wait=False, timeout=1.0
    )
    with caplog.at_level(logging.DEBUG):
        async with client:
            with pytest.raises(FluxTimeoutError) as caught:
                await client.generate(STUCK, megapixels="0.25")
    assert len(caught.value.images) == 1
    requests = _state(client).requests
    files = [r for r in requests if r.path.startswith("/files/")]
    api = [r for r in requests if not r.path.startswith("/files/")]
    assert files and not any(r.has_authorization for r in files)
    assert any(r.method == "GET" and r.path.endswith(_only_prediction(client)) for r in api)
    assert all(r.auth_scheme == "Key" for r in api)
    assert key not in str(caught.value) and key not in repr(caught.value)
    assert key[:8] not in caplog.text
