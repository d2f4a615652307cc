"""Row 10: the mock server itself under 300 concurrent generations.

The benchmarks above trust the mock to answer in well under a millisecond. Here a bare httpx
driver (no flux-widgets client, so no rate cap and no schedule) runs 300 generations at once
against the mock's own process, once with ``Prefer: wait`` honoured and once polling every
100 ms, and reads the server's CPU time from /proc: CPU per request is its overhead, and its
CPU use over the run says whether it could be the bottleneck (one core is its ceiling).

Every generation asks for the same prompt and seed, so the image is rendered once and served
from the mock's cache: rendering is the fake GPU's work, not request overhead.

    python -m benchmarks.bench_mock [--quick] [--generations N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

import httpx

from flux_widgets.providers import MODEL

from .mockproc import Admin, MockProcess, count_requests
from .stats import Row, format_table, machine, ms, percentile

# go_fast off: with it on, every prediction is a slightly different image (as fp8 is on the
# real API) and the mock would render each one instead of serving the cached file.
INPUT = {"prompt": "a paper boat on calm water at sunrise", "seed": 42, "go_fast": False}
POLL_INTERVAL = 0.1
_POOL_SIZE = 10
# The server may use at most this share of its one core (its event loop) and still be no
# bottleneck: twice this load would still be served.
MAX_BUSY = 0.5


@dataclass
class LoadResult:
    wall: float
    requests: int
    server_cpu: float
    latencies: list[float]

    @property
    def cpu_per_request(self) -> float:
        return self.server_cpu / self.requests

    @property
    def busy(self) -> float:
        """Server CPU seconds per wall second (1.0 = one core fully used)."""
        return self.server_cpu / self.wall


async def one_generation(http: httpx.AsyncClient, base: str, sync_wait: bool) -> float:
    began = time.perf_counter()
    headers = {"Prefer": "wait=60"} if sync_wait else {}
    response = await http.post(
        f"{base}/replicate/v1/models/{MODEL}/predictions", json={"input": INPUT}, headers=headers
    )
    response.raise_for_status()
    prediction = response.json()
    while prediction["status"] != "succeeded":
        await asyncio.sleep(POLL_INTERVAL)
        response = await http.get(f"{base}/replicate/v1/predictions/{prediction['id']}")
        response.raise_for_status()
        prediction = response.json()
    (await http.get(prediction["output"][0])).raise_for_status()
    return time.perf_counter() - began


async def load(count: int, generation_time: float, sync_wait: bool) -> LoadResult:
    with MockProcess(generation_time=generation_time, cometapi_sync_wait=sync_wait) as mock:
        # httpcore's pool scans every connection for every request (quadratic): with 300
        # connections in one pool the driver, not the server, would be what is measured. So
        # the driver spreads the generations over small pools, opened before the clock starts.
        pools = [
            httpx.AsyncClient(limits=httpx.Limits(max_connections=_POOL_SIZE), timeout=120.0)
            for _ in range(-(-count // _POOL_SIZE))
        ]
        admin = Admin(mock)
        try:
            await one_generation(pools[0], mock.url, sync_wait)  # render and cache the image
            await asyncio.gather(
                *(pools[i % len(pools)].get(f"{mock.url}/mock/health") for i in range(count))
            )
            await admin.reset()
            cpu_before = mock.cpu_seconds()
            began = time.perf_counter()
            latencies = await asyncio.gather(
                *(one_generation(pools[i % len(pools)], mock.url, sync_wait) for i in range(count))
            )
            wall = time.perf_counter() - began
            cpu = mock.cpu_seconds() - cpu_before
            requests = count_requests(await admin.requests())
        finally:
            await asyncio.gather(*(pool.aclose() for pool in pools))
            await admin.aclose()
    total = requests.api + requests.files
    return LoadResult(wall, total, cpu, list(latencies))


async def main(quick: bool, generations: int | None) -> str:
    count = generations or (20 if quick else 300)
    generation_time = 0.05 if quick else 0.8
    rows = []
    for number, label, sync_wait in (
        ("10", "Prefer: wait honoured", True),
        ("10b", f"polling every {ms(POLL_INTERVAL)}", False),
    ):
        result = await load(count, generation_time, sync_wait)
        rows.append(
            Row(
                number,
                f"mock, {count} concurrent generations, {label}",
                f"{ms(result.cpu_per_request)} server CPU/request "
                f"({result.requests} requests, {result.busy:.0%} of a core)",
                "-",
                "-",
                f"server busy < {MAX_BUSY:.0%}",
                result.busy < MAX_BUSY,
            )
        )
        rows.append(
            Row(
                "",
                "  end-to-end per generation, p50 / p95",
                f"{ms(percentile(result.latencies, 50))} / {ms(percentile(result.latencies, 95))}",
                f"generation {ms(generation_time)}",
                "-",
                "-",
                None,
            )
        )
    notes = [
        "server CPU from /proc/<pid>/stat (user + system) over the run, all threads; the "
        "driver is a bare httpx.AsyncClient in the benchmark's process (the other core)",
        f"the end-to-end times include the driver's own load ({count} tasks on one event loop)",
        machine(),
    ]
    return format_table("The mock server under load (row 10)", rows, notes)


def cli() -> None:
    parser = argparse.ArgumentParser(description="Row 10: the mock server under load.")
    parser.add_argument("--quick", action="store_true", help="20 generations of 0.05 s")
    parser.add_argument("--generations", type=int, default=None, help="concurrent generations")
    args = parser.parse_args()
    print(asyncio.run(main(args.quick, args.generations)), flush=True)


if __name__ == "__main__":
    cli()
