"""The key typed into KeyInput never leaves a real kernel in any message (IOPub or shell).

A front end is played by a jupyter_client connected to a real IPython kernel: it sends the
comm ``update`` a browser sends when the key is pasted, then every message the kernel sends
back is searched for the key and for every 8-character slice of it.
"""

from __future__ import annotations

import json
import os
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flux_widgets

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.slow

KEY = "sk-live-7Hq2ZxW9mP4vB8nR3kT6yL1c"
STOCK_KEY = "sk-stock-Jd83Kf02Lq71Mz65Nx49"
_TIMEOUT = 30


class Kernel:
    """A real kernel and a client speaking to it the way JupyterLab does."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def run(self, code: str) -> list[dict[str, Any]]:
        """Execute ``code``; every IOPub message up to idle, plus the shell reply."""
        msg_id = self.client.execute(code)
        return self._collect(msg_id, reply=True)

    def comm_update(self, comm_id: str, state: dict[str, Any]) -> list[dict[str, Any]]:
        """What the browser sends when a widget's value changes; the messages that follow."""
        content = {"comm_id": comm_id, "data": {"method": "update", "state": state}}
        msg = self.client.session.msg("comm_msg", content)
        self.client.shell_channel.send(msg)
        return self._collect(msg["header"]["msg_id"], reply=False)

    def _collect(self, msg_id: str, *, reply: bool) -> list[dict[str, Any]]:
        messages = []
        while True:
            msg = self.client.get_iopub_msg(timeout=_TIMEOUT)
            messages.append(msg)
            if (
                msg["parent_header"].get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                break
        if reply:
            messages.append(self.client.get_shell_msg(timeout=_TIMEOUT))
        while True:  # anything else the kernel sent on the shell channel
            try:
                messages.append(self.client.get_shell_msg(timeout=0.2))
            except queue.Empty:
                break
        return messages

    def value_of(self, expression: str) -> Any:
        messages = self.run(f"import json as _json; print(_json.dumps({expression}))")
        out = "".join(
            m["content"]["text"]
            for m in messages
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )
        errors = [m["content"] for m in messages if m["msg_type"] == "error"]
        assert not errors, errors
        return json.loads(out)


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    # The kernel imports this checkout's flux_widgets, whichever way the tests found it.
    source_root = str(Path(flux_widgets.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    env.pop("JUPYTER_WIDGETS_ECHO", None)  # the default: ipywidgets 8 echoes
    manager = jupyter_client.KernelManager(kernel_name="python3")
    manager.start_kernel(env=env, extra_arguments=["--HistoryManager.enabled=False"])
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield Kernel(client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _leaks(messages: list[dict[str, Any]], secret: str) -> list[str]:
    """The types of the messages holding ``secret`` or any 8-character slice of it."""
    slices = {secret[i : i + 8] for i in range(len(secret) - 7)}
    found = []
    for msg in messages:
        text = json.dumps(msg, default=str)
        text += "".join(bytes(b).decode("latin-1") for b in msg.get("buffers") or [])
        if any(part in text for part in slices):
            found.append(msg["msg_type"] + ":" + str(msg["content"].get("data", {}).get("method")))
    return found


def test_a_pasted_key_appears_in_no_message_the_kernel_sends(kernel: Kernel) -> None:
    created = kernel.run(
        "from flux_widgets.widgets import KeyInput\n"
        "import ipywidgets\n"
        "key_input = KeyInput(environ={})\n"
        "seen = []\n"
        "key_input.on_change(lambda key: seen.append(len(key or '')))\n"
        "display(key_input)\n"
    )
    assert any(m["msg_type"] == "comm_open" for m in created)
    comm_id = kernel.value_of("key_input.field.model_id")

    answer = kernel.comm_update(comm_id, {"value": KEY})
    after = kernel.run("key_input\nprint(repr(key_input), key_input.status.value)")
    state = kernel.run(
        "import json\n"
        "from ipywidgets import Widget\n"
        "print(json.dumps(Widget.get_manager_state()))\n"
        "print(key_input.get_state(), key_input.field.get_state())"
    )

    # The key reached Python, and only there.
    assert kernel.value_of("key_input.api_key == " + repr(KEY)) is True
    assert kernel.value_of("seen") == [len(KEY)]
    assert kernel.value_of("key_input.field.value") == ""
    # The kernel told the views the field is empty, and echoed nothing.
    updates = [m["content"]["data"] for m in answer if m["msg_type"] == "comm_msg"]
    assert {"method": "update", "state": {"value": ""}, "buffer_paths": []} in updates
    assert all(data["method"] != "echo_update" for data in updates)
    assert _leaks(created + answer + after + state, KEY) == []


def test_the_same_front_end_message_to_a_stock_password_does_leak(kernel: Kernel) -> None:
    # The control: this harness sees ipywidgets 8's echo of a stock Password (the fault).
    kernel.run("import ipywidgets\nstock = ipywidgets.Password()\ndisplay(stock)")
    if kernel.value_of("int(ipywidgets.__version__.split('.')[0])") < 8:
        pytest.skip("ipywidgets 7 has no echo_update")
    comm_id = kernel.value_of("stock.model_id")

    answer = kernel.comm_update(comm_id, {"value": STOCK_KEY})

    assert "comm_msg:echo_update" in _leaks(answer, STOCK_KEY)


def test_the_studio_used_with_a_pasted_key_sends_no_part_of_it(kernel: Kernel) -> None:
    studio_key = "sk-studio-Qw7Er5Ty3Ui1Op9As2Df"
    created = kernel.run(
        "from flux_widgets import PromptStudio\nstudio = PromptStudio()\ndisplay(studio)\n"
    )
    comm_id = kernel.value_of("studio.key_input.field.model_id")

    answer = kernel.comm_update(comm_id, {"value": studio_key})
    used = kernel.run(
        "studio.prompt = 'a paper boat'\n"
        "images = await studio.generate()\n"
        "print(len(images), repr(studio), studio.message.value)\n"
        "studio"
    )
    state = kernel.run(
        "import json, ipywidgets\nprint(json.dumps(ipywidgets.Widget.get_manager_state()))"
    )

    # The key reached the studio's client (a generation ran with it), and no message.
    assert kernel.value_of("studio.provider_panel.from_key and studio.client.has_api_key") is True
    assert kernel.value_of("len(images)") == 1
    assert _leaks(created + answer + used + state, studio_key) == []
