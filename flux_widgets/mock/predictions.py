"""One fake prediction: its fixed plan, its status at any moment, and its JSON as the API sends it.

Nothing runs in the background: the status is computed from the time elapsed since create each
time someone asks, so a thousand pending predictions cost nothing between queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..params import FIELD_NAMES, FluxParams, random_seed
from .faults import Outcome
from .render import RenderSpec

FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})
MODEL = "black-forest-labs/flux-schnell"
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_prediction_id() -> str:
    """A random id shaped like Replicate's: 26 lowercase letters and digits."""
    return "".join(_ID_ALPHABET[b % 32] for b in secrets.token_bytes(26))


def _variation(prediction_id: str) -> int:
    digest = hashlib.blake2b(prediction_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") | 1  # never 0, which means "exact"


def iso_timestamp(ns: int) -> str:
    """Nanoseconds since the epoch as the API writes them: ``2025-02-26T15:02:03.355487090Z``."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{fraction:09d}Z"


@dataclass
class MockPrediction:
    """A prediction's plan (decided at create) plus the one thing that can change it: cancel."""

    id: str
    input: dict[str, Any]
    params: FluxParams
    seed: int
    outcome: Outcome
    starting_time: float
    generation_time: float
    file_ttl: float
    created_at: float = field(default_factory=time.monotonic)
    created_ns: int = field(default_factory=time.time_ns)
    canceled_at: float | None = None
    # The family that created it (a name in families.py): the file host answers as its CDN does.
    family: str = "replicate"
    # Width x height when the request gave pixels (fal, Together) instead of an aspect ratio.
    size: tuple[int, int] | None = None
    _waiters: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = field(
        default=None, repr=False
    )

    @classmethod
    def create(
        cls,
        input: dict[str, Any],
        outcome: Outcome,
        *,
        generation_time: float,
        starting_time: float,
        file_ttl: float,
        params: FluxParams | None = None,
        family: str = "replicate",
        size: tuple[int, int] | None = None,
    ) -> MockPrediction:
        """A new prediction for a validated ``input``; picks a seed when none was given.

        ``params`` stands in for a request in another family's shape (fal, Together), with
        ``size`` its pixel size; otherwise they are read from the Replicate-style ``input``.
        """
        if params is None:
            params = FluxParams(**{k: input[k] for k in FIELD_NAMES if k in input})
        seed = params.seed if params.seed is not None else random_seed()
        return cls(
            id=new_prediction_id(),
            input=input,
            params=params,
            seed=seed,
            outcome=outcome,
            starting_time=starting_time,
            generation_time=generation_time,
            file_ttl=file_ttl,
            family=family,
            size=size,
        )

    @property
    def final_at(self) -> float | None:
        """Monotonic time it reaches its final status, or ``None`` if it never will."""
        if self.canceled_at is not None:
            return self.canceled_at
        if self.outcome.status is None:
            return None
        return self.created_at + self.generation_time

    def status(self, now: float) -> str:
        """The status at monotonic time ``now``."""
        final_at = self.final_at
        if final_at is not None and now >= final_at:
            if self.canceled_at is not None:
                return "canceled"
            assert self.outcome.status is not None
            return self.outcome.status
        if self.outcome.pending_status is not None:
            return self.outcome.pending_status
        if self._started(now):
            return "processing"
        return "starting"

    def is_final(self, now: float) -> bool:
        """Whether the status at ``now`` is one that never changes again."""
        return self.status(now) in FINAL_STATUSES

    def finish_now(self, now: float) -> None:
        """Succeed at ``now`` if still pending (a cancel that arrives just too late: the
        ``late_cancels`` fault); its outputs are then served like any others."""
        if self.is_final(now):
            return
        self.outcome = dataclasses.replace(self.outcome, status="succeeded", pending_status=None)
        self.generation_time = max(0.0, now - self.created_at)
        self.starting_time = min(self.starting_time, self.generation_time)

    def cancel(self, now: float) -> None:
        """Cancel it if it is still pending (a final prediction stays as it is)."""
        if not self.is_final(now):
            self.canceled_at = now
            if self._waiters is not None:
                loop, event = self._waiters
                # Cancel may come from another thread (MockServer.state) or a closed loop.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(event.set)

    async def wait_final(self, timeout: float) -> None:
        """Return when it is final (or canceled meanwhile), or after ``timeout`` seconds."""
        final_at = self.final_at
        remaining = timeout if final_at is None else min(timeout, final_at - time.monotonic())
        if remaining <= 0:
            return
        # An asyncio.Event belongs to one loop: keep one per prediction, for the latest loop.
        loop = asyncio.get_running_loop()
        if self._waiters is None or self._waiters[0] is not loop:
            self._waiters = (loop, asyncio.Event())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._waiters[1].wait(), remaining)

    def files_expired(self, now: float) -> bool:
        """Whether its output files were deleted (the providers keep them about an hour)."""
        final_at = self.final_at
        return final_at is not None and now >= final_at + self.file_ttl

    def has_outputs(self, now: float) -> bool:
        """Whether it succeeded and its files are still there."""
        return self.status(now) == "succeeded" and not self.files_expired(now)

    def render_spec(self, index: int) -> RenderSpec:
        """What decides the bytes of output ``index``."""
        width, height = self.size or self.params.pixel_size()
        return RenderSpec(
            prompt=self.params.prompt,
            seed=self.seed,
            index=index,
            output_format=self.params.output_format,
            quality=self.params.output_quality,
            width=width,
            height=height,
            steps=self.params.num_inference_steps,
            # go_fast (fp8) is not bit-exact on the real API: each prediction varies slightly,
            # yet one prediction's file is the same on every download.
            variation=_variation(self.id) if self.params.go_fast else 0,
        )

    def file_name(self, index: int) -> str:
        """The name of output ``index`` under ``/files/{id}/``."""
        return f"out-{index}.{self.params.output_format}"

    def to_json(self, now: float, *, files_base_url: str, urls_base_url: str) -> dict[str, Any]:
        """The prediction object exactly as the API returns it at monotonic time ``now``."""
        status = self.status(now)
        final = status in FINAL_STATUSES
        started = self._started(now) and not (status == "aborted" or self._canceled_before_start())
        logs = ""
        if started:
            logs = f"Using seed: {self.seed}\n"
            if status == "succeeded":
                steps = self.params.num_inference_steps
                logs += f"100%|██████████| {steps}/{steps} [00:00<00:00]\n"
        output: list[str] | None = None
        if status == "succeeded":
            base = f"{files_base_url}/files/{self.id}"
            output = [f"{base}/{self.file_name(i)}" for i in range(self.params.num_outputs)]
        metrics: dict[str, Any] = {}
        if final and started:
            metrics["predict_time"] = round(self._seconds_to_final() - self.starting_time, 6)
        if status == "succeeded":
            metrics["image_count"] = self.params.num_outputs
        api = f"{urls_base_url}/v1/predictions/{self.id}"
        return {
            "id": self.id,
            "model": MODEL,
            "version": "hidden",
            "input": self.input,
            "logs": logs,
            "output": output,
            "data_removed": self.files_expired(now),
            "error": self.outcome.error if status == "failed" else None,
            "source": "api",
            "status": status,
            "created_at": iso_timestamp(self.created_ns),
            "started_at": self._timestamp(self.starting_time) if started else None,
            "completed_at": self._timestamp(self._seconds_to_final()) if final else None,
            "metrics": metrics,
            "urls": {
                "get": api,
                "cancel": f"{api}/cancel",
                "stream": f"{api}/stream",
                "web": f"{urls_base_url}/p/{self.id}",
            },
        }

    def _started(self, now: float) -> bool:
        return self.outcome.status != "aborted" and now - self.created_at >= self.starting_time

    def _canceled_before_start(self) -> bool:
        return self.canceled_at is not None and (
            self.canceled_at - self.created_at < self.starting_time
        )

    def _seconds_to_final(self) -> float:
        final_at = self.final_at
        assert final_at is not None
        return final_at - self.created_at

    def _timestamp(self, seconds_after_create: float) -> str:
        return iso_timestamp(self.created_ns + int(seconds_after_create * 1e9))
