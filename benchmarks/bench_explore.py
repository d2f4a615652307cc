"""Rows E1-E2: expanding a big prompt template, and what the spending cap costs and holds.

    python -m benchmarks.bench_explore [--quick]

E1. A template of 10,000 combinations is expanded and every item validated into the FluxParams
    that would be sent (``plan_batch``), against the dynamicprompts library's own
    ``CombinatorialPromptGenerator`` plus ``FluxParams(...)`` per item, in the same run.
E2. The cap's own cost per generation (reserve + settle), and end to end: the same batch of
    generations against a fake server (httpx ``MockTransport``, no network) with and without a
    cap. Then 200 concurrent generations under a cap that admits exactly 37 of them: the fake
    server counts the creates it received.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import time
from typing import Any

import httpx
from PIL import Image

from flux_widgets import FluxClient
from flux_widgets.params import FluxParams
from flux_widgets.prompts.plans import plan_batch
from flux_widgets.spending.budget import BudgetExceededError, SpendingCap

from .stats import Row, format_table, machine, median

_TEN = "{zero|one|two|three|four|five|six|seven|eight|nine}"
TEMPLATE = f"a {_TEN} fox and a {_TEN} owl, {_TEN} stars, {_TEN} moons, watercolor"
"""10,000 combinations: four variants of ten choices each."""
PRICE = 0.003  # Replicate's per-image price in the table (prices.py)


def expand_ours() -> int:
    plan = plan_batch(TEMPLATE, provider="replicate", seed=7, aspect_ratio="16:9")
    return sum(1 for _ in plan.params())


def expand_library() -> int:
    from dynamicprompts.generators import CombinatorialPromptGenerator
    from dynamicprompts.wildcards import WildcardManager

    prompts = CombinatorialPromptGenerator(WildcardManager()).generate(TEMPLATE, max_prompts=None)
    return len([FluxParams(prompt=p, seed=7, aspect_ratio="16:9") for p in prompts])


def timed(function: Any, repeats: int) -> list[float]:
    function()  # warm: imports, parser caches
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        count = function()
        samples.append(time.perf_counter() - began)
        assert count == 10_000, count
    return samples


class CountingServer:
    """A fake Replicate API in-process: every create succeeds at once with one tiny image."""

    def __init__(self) -> None:
        self.creates = 0
        out = io.BytesIO()
        Image.new("RGB", (16, 16), (200, 80, 40)).save(out, "WEBP")
        self.image = out.getvalue()

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/predictions"):
            self.creates += 1
            number = self.creates
            body = json.loads(request.content)["input"]
            prediction = {
                "id": f"p{number}",
                "status": "succeeded",
                "input": body,
                "output": [f"https://files.fake/p{number}/out-0.webp"],
                "logs": "",
                "error": None,
                "metrics": {"predict_time": 0.0},
            }
            return httpx.Response(201, json=prediction)
        if request.url.host == "files.fake":
            return httpx.Response(200, content=self.image, headers={"content-type": "image/webp"})
        return httpx.Response(404, json={"detail": "not found"})

    def client(self, **kwargs: Any) -> FluxClient:
        return FluxClient(
            api_key="r8_fake",
            provider="replicate",
            base_url="https://api.fake",
            transport=httpx.MockTransport(self.handler),
            max_concurrency=200,
            history=False,  # what is measured is the batch, not the history's disk
            **kwargs,
        )


async def batch_seconds(n: int, max_spend: float | None) -> float:
    server = CountingServer()
    client = server.client(max_spend=max_spend)
    params = FluxParams(prompt="a fox", seed=1)
    async with client:
        await client.generate(params)  # warm the pool
        began = time.perf_counter()
        for _ in range(n):
            await client.generate(params)
        return (time.perf_counter() - began) / n


async def concurrent_cap(total: int, admitted: int) -> tuple[int, int, int, float]:
    """(creates the server saw, generations that succeeded, refusals, dollars the cap spent)."""
    server = CountingServer()
    client = server.client(max_spend=PRICE * admitted)
    params = FluxParams(prompt="a fox", seed=1)
    async with client:
        results = await asyncio.gather(
            *(client.generate(params) for _ in range(total)), return_exceptions=True
        )
    refused = sum(isinstance(r, BudgetExceededError) for r in results)
    succeeded = sum(isinstance(r, list) for r in results)
    cap = client.spending_cap
    assert cap is not None
    return server.creates, succeeded, refused, cap.spent


def cap_microseconds(n: int) -> float:
    cap = SpendingCap(n * PRICE)
    began = time.perf_counter()
    for _ in range(n):
        cap.settle(cap.reserve(PRICE), charged=True)
    return (time.perf_counter() - began) / n * 1e6


async def main(quick: bool) -> str:
    repeats = 3 if quick else 15
    ours = median(timed(expand_ours, repeats))
    library = median(timed(expand_library, repeats))
    n = 20 if quick else 200
    # Alternated, so a busy moment of the shared machine hits both alike; medians of rounds.
    rounds: dict[bool, list[float]] = {False: [], True: []}
    for round_number in range(2 if quick else 5):
        for capped in (False, True) if round_number % 2 == 0 else (True, False):
            rounds[capped].append(await batch_seconds(n, 1e6 if capped else None))
    without, with_cap = median(rounds[False]), median(rounds[True])
    overhead_ms = (with_cap - without) * 1000
    direct_us = cap_microseconds(100_000)
    creates, succeeded, refused, spent = await concurrent_cap(200, 37)
    rows = [
        Row(
            "E1",
            "10,000-combination template: expand + validate every item",
            f"{ours * 1000:.1f} ms",
            f"dynamicprompts generator + FluxParams each {library * 1000:.1f} ms",
            f"{ours / library:.3f}x",
            "<= 200 ms",
            ours <= 0.2,
        ),
        Row(
            "E2",
            "spending cap, reserve + settle per generation",
            f"{direct_us:.2f} µs",
            "-",
            "-",
            "< 1 ms",
            direct_us < 1000,
        ),
        Row(
            "E2b",
            f"generation end to end on a fake server, with cap (median of means of {n})",
            f"{with_cap * 1000:.2f} ms",
            f"without cap {without * 1000:.2f} ms",
            f"{with_cap / without:.3f}x",
            "difference < 1 ms",
            overhead_ms < 1.0,
        ),
        Row(
            "E2c",
            "200 concurrent generations, cap for exactly 37",
            f"{creates} creates sent, {succeeded} succeeded, {refused} refused",
            "-",
            "-",
            "37 / 37 / 163",
            (creates, succeeded, refused) == (37, 37, 163) and spent <= PRICE * 37 + 1e-9,
        ),
    ]
    notes = [
        f"Machine: {machine()}",
        f"template: {TEMPLATE!r}",
        "E2c: the fake server counts the creates it received; the cap refuses the other 163 "
        "before any request (BudgetExceededError), and spent is "
        f"${spent:.4f} of ${PRICE * 37:.4f}",
    ]
    return format_table("Exploring prompts: templates and the spending cap", rows, notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    arguments = parser.parse_args()
    print(asyncio.run(main(arguments.quick)))
