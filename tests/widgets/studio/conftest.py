"""Fixtures of the studio's tests: a client on the in-package mock and a studio on it.

``button.click()`` fires the callbacks in plain pytest; under pytest-asyncio the running loop
is the test's, so a click starts a task the studio keeps (``await studio.wait()``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flux_widgets.client import FluxClient
from flux_widgets.mock import MockConfig
from flux_widgets.widgets import PromptStudio

FAST = MockConfig(generation_time=0.05, sync_wait_cometapi=True)


async def _close(client: FluxClient) -> None:
    await client.aclose()  # the mock runs in-process: nothing else to stop


@pytest.fixture
async def client() -> AsyncIterator[FluxClient]:
    client = FluxClient.mock(config=FAST, timeout=30)
    yield client
    await _close(client)


@pytest.fixture
async def polling_client() -> AsyncIterator[FluxClient]:
    """A client that polls (no sync wait), so "processing" is seen and cancels reach the server."""
    client = FluxClient.mock(config=FAST, timeout=30, sync_wait=False)
    yield client
    await _close(client)


@pytest.fixture
async def studio(client: FluxClient, tmp_path: Path) -> AsyncIterator[PromptStudio]:
    studio = PromptStudio(client, history_dir=tmp_path / "history", save_dir=tmp_path / "saved")
    studio.megapixels = "0.25"  # small images keep the tests fast
    yield studio
    studio.cancel_all()
    await studio.wait()
