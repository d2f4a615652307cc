"""The mock API in its own process, and what the benchmarks ask it over HTTP.

A subprocess rather than a ``MockServer`` thread: on a 2-core machine a server thread would
share the benchmark's GIL and its event loop's time, so the client would be measured together
with the server. In its own process, the server runs on its own core, as a real API would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from flux_widgets import providers

_START_TIMEOUT = 20.0


@dataclass(frozen=True)
class RequestCounts:
    """The API and file requests of some recorded stretch of traffic."""

    creates: int
    queries: int
    cancels: int
    files: int

    @property
    def api(self) -> int:
        """Requests to the API host (what a rate limit counts): creates, queries, cancels."""
        return self.creates + self.queries + self.cancels


def _kind(record: dict[str, Any]) -> str | None:
    path = str(record["path"])
    if path.startswith("/files/"):
        return "file"
    if path.endswith("/predictions") and record["method"] == "POST":
        return "create"
    if path.endswith("/cancel"):
        return "cancel"
    if "/v1/predictions/" in path:
        return "query"
    return None


def count_requests(records: list[dict[str, Any]]) -> RequestCounts:
    """Sort the mock's recorded requests (``/mock/requests``) into creates, queries, files."""
    kinds = Counter(_kind(record) for record in records)
    return RequestCounts(kinds["create"], kinds["query"], kinds["cancel"], kinds["file"])


def query_times(records: list[dict[str, Any]]) -> list[float]:
    """Wall-clock times of the non-create API requests (queries and cancels)."""
    return [float(r["time"]) for r in records if _kind(r) in ("query", "cancel")]


def prediction_ids(records: list[dict[str, Any]]) -> list[str]:
    """Ids of the predictions whose files were downloaded, in download order, no repeats."""
    files = (str(r["path"]) for r in records if _kind(r) == "file")
    return list(dict.fromkeys(path.split("/")[2] for path in files))


def parse_timestamp(text: str) -> float:
    """``2025-02-26T15:02:03.355487090Z`` as epoch seconds, by the client's own parser."""
    moment = providers.parse_timestamp(text)
    if moment is None:
        raise ValueError(f"not a timestamp: {text!r}")
    return moment.timestamp()


class MockProcess:
    """``python -m flux_widgets.mock`` on a free port, stopped on exit."""

    def __init__(self, *, generation_time: float = 0.8, cometapi_sync_wait: bool = False) -> None:
        self.generation_time = generation_time
        self.cometapi_sync_wait = cometapi_sync_wait
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    @property
    def cometapi_url(self) -> str:
        """The CometAPI routes' base URL for replicate (FluxClient takes ``url``: it adds it)."""
        return f"{self.url}/replicate"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> MockProcess:
        command = [
            sys.executable,
            "-m",
            "flux_widgets.mock",
            "--port",
            "0",
            "--generation-time",
            str(self.generation_time),
            "--cometapi-sync-wait" if self.cometapi_sync_wait else "--no-cometapi-sync-wait",
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            text = self._process.stdout.readline()
            if not text:
                break
            if text.startswith("flux-widgets mock API on "):
                self.url = text.rsplit(" ", 1)[1].strip()
                return self
        self.stop()
        raise RuntimeError("the mock server subprocess did not start")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None and process.stdout is not None:
            process.stdout.close()

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def __enter__(self) -> MockProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class Admin:
    """The benchmark's own look at the server: reset, request log, plain downloads, round trips.

    Its own httpx client (kept warm), so the physical limit is measured the way a plain
    download would happen, in the same run as the clients under test.
    """

    def __init__(self, mock: MockProcess) -> None:
        self.mock = mock
        self.http = httpx.AsyncClient(timeout=30.0)

    async def reset(self) -> None:
        (await self.http.post(f"{self.mock.url}/mock/reset")).raise_for_status()

    async def requests(self) -> list[dict[str, Any]]:
        response = await self.http.get(f"{self.mock.url}/mock/requests")
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()
        return records

    async def completed_at(self, prediction_id: str) -> float:
        """When the server marked the prediction final (epoch seconds)."""
        response = await self.http.get(f"{self.mock.cometapi_url}/v1/predictions/{prediction_id}")
        response.raise_for_status()
        return parse_timestamp(response.json()["completed_at"])

    async def download_seconds(self, url: str) -> float:
        """One plain GET of a file, body read: the download part of the physical limit."""
        began = time.perf_counter()
        response = await self.http.get(url)
        response.raise_for_status()
        return time.perf_counter() - began

    async def round_trip_seconds(self) -> float:
        """One small JSON GET to the server: the round trip part of the physical limit."""
        began = time.perf_counter()
        (await self.http.get(f"{self.mock.url}/mock/health")).raise_for_status()
        return time.perf_counter() - began

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Admin:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
