"""What one mock app remembers: predictions, recorded requests, the live fault config."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from ..params import FluxParams
from .config import MockConfig
from .faults import FaultConfig, FaultInjector
from .predictions import MockPrediction
from .render import Renderer, default_renderer

# Bounds that keep a long-running server (a benchmark, a classroom) from growing without end.
MAX_PREDICTIONS = 50_000
MAX_RECORDED_REQUESTS = 20_000


@dataclass(frozen=True)
class RecordedRequest:
    """One request as tests need to see it; the Authorization value itself is never kept."""

    method: str
    path: str
    host: str
    has_authorization: bool
    auth_scheme: str | None
    prefer: str | None
    time: float

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON object."""
        return dataclasses.asdict(self)


class MockState:
    """The mutable state behind ``app.state.mock``; touched only from the app's event loop."""

    def __init__(self, config: MockConfig, renderer: Renderer | None = None) -> None:
        self.config = config
        self.renderer = renderer or default_renderer()
        self.predictions: dict[str, MockPrediction] = {}
        self.requests: list[RecordedRequest] = []
        self.creates = 0
        self._initial_faults = dataclasses.replace(config.faults)
        self.injector: FaultInjector
        # A copy, as in reset(): injecting consumes counts, never those of the caller's object.
        self.faults = dataclasses.replace(config.faults)

    @property
    def faults(self) -> FaultConfig:
        """The live fault config (its counts go down as faults are injected)."""
        return self.injector.config

    @faults.setter
    def faults(self, faults: FaultConfig) -> None:
        self.config.faults = faults
        self.injector = FaultInjector(faults)

    def add(self, prediction: MockPrediction) -> None:
        """Keep a new prediction (forgetting the oldest beyond ``MAX_PREDICTIONS``)."""
        self.predictions[prediction.id] = prediction
        self.creates += 1
        if len(self.predictions) > MAX_PREDICTIONS:
            del self.predictions[next(iter(self.predictions))]

    def start(
        self,
        input: dict[str, Any],
        *,
        prompt: str,
        params: FluxParams | None = None,
        family: str = "replicate",
        size: tuple[int, int] | None = None,
    ) -> MockPrediction:
        """Create and keep a prediction for a validated request; its outputs start rendering.

        Its outcome comes from the faults and ``prompt``'s directives; ``params``, ``family``
        and ``size`` as in ``MockPrediction.create``.
        """
        outcome = self.injector.outcome(prompt)
        generation_time = outcome.generation_time
        if generation_time is None:
            generation_time = self.config.generation_time
        prediction = MockPrediction.create(
            input,
            outcome,
            generation_time=generation_time,
            starting_time=self.config.starting_time(generation_time),
            file_ttl=self.config.file_ttl,
            params=params,
            family=family,
            size=size,
        )
        self.add(prediction)
        if outcome.status == "succeeded":
            for index in range(prediction.params.num_outputs):
                self.renderer.submit(prediction.render_spec(index))
        return prediction

    async def data_uri(self, prediction: MockPrediction, index: int) -> str:
        """Output ``index`` of ``prediction`` as a ``data:image/...;base64,`` URI."""
        spec = prediction.render_spec(index)
        data = await asyncio.wrap_future(self.renderer.submit(spec))
        return f"data:{spec.content_type};base64,{base64.b64encode(data).decode('ascii')}"

    def record(self, method: str, path: str, headers: dict[str, str]) -> None:
        """Note one request (host, auth scheme, Prefer), for tests that check what a client sent."""
        authorization = headers.get("authorization")
        scheme = authorization.split(" ", 1)[0] if authorization else None
        self.requests.append(
            RecordedRequest(
                method=method,
                path=path,
                host=headers.get("host", ""),
                has_authorization=authorization is not None,
                auth_scheme=scheme,
                prefer=headers.get("prefer"),
                time=time.time(),
            )
        )
        if len(self.requests) > MAX_RECORDED_REQUESTS:
            del self.requests[: MAX_RECORDED_REQUESTS // 2]

    def reset(self, config: MockConfig | None = None) -> None:
        """Forget predictions and requests; faults go back to those of the config.

        With ``config``, the app behaves from now on as if created with it (tests reuse one
        server this way); call it between requests, not while some are in flight.
        """
        if config is not None:
            self.config = config
            self._initial_faults = dataclasses.replace(config.faults)
        self.predictions.clear()
        self.requests.clear()
        self.creates = 0
        self.faults = dataclasses.replace(self._initial_faults)

    def now(self) -> float:
        """The clock predictions are timed by."""
        return time.monotonic()
