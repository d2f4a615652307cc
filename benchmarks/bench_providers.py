"""Rows P1-Pn and PG: one client on every registered provider, and the providers side by side.

The same ``FluxClient`` runs every provider in the registry (``flux_widgets.providers.PROVIDERS``:
CometAPI's predictions, Replicate's with ``Prefer: wait``, fal's queue, Together's synchronous
images call, and whatever is registered since, with no edit here) against one mock server in its
own process, with a fixed generation time and 1 MP outputs, in the same run. CometAPI (the
protocol the client was built for) is the baseline. For each provider: the median latency of
single generations, and API requests per image (files on the mock's file host not counted) at
1 image and at 4 images per generation (or the provider's most): the client adds no request the
protocol does not force. Row PG: a ``PromptGrid`` with a provider axis (one recipe on every
provider at once) against the same one-cell grid on the slowest provider alone, the two taking
turns: the grid runs the providers side by side, so it should take about as long as the
slowest one (both include what a grid does besides generating: a thumbnail per cell).

    python -m benchmarks.bench_providers [--quick] [--iterations N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

from flux_widgets import FluxClient
from flux_widgets.providers import PROVIDERS

from .mockproc import Admin, MockProcess
from .stats import Row, format_table, machine, median, ms, ratio

PROMPT = "a paper boat on calm water at sunrise, watercolor"
BASELINE = "cometapi"
TARGET = 1.10
MANY = 4


@dataclass(frozen=True)
class Measured:
    """One provider's numbers (``error``: why there are none)."""

    latency: float = 0.0
    requests_per_image: float = 0.0
    many: int = 1
    requests_per_image_many: float = 0.0
    error: str = ""


def api_requests(records: list[dict[str, object]]) -> int:
    """Requests to the API: creates, queries, fal's status and result; not the file host's."""
    return sum(1 for record in records if not str(record["path"]).startswith("/files/"))


async def measure(mock: MockProcess, provider: str, iterations: int) -> Measured:
    """Median seconds per generation, and API requests per image at 1 and at MANY images."""
    # history=False: the protocol's cost alone, and no placeholders in the user's history.
    client = FluxClient(base_url=mock.url, provider=provider, history=False)
    async with Admin(mock) as admin, client:
        await client.generate(PROMPT, seed=0)  # warm the pool
        await admin.reset()
        latencies = []
        for seed in range(1, iterations + 1):
            began = time.perf_counter()
            images = await client.generate(PROMPT, seed=seed)
            latencies.append(time.perf_counter() - began)
            assert images and images[0].data
        single = api_requests(await admin.requests()) / iterations
        bounds = client.provider_info.capabilities.allowed_bounds("num_outputs")
        many = min(MANY, bounds[1]) if bounds else 1
        await admin.reset()
        images = await client.generate(PROMPT, seed=1, num_outputs=many)
        assert len(images) == many
        return Measured(
            median(latencies), single, many, api_requests(await admin.requests()) / many
        )


async def grid_seconds(
    mock: MockProcess, names: list[str], alone: str, iterations: int
) -> tuple[float, float]:
    """Median wall times of a one-row ``PromptGrid`` with a provider column per name, and of
    the same grid with ``alone``'s column only, taking turns."""
    from flux_widgets.widgets.grid import PromptGrid

    async def once(client: FluxClient, columns: list[str], seed: int) -> float:
        grid = PromptGrid(
            client, rows=("seed", [seed]), columns=("provider", columns), base={"prompt": PROMPT}
        )
        began = time.perf_counter()
        await grid.generate()
        took = time.perf_counter() - began
        assert not grid.errors, grid.errors
        grid.close()
        return took

    async with FluxClient(base_url=mock.url, provider=names[0], history=False) as client:
        await once(client, names, 0)  # warm: every provider's client made once
        side, single = [], []
        for seed in range(1, iterations + 1):
            side.append(await once(client, names, seed))
            single.append(await once(client, [alone], seed))
        return median(side), median(single)


async def main(quick: bool = False, iterations: int | None = None) -> str:
    generation_time = 0.05 if quick else 0.8
    n = iterations or (2 if quick else 10)
    names = list(PROVIDERS)
    results: dict[str, Measured] = {}
    with MockProcess(generation_time=generation_time) as mock:
        for name in names:
            try:
                results[name] = await measure(mock, name, n)
            except Exception as error:  # a provider the mock cannot serve: say so, go on
                results[name] = Measured(error=f"{type(error).__name__}: {error}"[:80])
        working = [name for name in names if not results[name].error]
        slowest = max(working, key=lambda name: results[name].latency, default="")
        grid, alone = await grid_seconds(mock, working, slowest, n) if working else (0.0, 0.0)
    base = results[BASELINE]
    rows = []
    for number, name in enumerate(names, start=1):
        result = results[name]
        if result.error:
            rows.append(Row(f"P{number}", f"{name}: {result.error}", "-", "-", "-", "-", False))
            continue
        rows.append(
            Row(
                f"P{number}",
                f"{name}: median latency; API requests per image "
                f"{result.requests_per_image:.1f} (x1), {result.requests_per_image_many:.2f} "
                f"(x{result.many})",
                ms(result.latency),
                f"{BASELINE} {ms(base.latency)} ({base.requests_per_image:.1f} req/image)",
                ratio(result.latency, base.latency),
                f"<= {TARGET:.2f}x baseline",
                result.latency <= base.latency * TARGET,
            )
        )
    rows.append(
        Row(
            "PG",
            f"PromptGrid, one recipe on {len(working)} providers side by side: wall time",
            ms(grid),
            f"the grid on {slowest or '-'} alone {ms(alone)}",
            ratio(grid, alone),
            f"<= {TARGET:.2f}x alone",
            bool(working) and grid <= alone * TARGET,
        )
    )
    return format_table(
        f"Providers against one mock ({n} generations each, {generation_time} s, 1 MP)",
        rows,
        [machine()],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="0.05 s, 2 generations each")
    parser.add_argument("--iterations", type=int, default=None)
    args = parser.parse_args()
    print(asyncio.run(main(args.quick, args.iterations)))
