"""Faults of a server's values (issue #9): absurd durations, long Retry-Afters and non-numbers
never push the client past its own bounds, nor teach the poll schedule to oversleep.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import httpx
import pytest
from scenarios.fake_api import FakeAPI, prediction_json

from flux_widgets import (
    FluxClient,
    RateLimitError,
)
from flux_widgets.transport.polling import DurationEstimate
from flux_widgets.transport.retry import Backoff

pytestmark = pytest.mark.usefixtures("no_proxy_from_the_runner")


def _fake_client(api: FakeAPI, **kwargs: Any) -> FluxClient:
    client = FluxClient(
        base_url="http://api.example",
        sync_wait=False,
        transport=httpx.MockTransport(api),
        **kwargs,
    )
    client._backoff = Backoff(base=0.01, cap=0.02)
    return client


async def test_absurd_server_durations_do_not_teach_the_poll_schedule_to_oversleep() -> None:
    api = FakeAPI()
    year = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)).isoformat()
    absurd = prediction_json(
        "succeeded",
        completed_at=year,
        metrics={"predict_time": 3.2e7},
        output=[f"http://files.example/files/a/out-{i}.png" for i in range(40)],  # 1 asked
    )
    api.creates.append(lambda: httpx.Response(201, json=absurd))
    async with _fake_client(api) as client:
        images = await client.generate("a boat", output_format="png")
        assert len(images) == 1 and images[0].predict_time is None
        assert sum(1 for _, _, path in api.requests if path.startswith("/files/")) == 1
        assert client._estimate.seconds <= 0.8  # the prior, untouched by a year-long claim
        # The next generation: created "starting", done at the first query, which the
        # schedule sends at the prior estimate (0.8 s), not a year later.
        api.creates.append(lambda: httpx.Response(201, json=prediction_json("starting")))
        api.queries.append(prediction_json("succeeded"))
        await client.generate("a boat", output_format="png")
    create_at, query_at = (t for t, method, path in api.requests[-3:-1])
    assert [m for _, m, _ in api.requests[-3:]] == ["POST", "GET", "GET"]
    assert query_at - create_at < 2.0


def test_one_slow_generation_moves_the_estimate_a_bounded_step() -> None:
    estimate = DurationEstimate()
    estimate.observe(0.8)
    estimate.observe(3600.0)  # one generation that claims (or took) an hour
    assert estimate.seconds <= 0.8 + 0.3 * 3.2  # at most max_step times the estimate counts
    for _ in range(3):
        estimate.observe(0.8)
    assert estimate.seconds < 1.2
    estimate.observe(float("nan"))
    estimate.observe(float("inf"))
    assert estimate.observations == 5


async def test_a_long_retry_after_is_reported_at_once_and_the_next_generation_runs_normally() -> (
    None
):
    api = FakeAPI()
    throttled = httpx.Response(
        429, json={"detail": "Request was throttled."}, headers={"Retry-After": "86400"}
    )
    api.creates.append(lambda: throttled)
    async with _fake_client(api, timeout=20) as client:
        began = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            await client.generate("a boat", output_format="png")
        # Capped at 60 s, and past the 20 s deadline: reported, not slept.
        assert caught.value.retry_after == 60.0
        assert time.monotonic() - began < 5.0
        api.creates.append(lambda: httpx.Response(201, json=prediction_json("succeeded")))
        images = await client.generate("a boat", output_format="png")
    assert len(images) == 1
    assert [m for _, m, _ in api.requests] == ["POST", "POST", "GET"]


async def test_server_values_in_json_that_are_not_numbers_are_ignored() -> None:
    api = FakeAPI()
    weird = prediction_json(
        "succeeded", created_at="2999-01-01T00:00:00Z", metrics={"predict_time": -5}
    )
    api.creates.append(lambda: httpx.Response(201, content=json.dumps(weird).encode()))
    async with _fake_client(api) as client:
        images = await client.generate("a boat", output_format="png")
    assert len(images) == 1 and images[0].predict_time is None
    assert client._estimate.observations == 0


def test_lone_surrogate_prompt_is_refused_naming_the_field() -> None:
    from flux_widgets.params import FluxParams

    with pytest.raises(ValueError, match=r"prompt holds an invalid character at position 1"):
        FluxParams(prompt="a\ud800b")


def test_one_slow_first_generation_does_not_make_the_next_ones_oversleep() -> None:
    # Found by a tester: a plausible 6 s first generation, then 0.8 s ones, left the next
    # generations sleeping 3.2 / 2.5 / 2.0 / 1.6 s before their first query.
    estimate = DurationEstimate()
    estimate.observe(6.0)
    assert estimate.seconds == 0.8  # the prior: the next generation's first query at 0.8 s
    for _ in range(4):
        estimate.observe(0.8)
        assert estimate.seconds == 0.8
    # A server that really slowed down is still learnt, within a few generations.
    for _ in range(3):
        estimate.observe(6.0)
    assert estimate.seconds > 1.5
