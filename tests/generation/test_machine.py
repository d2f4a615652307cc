"""One generation's own API: ``Generation.run()`` over a sender and a policy, and ``Progress``."""

from __future__ import annotations

import asyncio
import logging
import weakref

import httpx
import pytest

from flux_widgets.generation import Generation, GenerationPolicy, Progress
from flux_widgets.mock import MockConfig
from flux_widgets.params import FluxParams
from flux_widgets.providers import COMETAPI
from flux_widgets.transport.in_process import InProcessMock
from flux_widgets.transport.lifecycle import LoopResources
from flux_widgets.transport.polling import DurationEstimate, RateLimiter
from flux_widgets.transport.retry import Backoff
from flux_widgets.transport.sending import MockSighting, Sender, Timeouts


async def test_a_generation_creates_polls_downloads_and_reports_each_status() -> None:
    mock = InProcessMock(MockConfig(generation_time=0.05))
    async with httpx.AsyncClient(transport=mock.transport()) as http:
        resources = LoopResources(
            loop=weakref.ref(asyncio.get_running_loop()),
            http=http,
            slots=asyncio.Semaphore(1),
            queries=RateLimiter(),
        )
        sender = Sender(
            http=http,
            provider=COMETAPI,
            base_url=mock.url,
            api_key=None,
            auth=httpx.Auth(),
            timeouts=Timeouts(),
            backoff=Backoff(),
            attempts=1,
            sighting=MockSighting(),
        )
        policy = GenerationPolicy(
            provider=COMETAPI,
            base_url=mock.url,
            deadline=10.0,
            sync_wait=False,
            estimate=DurationEstimate(),
            unclaimed_outputs=[],
        )
        statuses: list[str] = []
        params = FluxParams(prompt="a boat", megapixels="0.25", num_outputs=2)
        generation = Generation(
            params, Progress(statuses.append), policy=policy, sender=sender, resources=resources
        )
        images = await generation.run()
    assert [image.index for image in images] == [0, 1]
    assert statuses[0] == "starting" and statuses[-2:] == ["downloading", "succeeded"]
    assert generation.progress.prediction_id == images[0].prediction_id
    assert sender.sighting.seen  # the mock's header was noticed
    # ... by the downloads, so each image says the mock made it (never served as a real one's).
    assert [image.source for image in images] == ["mock/cometapi", "mock/cometapi"]
    assert policy.estimate.observations == 1 and policy.unclaimed_outputs == []
    assert not resources.runs  # its task is owned only while it runs
    assert mock.state.creates == 1


def test_progress_reports_each_new_status_once_and_survives_a_broken_callback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    def on_status(status: str) -> None:
        seen.append(status)
        if status == "processing":
            raise RuntimeError("a broken UI callback")

    progress = Progress(on_status)
    with caplog.at_level(logging.ERROR, logger="flux_widgets"):
        for status in ("queued", "starting", "starting", "processing", "downloading"):
            progress.report(status)
    assert seen == ["starting", "processing", "downloading"]
    assert progress.status == "downloading"
    assert "status callback failed" in caplog.text
