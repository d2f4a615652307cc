"""Serving the mock: free ports, the shared server, the command line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest
from mock_support import (
    REPLICATE,
)

from flux_widgets.mock import MockServer
from flux_widgets.mock.server import shared_server


def test_servers_on_port_zero_get_distinct_free_ports() -> None:
    with MockServer() as first, MockServer() as second:
        assert first.port != second.port and first.port > 0
        assert httpx.get(f"{first.url}/mock/health").json()["status"] == "ok"
        assert httpx.get(f"{second.url}/mock/health").json()["status"] == "ok"
        url = first.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/mock/health")


def test_shared_server_is_one_started_instance() -> None:
    server = shared_server()
    assert server is shared_server()
    assert server.running
    assert httpx.get(f"{server.url}/mock/health").json()["status"] == "ok"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_command_line_serves_the_api_until_terminated() -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "flux_widgets.mock", "--port", str(port)]
    command += ["--generation-time", "0.05", "--query-errors", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/mock/health").status_code == 200:
                    break
            except httpx.ConnectError:
                pass
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the mock did not start"
            time.sleep(0.05)
        assert httpx.get(f"{url}/mock/faults").json()["query_errors"] == 1
        body = {"input": {"prompt": "cli", "output_format": "png", "megapixels": "0.25"}}
        response = httpx.post(f"{url}{REPLICATE}", json=body, headers={"Prefer": "wait"})
        assert response.json()["status"] == "succeeded"
        image = httpx.get(response.json()["output"][0])
        assert image.content.startswith(b"\x89PNG")
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert url in stdout.decode()
