"""Faults of giving up (issue #9): a cancel before the prediction id is known, the deadline
during a create, aclose() at any moment and from any loop; what started is cancelled and what
succeeded meanwhile is kept, never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flux_widgets import (
    BatchResult,
    ClientClosedError,
    FluxClient,
    FluxTimeoutError,
)
from flux_widgets.mock import FaultConfig, MockConfig, MockServer
from flux_widgets.transport.in_process import MOCK_URL, shared_mock

pytestmark = pytest.mark.usefixtures("no_proxy_from_the_runner")


def _cancels(server: MockServer) -> list[str]:
    """Ids of the predictions the mock was asked to cancel, in order."""
    return [
        r.path.rsplit("/", 2)[-2]
        for r in server.state.requests
        if r.method == "POST" and r.path.endswith("/cancel")
    ]


def _creates(server: MockServer) -> int:
    return sum(
        1 for r in server.state.requests if r.method == "POST" and r.path.endswith("/predictions")
    )


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until the mock (another thread) reaches ``condition``; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


async def test_cancel_during_a_replicate_sync_hold_cancels_the_prediction(
    mock_server: MockServer,
) -> None:
    # The input: provider="replicate", "[mock:stuck] x", cancel the task after 1 s.
    # The mock holds the create (Prefer: wait), so no prediction id is known yet at the cancel.
    async with FluxClient(base_url=mock_server.url, provider="replicate") as client:
        task = asyncio.create_task(client.generate("[mock:stuck] x"))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _creates(mock_server) == 1 and _cancels(mock_server) == []  # still held
        # Without aclose: the client's background task cancels it once the create answers.
        await _until(lambda: len(_cancels(mock_server)) == 1)
    (prediction_id,) = mock_server.state.predictions
    assert _cancels(mock_server) == [prediction_id]
    assert mock_server.state.predictions[prediction_id].status(mock_server.state.now()) == (
        "canceled"
    )


async def test_cancel_during_a_late_cometapi_create_cancels_once_it_answers(
    mock_server: MockServer,
) -> None:
    mock_server.state.faults = FaultConfig(create_delay=1.5)
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    task = asyncio.create_task(client.generate("[mock:stuck] a boat"))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _cancels(mock_server) == []  # the create has not answered yet
    await _until(lambda: len(_cancels(mock_server)) == 1)
    assert list(mock_server.state.predictions) == _cancels(mock_server)
    await client.aclose()


async def test_the_deadline_during_a_late_create_still_cancels_the_prediction(
    mock_server: MockServer,
) -> None:
    mock_server.state.faults = FaultConfig(create_delay=1.5)
    async with FluxClient(base_url=mock_server.url, sync_wait=False, timeout=0.5) as client:
        with pytest.raises(FluxTimeoutError):
            await client.generate("[mock:stuck] a boat")
        await _until(lambda: len(_cancels(mock_server)) == 1)
    assert _cancels(mock_server) == list(mock_server.state.predictions)


async def test_cancelling_a_generate_many_consumer_cancels_every_open_create(
    mock_server: MockServer,
) -> None:
    mock_server.state.faults = FaultConfig(create_delay=1.0)
    results: list[BatchResult] = []

    async def consume(client: FluxClient) -> None:
        async for result in client.generate_many([f"[mock:stuck] {i}" for i in range(3)]):
            results.append(result)

    async with FluxClient(base_url=mock_server.url, sync_wait=False) as client:
        task = asyncio.create_task(consume(client))
        await _until(lambda: _creates(mock_server) == 3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _until(lambda: len(_cancels(mock_server)) == 3)
    assert results == []
    assert sorted(_cancels(mock_server)) == sorted(mock_server.state.predictions)
    assert len(_cancels(mock_server)) == 3


async def test_breaking_out_of_generate_many_cancels_the_rest(mock_server: MockServer) -> None:
    async with FluxClient(base_url=mock_server.url, sync_wait=False) as client:
        prompts = ["a boat", "[mock:stuck] b", "[mock:stuck] c"]
        async with contextlib.aclosing(client.generate_many(prompts)) as results:
            async for result in results:
                assert result.ok and result.index == 0
                break
    stuck = {p.id for p in mock_server.state.predictions.values() if "stuck" in p.input["prompt"]}
    assert set(_cancels(mock_server)) == stuck and len(stuck) == 2


async def test_aclose_in_flight_cancels_each_prediction_then_raises_client_closed(
    mock_server: MockServer,
) -> None:
    statuses: list[str] = []
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    tasks = [
        asyncio.create_task(client.generate(f"[mock:stuck] {i}", on_status=statuses.append))
        for i in range(3)
    ]
    await _until(lambda: statuses.count("processing") == 3)
    await client.aclose()
    assert client.is_closed
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, ClientClosedError) for o in outcomes), outcomes
    ids = {o.prediction_id for o in outcomes if isinstance(o, ClientClosedError)}
    assert ids == set(mock_server.state.predictions) == set(_cancels(mock_server))
    assert all("cancelled" in str(o) for o in outcomes)


async def test_aclose_during_a_create_cancels_it_once_created(mock_server: MockServer) -> None:
    # aclose() gives an open create until 2 s after it was sent; this one answers in 0.5 s.
    mock_server.state.faults = FaultConfig(create_delay=0.5)
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    task = asyncio.create_task(client.generate("[mock:stuck] a boat"))
    await _until(lambda: _creates(mock_server) == 1)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await task
    assert _cancels(mock_server) == list(mock_server.state.predictions)


async def test_generate_during_aclose_is_refused_and_a_closed_client_reopens(
    mock_server: MockServer,
) -> None:
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    stuck = asyncio.create_task(client.generate("[mock:stuck] a"))
    await _until(lambda: len(mock_server.state.predictions) == 1)
    closing = asyncio.create_task(client.aclose())
    await asyncio.sleep(0)  # aclose() has started
    with pytest.raises(ClientClosedError, match="closing"):
        await client.generate("b")
    await closing
    with pytest.raises(ClientClosedError):
        await stuck
    # Documented: the next use reopens the client.
    assert client.is_closed
    images = await client.generate("c", megapixels="0.25")
    assert len(images) == 1 and not client.is_closed
    await client.aclose()


@pytest.mark.parametrize("close_after", [0.0, 0.002, 0.02, 0.06, 0.15])
async def test_closing_at_any_moment_ends_each_generation_in_images_or_a_flux_error(
    mock_server: MockServer, close_after: float
) -> None:
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    tasks = [
        asyncio.create_task(client.generate(f"p{i}", megapixels="0.25", num_outputs=2))
        for i in range(4)
    ]
    await asyncio.sleep(close_after)
    await client.aclose()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        assert isinstance(outcome, list | ClientClosedError), repr(outcome)
    # Whatever was cut short was cancelled on the server, unless it had already succeeded.
    now = mock_server.state.now()
    ended = {p.id: p.status(now) for p in mock_server.state.predictions.values()}
    for outcome in outcomes:
        if isinstance(outcome, ClientClosedError) and outcome.prediction_id:
            status = ended[outcome.prediction_id]
            assert status in ("canceled", "succeeded")
            if status == "succeeded":  # paid for: nothing dropped, fetched or listed
                assert len(outcome.images) + len(outcome.urls) == 2, outcome


async def test_a_mock_client_runs_in_process_and_reopens_after_aclose() -> None:
    # FluxClient.mock() answers through httpx.ASGITransport: no server thread, no socket, so
    # nothing to stop on aclose(); a private mock keeps its state, the shared one is the
    # process's.
    before = set(threading.enumerate())
    client = FluxClient.mock(config=MockConfig(generation_time=0.05), sync_wait=False)
    mock = client._mock_server
    assert len(await client.generate("a", megapixels="0.25")) == 1
    await client.aclose()
    assert client.is_closed
    # Reopened by the next use, on the same mock.
    assert len(await client.generate("a again", megapixels="0.25")) == 1
    assert client._mock_server is mock and mock.state.creates == 2
    await client.aclose()
    # MockServer's thread is named after its port (mock/server.py); render workers may start.
    started = {t.name for t in set(threading.enumerate()) - before}
    assert not [name for name in started if name.removeprefix("flux-mock-").isdigit()]
    async with FluxClient.mock(sync_wait=False) as shared:
        await shared.generate("b", megapixels="0.25")
    assert shared._mock_server is shared_mock() and mock is not shared_mock()
    assert shared.is_mock and shared.base_url == MOCK_URL


def test_a_mock_client_serves_generations_on_several_event_loops() -> None:
    # The mock's state is a plain object and each request runs the app on the caller's loop:
    # asyncio.run twice, a thread's loop, and a close from another loop all work as over HTTP.
    client = FluxClient.mock(config=MockConfig(generation_time=0.05), sync_wait=False)
    mock = client._mock_server

    async def generate(prompt: str) -> int:
        return len(await client.generate(prompt, megapixels="0.25"))

    assert asyncio.run(generate("a")) == asyncio.run(generate("b")) == 1
    in_thread: list[int] = []
    thread = threading.Thread(target=lambda: in_thread.append(asyncio.run(generate("c"))))
    thread.start()
    thread.join()
    assert in_thread == [1] and mock.state.creates == 3
    asyncio.run(client.aclose())


async def test_aclose_ends_generations_running_on_another_event_loop(
    mock_server: MockServer,
) -> None:
    client = FluxClient(base_url=mock_server.url, sync_wait=False)
    loop = asyncio.new_event_loop()
    outcome: list[BaseException] = []
    started = asyncio.Event()
    main_loop = asyncio.get_running_loop()

    async def generate_there() -> None:
        task = asyncio.ensure_future(client.generate("[mock:stuck] far"))
        await asyncio.sleep(0.3)
        main_loop.call_soon_threadsafe(started.set)
        try:
            await task
        except BaseException as error:
            outcome.append(error)

    thread = asyncio.to_thread(loop.run_until_complete, generate_there())
    running = asyncio.ensure_future(thread)
    await started.wait()
    await client.aclose()
    await running
    loop.close()
    assert len(outcome) == 1 and isinstance(outcome[0], ClientClosedError)
    assert _cancels(mock_server) == list(mock_server.state.predictions)


async def test_the_studio_cancel_during_an_open_create_cancels_the_prediction(
    tmp_path: Path,
) -> None:
    from flux_widgets import PredictionCanceledError, PromptStudio

    config = MockConfig(generation_time=0.05, faults=FaultConfig(create_delay=1.0))
    client = FluxClient.mock(config=config, sync_wait=False)
    server = client._mock_server
    studio = PromptStudio(client, history_dir=tmp_path)
    studio.prompt = "[mock:stuck] a boat"
    waiting = asyncio.create_task(studio.generate())
    await _until(lambda: _creates(server) == 1)
    [row] = studio.jobs
    row.cancel_button.click()
    with pytest.raises(PredictionCanceledError):
        await waiting
    assert row.state == "cancelled" and _cancels(server) == []  # the create is still open
    await _until(lambda: len(_cancels(server)) == 1)
    assert _cancels(server) == list(server.state.predictions)
    await client.aclose()


async def test_a_generation_given_up_while_its_create_waits_out_a_429_sends_no_new_create() -> None:
    # Found by a tester: cancelled at +1 s while the create waited out "429, Retry-After: 3",
    # the background finisher sent a new create at +3.2 s, starting a paid prediction, only to
    # cancel it. Between tries no request is open, so nothing was started: send nothing more.
    faults = FaultConfig(rate_limit_creates=1, retry_after=2)
    with MockServer(MockConfig(generation_time=0.05, faults=faults)) as server:
        client = FluxClient(base_url=server.url, provider="cometapi")
        task = asyncio.create_task(client.generate("a boat"))
        await asyncio.sleep(0.5)  # the 429 is in; the client is waiting out its Retry-After
        assert [r.method for r in server.state.requests] == ["POST"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(2.5)  # past the Retry-After: a retry would have gone out by now
        creates = [r for r in server.state.requests if r.method == "POST"]
        assert len(creates) == 1  # the refused one only
        assert len(server.state.predictions) == 0
        await client.aclose()


async def test_a_job_that_succeeds_during_a_hold_cut_short_by_aclose_is_kept_unclaimed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Found by a tester: aclose() during a 3.5 s sync-wait hold; the prediction succeeded in
    # the hold, was paid for, and its outputs were dropped. Now they are kept and named.
    client = FluxClient.mock(config=MockConfig(), provider="replicate")
    server = client._mock_server
    task = asyncio.create_task(client.generate("[mock:slow=3.5] a boat"))
    await asyncio.sleep(1.0)
    with caplog.at_level(logging.WARNING, logger="flux_widgets"):
        await client.aclose()
    with pytest.raises(ClientClosedError):
        await task
    [(job_id, outputs)] = client.unclaimed_outputs
    assert server.state.predictions[job_id].outcome.status == "succeeded"
    assert [output.url for output in outputs] == [f"{server.url}/files/{job_id}/out-0.webp"]
    assert any(
        job_id in r.getMessage() and "unclaimed_outputs" in r.getMessage() for r in caplog.records
    )


def test_aclose_from_another_loop_cancels_a_generation_whose_thread_loop_then_ends() -> None:
    # Found by a tester: a thread runs asyncio.run(generate(...)) while the create is held;
    # aclose() from the main thread ended the generation, its loop ended with it, and the
    # background cancel died with that loop: the prediction ran on. A kernel subshell is such
    # a thread.
    import threading

    with MockServer(MockConfig(generation_time=0.05)) as server:
        client = FluxClient(base_url=server.url, provider="replicate")
        outcome: dict[str, BaseException] = {}

        def worker() -> None:
            async def run() -> None:
                try:
                    await client.generate("[mock:stuck] a boat")
                except BaseException as error:  # what the thread's generation ended with
                    outcome["error"] = error

            asyncio.run(run())

        thread = threading.Thread(target=worker)
        thread.start()
        deadline = time.monotonic() + 5
        while not server.state.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # the create is on the wire, held by Prefer: wait
        asyncio.run(client.aclose())
        thread.join(30)
        assert isinstance(outcome["error"], ClientClosedError)
        [prediction_id] = list(server.state.predictions)
        assert _cancels(server) == [prediction_id]
