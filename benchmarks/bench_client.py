"""Rows 1-5: latency, requests per generation, noticing success, and batches, side by side.

flux-widgets' ``FluxClient`` and the official ``replicate`` client (pinned in the dev extra)
take turns against the same mock server (its own process, real loopback HTTP), with a fixed
generation time and 1 MP WebP outputs at quality 80. The physical limit is measured in the same
run: generation time + one small round trip + a plain httpx GET of the same output file.

    python -m benchmarks.bench_client [--quick] [--iterations N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from replicate.client import Client as ReplicateClient
from replicate.helpers import FileOutput

from flux_widgets import FluxClient
from flux_widgets.providers import MODEL

from .mockproc import Admin, MockProcess, count_requests, prediction_ids, query_times
from .stats import Row, format_table, machine, median, ms, peak_count, percentile, ratio

PROMPT = "a paper boat on calm water at sunrise, watercolor"
KEY = "sk-benchmark"
# Replicate's limit for non-create requests (docs/protocol.md: 600 creates/min, 3,000 others/min).
QUERY_LIMIT_PER_MINUTE = 3000


@dataclass
class Sample:
    """One generation as seen from outside: latency, API requests, notice delay, limit parts."""

    latency: float
    api_requests: int
    notice_delay: float
    download: float
    round_trip: float


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    def values(self, name: str) -> list[float]:
        return [float(getattr(s, name)) for s in self.samples]


Generate = Callable[[int], Awaitable[float]]
"""Runs one generation with the given seed, output bytes in hand; returns the end (epoch)."""


def ours(client: FluxClient) -> Generate:
    async def run(seed: int) -> float:
        images = await client.generate(PROMPT, seed=seed)
        assert images and images[0].data
        return time.time()

    return run


def official(client: ReplicateClient) -> Generate:
    async def run(seed: int) -> float:
        outputs = await client.async_run(MODEL, input={"prompt": PROMPT, "seed": seed})
        assert isinstance(outputs, list) and outputs
        # replicate wraps only https: URLs in FileOutput; the mock serves http:, so wrap here to
        # download through replicate's own code path (its async httpx client).
        files = [o if isinstance(o, FileOutput) else FileOutput(str(o), client) for o in outputs]
        data = await asyncio.gather(*(f.aread() for f in files))
        assert all(data)
        return time.time()

    return run


async def measure_one(generate: Generate, admin: Admin, seed: int) -> Sample:
    await admin.reset()
    began = time.perf_counter()
    ended_at = await generate(seed)
    latency = time.perf_counter() - began
    records = await admin.requests()
    (prediction_id,) = prediction_ids(records)
    notice = ended_at - await admin.completed_at(prediction_id)
    file_url = next(f"{admin.mock.url}{r['path']}" for r in records if "/files/" in r["path"])
    return Sample(
        latency=latency,
        api_requests=count_requests(records).api,
        notice_delay=notice,
        download=await admin.download_seconds(file_url),
        round_trip=await admin.round_trip_seconds(),
    )


async def single_generations(
    sync_wait: bool, iterations: int, generation_time: float
) -> tuple[Series, Series]:
    """Alternate the two clients (each warm) on one server; the order flips every round."""
    mine, theirs = Series(), Series()
    with MockProcess(generation_time=generation_time, cometapi_sync_wait=sync_wait) as mock:
        # The client alone, as the official one: nothing kept in a history (nor in yours).
        client = FluxClient(api_key=KEY, base_url=mock.url, provider="cometapi", history=False)
        replicate = ReplicateClient(api_token=KEY, base_url=mock.cometapi_url)
        async with Admin(mock) as admin:
            try:
                contestants = [(ours(client), mine), (official(replicate), theirs)]
                for warmup in range(2):  # connections, imports, the client's duration estimate
                    for generate, _ in contestants:
                        await measure_one(generate, admin, 10_000 + warmup)
                for i in range(iterations):
                    order = contestants if i % 2 == 0 else contestants[::-1]
                    for generate, series in order:
                        series.samples.append(await measure_one(generate, admin, i))
            finally:
                await client.aclose()
                await replicate._async_client.aclose()
    return mine, theirs


def limit_of(series: Series, generation_time: float) -> float:
    """Generation time + one round trip + the plain download, medians of this run."""
    return generation_time + median(series.values("round_trip")) + median(series.values("download"))


@dataclass
class Batch:
    wall: float
    api_requests: int
    queries: int
    peak_queries_per_second: int


async def batch_ours(mock: MockProcess, admin: Admin, count: int, concurrency: int) -> Batch:
    client = FluxClient(
        api_key=KEY,
        base_url=mock.url,
        provider="cometapi",
        max_concurrency=concurrency,
        history=False,  # the client alone, as the official one
    )
    try:
        await client.generate(PROMPT, seed=1)  # warm: connections, and the duration estimate
        await admin.reset()
        began = time.perf_counter()
        results = [r async for r in client.generate_many(f"{PROMPT} #{i}" for i in range(count))]
        wall = time.perf_counter() - began
    finally:
        await client.aclose()
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return await _batch_result(admin, wall)


async def batch_official(mock: MockProcess, admin: Admin, count: int, concurrency: int) -> Batch:
    replicate = ReplicateClient(api_token=KEY, base_url=mock.cometapi_url)
    slots = asyncio.Semaphore(concurrency)
    generate = official(replicate)

    async def one(i: int) -> None:
        async with slots:
            await generate(i)

    try:
        await generate(1)
        await admin.reset()
        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        wall = time.perf_counter() - began
    finally:
        await replicate._async_client.aclose()
    return await _batch_result(admin, wall)


async def _batch_result(admin: Admin, wall: float) -> Batch:
    records = await admin.requests()
    counts = count_requests(records)
    return Batch(wall, counts.api, counts.queries, peak_count(query_times(records), 1.0))


async def stress_query_rate(count: int, generation_time: float) -> Batch:
    """A fresh client (duration estimate 0.8 s) against a slow server, all at once: the global
    query cap, not the schedule, is what bounds the rate here."""
    with MockProcess(generation_time=generation_time) as mock:
        async with Admin(mock) as admin:
            client = FluxClient(
                api_key=KEY,
                base_url=mock.url,
                provider="cometapi",
                max_concurrency=count,
                history=False,  # placeholders: nothing for the user's history
            )
            began = time.perf_counter()
            try:
                prompts = (f"{PROMPT} {i}" for i in range(count))
                results = [r async for r in client.generate_many(prompts)]
            finally:
                await client.aclose()
            assert all(r.ok for r in results)
            return await _batch_result(admin, time.perf_counter() - began)


async def main(quick: bool, iterations: int | None) -> str:
    generation_time = 0.05 if quick else 0.8
    n = iterations or (2 if quick else 15)
    batch_size, concurrency = (8, 4) if quick else (32, 8)
    nosync = await single_generations(False, n, generation_time)
    sync = await single_generations(True, n, generation_time)

    rows: list[Row] = []
    notes: list[str] = []
    for number, label, (mine, theirs), bound, below_baseline in (
        ("1", "median latency, no sync wait (CometAPI-like)", nosync, 1.05, True),
        ("2", "median latency, Prefer: wait honoured", sync, 1.02, False),
    ):
        limit = limit_of(mine, generation_time)
        ours_median, theirs_median = (
            median(mine.values("latency")),
            median(theirs.values("latency")),
        )
        rows.append(
            Row(
                number,
                label,
                ms(ours_median),
                f"replicate {ms(theirs_median)}",
                f"{ratio(ours_median, limit)} of limit",
                f"<= {bound}x limit ({ms(limit)})" + (", < baseline" if below_baseline else ""),
                ours_median <= bound * limit
                and (ours_median < theirs_median or not below_baseline),
            )
        )
        notes.append(
            f"row {number}: limit = generation {ms(generation_time)} + round trip "
            f"{ms(median(mine.values('round_trip')))} + plain download "
            f"{ms(median(mine.values('download')))}; replicate is "
            f"{ratio(theirs_median, limit)} of the limit"
        )

    mine, theirs = nosync
    ours_requests, theirs_requests = mine.values("api_requests"), theirs.values("api_requests")
    rows.append(
        Row(
            "3",
            "API requests per generation, no sync wait (mean, max)",
            f"{sum(ours_requests) / n:.1f}, {max(ours_requests):.0f}",
            f"replicate {sum(theirs_requests) / n:.1f}, {max(theirs_requests):.0f}",
            ratio(sum(ours_requests), sum(theirs_requests)),
            "<= 8",
            max(ours_requests) <= 8,
        )
    )

    with MockProcess(generation_time=generation_time) as mock:
        async with Admin(mock) as admin:
            batch = await batch_ours(mock, admin, batch_size, concurrency)
            reference = await batch_official(mock, admin, batch_size, concurrency)
    stress = await stress_query_rate(batch_size, generation_time * 3)
    for label, result in (
        (f"batch {batch_size} @ {concurrency}", batch),
        (f"stress: {batch_size} at once, server 3x slower than expected", stress),
    ):
        per_minute = result.peak_queries_per_second * 60
        rows.append(
            Row(
                "3b",
                f"peak query rate, {label} (busiest 1 s x 60)",
                f"{per_minute}/min ({result.queries} queries in {result.wall:.1f} s)",
                f"replicate {reference.peak_queries_per_second * 60}/min"
                if result is batch
                else "-",
                "-",
                f"< {QUERY_LIMIT_PER_MINUTE}/min",
                per_minute < QUERY_LIMIT_PER_MINUTE,
            )
        )

    for number, label, (mine, theirs) in (
        ("4", "succeeded -> generate returned, no sync wait", nosync),
        ("4b", "succeeded -> generate returned, Prefer: wait", sync),
    ):
        delays, baseline = mine.values("notice_delay"), theirs.values("notice_delay")
        rows.append(
            Row(
                number,
                f"{label} (p50 / p95)",
                f"{ms(percentile(delays, 50))} / {ms(percentile(delays, 95))}",
                f"replicate {ms(percentile(baseline, 50))} / {ms(percentile(baseline, 95))}",
                ratio(percentile(delays, 50), percentile(baseline, 50)),
                "p50 <= 40 ms",
                percentile(delays, 50) <= 0.040,
            )
        )
    notes.append(
        "rows 4: from the server's completed_at to the moment the output bytes are in hand "
        "(the download is included)"
    )

    waves = -(-batch_size // concurrency)
    ideal = waves * limit_of(nosync[0], generation_time)
    rows.append(
        Row(
            "5",
            f"wall time, {batch_size} prompts at concurrency {concurrency}, no sync wait",
            f"{batch.wall:.2f} s",
            f"ideal {ideal:.2f} s; replicate {reference.wall:.2f} s",
            f"{ratio(batch.wall, ideal)} of ideal",
            "<= 1.08x ideal",
            batch.wall <= 1.08 * ideal,
        )
    )
    notes.append(f"row 5: ideal = {waves} waves x the row-1 limit")
    notes.append(
        f"{n} generations per client per row, alternating; generation time "
        f"{generation_time} s; 1 MP WebP q80 outputs; mock in a subprocess; {machine()}"
    )
    return format_table("Client: latency, requests, batches (rows 1-5)", rows, notes)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (0.05 s generations)")
    parser.add_argument("--iterations", type=int, default=None, help="generations per client")
    args = parser.parse_args()
    print(asyncio.run(main(args.quick, args.iterations)), flush=True)


if __name__ == "__main__":
    cli()
