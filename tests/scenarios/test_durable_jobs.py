"""Durable jobs in real kernels: a generation starts, its kernel is killed while the job runs,
and a second kernel on the same history folder recovers the paid image with its recipe.

Both kernels are real IPython kernels driven by ``jupyter_client`` (as
``tests/widgets/test_key_input_echo.py`` does), talking over loopback to a ``MockServer`` whose
generations are slow enough that the first kernel dies with its job open.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flux_widgets
from flux_widgets.history.store import History
from flux_widgets.mock import MockConfig, MockServer

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.slow

_TIMEOUT = 30


class Kernel:
    """One real kernel, started with ``env``; ``run`` executes a cell and returns its stdout."""

    def __init__(self, env: dict[str, str]) -> None:
        self.manager = jupyter_client.KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, extra_arguments=["--HistoryManager.enabled=False"])
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self._out: list[str] = []

    def run(self, code: str) -> str:
        reply = self.client.execute_interactive(code, timeout=_TIMEOUT, output_hook=self._hook)
        assert reply["content"]["status"] == "ok", reply["content"]
        out, self._out = "".join(self._out), []
        return out

    def _hook(self, msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            self._out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            self._out.append("\n".join(msg["content"]["traceback"]))

    def kill(self) -> None:
        """What a closed laptop or a culled Binder does: no clean-up runs in the kernel."""
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernels(tmp_path: Path) -> Iterator[tuple[dict[str, str], list[Kernel]]]:
    source_root = str(Path(flux_widgets.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    started: list[Kernel] = []
    with MockServer(MockConfig(generation_time=3.0)) as server:
        env = {
            **os.environ,
            "PYTHONPATH": path,
            "FLUX_BASE_URL": server.url,
            "FLUX_WIDGETS_HISTORY_DIR": str(tmp_path / "history"),
        }
        try:
            yield env, started
        finally:
            for kernel in started:
                if kernel.manager.is_alive():
                    kernel.kill()


def test_a_killed_kernels_paid_job_is_recovered_by_the_next_kernel(
    kernels: tuple[dict[str, str], list[Kernel]],
) -> None:
    env, started = kernels
    folder = Path(env["FLUX_WIDGETS_HISTORY_DIR"])
    first = Kernel(env)
    started.append(first)
    first.run(
        "import asyncio\n"
        "from flux_widgets import FluxClient, History\n"
        "history = History()\n"
        "client = FluxClient(journal=history.jobs)\n"
        "task = asyncio.ensure_future(client.generate('a lighthouse at dusk', seed=11))\n"
    )
    deadline = time.monotonic() + 15
    while not list((folder / ".jobs").glob("*.json")):
        assert time.monotonic() < deadline, "the job id was never written"
        time.sleep(0.05)
    job = json.loads(next((folder / ".jobs").glob("*.json")).read_text())
    first.kill()  # the generation is still running on the server: nothing was stored
    assert len(History(folder)) == 0

    second = Kernel(env)
    started.append(second)
    second.run(
        "from flux_widgets import FluxClient, History\nhistory, client = History(), FluxClient()\n"
    )
    said = ""
    deadline = time.monotonic() + 15
    while "recovered 1 image from 1 job" not in said:
        assert time.monotonic() < deadline, said
        said = second.run("print(await history.recover(client))")
        if "still" in said:  # the mock's generation has not finished yet: ask again
            time.sleep(0.5)

    history = History(folder)
    assert len(history) == 1
    (image,) = history.recent(1)
    assert image.prediction_id == job["job_id"]
    assert (image.params.prompt, image.seed) == ("a lighthouse at dusk", 11)
    assert list((folder / ".jobs").glob("*.json")) == []
