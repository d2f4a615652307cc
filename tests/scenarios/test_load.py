"""Load: 200 generations at concurrency 32 with 10 % injected faults, over loopback HTTP.

Every generation must end in images or a FluxError, none may hang, and the server must have
accepted exactly one create per generation that got past its create: none is paid twice.
"""

from __future__ import annotations

import asyncio
import time

from flux_widgets import FluxClient, FluxError, GeneratedImage
from flux_widgets.mock import FaultConfig, MockConfig, MockServer
from flux_widgets.transport.retry import Backoff

GENERATIONS = 200
CONCURRENCY = 32
CREATE = "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"


async def test_200_generations_with_random_faults_end_cleanly_and_pay_once() -> None:
    faults = FaultConfig(random_fault_rate=0.1, fault_seed=20260312, retry_after=0.05)
    config = MockConfig(generation_time=0.05, faults=faults)
    with MockServer(config) as server:
        client = FluxClient(
            base_url=server.url, sync_wait=False, max_concurrency=CONCURRENCY, timeout=20
        )
        client._backoff = Backoff(base=0.02, cap=0.2)
        began = time.monotonic()
        async with client:
            batch = asyncio.gather(
                *(
                    client.generate(f"load {i}", seed=i, megapixels="0.25")
                    for i in range(GENERATIONS)
                ),
                return_exceptions=True,
            )
            results = await asyncio.wait_for(batch, 60)  # nothing may hang
        elapsed = time.monotonic() - began
        creates = server.state.creates
        create_posts = [r for r in server.state.requests if r.path == CREATE]

    unexpected = [r for r in results if not isinstance(r, list | FluxError)]
    assert unexpected == []
    images = [r for r in results if isinstance(r, list)]
    errors = [r for r in results if isinstance(r, FluxError)]
    assert all(len(r) == 1 and isinstance(r[0], GeneratedImage) for r in images)
    # Retries absorb nearly every transient fault.
    assert len(images) >= GENERATIONS - 5, [str(e) for e in errors]

    # One accepted create per generation that got past its create, and no prediction shared.
    prediction_ids = [r[0].prediction_id for r in images]
    prediction_ids += [e.prediction_id for e in errors if e.prediction_id is not None]
    assert len(set(prediction_ids)) == len(prediction_ids) == creates
    # The rest of the create requests were the injected 429/503 answers, retried.
    injected_create_faults = len(create_posts) - creates
    assert 0 < injected_create_faults < GENERATIONS
    assert elapsed < 30
