"""Rows P1-P4: one client, every provider: latency and API requests per generation, side by side.

The same ``FluxClient`` runs CometAPI's predictions (the baseline: the protocol the client was
built for), Replicate's (with ``Prefer: wait``), fal's queue (submit, status polls, result) and
Together's synchronous images call against one mock server in its own process, with a fixed
generation time and 1 MP outputs, in the same run. Target: no provider more than 10% slower than
the baseline (the protocol differences are the provider's, the waiting is the client's).

    python -m benchmarks.bench_providers [--quick] [--iterations N]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from flux_widgets import FluxClient

from .mockproc import Admin, MockProcess
from .stats import Row, format_table, machine, median, ms, ratio

PROMPT = "a paper boat on calm water at sunrise, watercolor"
PROVIDERS = ("cometapi", "replicate", "fal", "together")
TARGET = 1.10


async def measure(mock: MockProcess, provider: str, iterations: int) -> tuple[float, float]:
    """Median seconds per generation, and API requests per generation (mean)."""
    async with Admin(mock) as admin, FluxClient(base_url=mock.url, provider=provider) as client:
        await client.generate(PROMPT, seed=0)  # warm the pool
        await admin.reset()
        latencies = []
        for seed in range(1, iterations + 1):
            began = time.perf_counter()
            images = await client.generate(PROMPT, seed=seed)
            latencies.append(time.perf_counter() - began)
            assert images and images[0].data
        # Requests to the API (not the file host): creates, queries, fal's status and result.
        records = await admin.requests()
        api = sum(1 for record in records if not str(record["path"]).startswith("/files/"))
        return median(latencies), api / iterations


async def main(iterations: int) -> None:
    with MockProcess(generation_time=0.8) as mock:
        results = {p: await measure(mock, p, iterations) for p in PROVIDERS}
    baseline, baseline_requests = results["cometapi"]
    rows = []
    for number, provider in enumerate(PROVIDERS, start=1):
        latency, requests = results[provider]
        rows.append(
            Row(
                f"P{number}",
                f"{provider}: median latency; API requests per generation {requests:.1f}",
                ms(latency),
                f"cometapi {ms(baseline)} ({baseline_requests:.1f} req)",
                ratio(latency, baseline),
                f"<= {TARGET:.2f}x baseline",
                latency <= baseline * TARGET,
            )
        )
    print(
        format_table(
            f"Providers against one mock ({iterations} generations each, 0.8 s, 1 MP)",
            rows,
            [machine()],
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 generations each (a smoke test)")
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(2 if args.quick else args.iterations))
