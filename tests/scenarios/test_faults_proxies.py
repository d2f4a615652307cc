"""Faults of the network path (issue #9): proxies set in the environment, dead or silent or
unusable, and loopback hosts that must never go through one.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from flux_widgets import (
    FluxClient,
    FluxConnectionError,
)
from flux_widgets.mock import MockServer
from flux_widgets.transport.network import ProxyRoutes, is_loopback, proxy_label
from flux_widgets.transport.retry import Backoff
from flux_widgets.transport.sending import Timeouts

pytestmark = pytest.mark.usefixtures("no_proxy_from_the_runner")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_dead_http_proxy_in_the_environment_does_not_stop_the_mock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The input: nothing listens on port 9.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    async with FluxClient.mock() as client:
        images = await client.generate("x")
    assert len(images) == 1 and images[0].data[:4] == b"RIFF"  # a WebP from the mock


async def test_every_loopback_spelling_is_reached_directly(
    monkeypatch: pytest.MonkeyPatch, mock_server: MockServer
) -> None:
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{_free_port()}")
    url = mock_server.url.replace("127.0.0.1", "localhost")
    async with FluxClient(base_url=url, sync_wait=False) as client:
        images = await client.generate("a boat", megapixels="0.25")
    assert len(images) == 1


async def test_a_dead_proxy_is_named_without_its_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _free_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://proxyuser:proxypass@127.0.0.1:{port}")
    # A non-loopback host that is never resolved: the proxy is asked for it, and is dead.
    client = FluxClient(base_url="http://flux-api.example", sync_wait=False, timeout=10)
    client._backoff = Backoff(base=0.01, cap=0.02)
    async with client:
        with pytest.raises(FluxConnectionError) as caught:
            await client.generate("a boat")
    message = str(caught.value)
    assert f"through the proxy http://127.0.0.1:{port}" in message
    assert "http://flux-api.example" in message
    assert "proxyuser" not in message and "proxypass" not in message


async def test_a_proxy_that_never_answers_is_named_in_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    proxy = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    client = FluxClient(base_url="http://flux-api.example", sync_wait=False, timeout=10)
    client._timeouts = Timeouts(create=0.3)
    try:
        async with client:
            with pytest.raises(FluxConnectionError) as caught:
                await client.generate("a boat")
    finally:
        for writer in held:
            writer.close()
        proxy.close()
        await proxy.wait_closed()
    message = str(caught.value)
    assert f"(through the proxy http://127.0.0.1:{port} set in the environment)" in message
    assert "did not answer the create request within 0.3 s" in message


@pytest.mark.parametrize(
    ("url", "environ", "proxy"),
    [
        ("http://127.0.0.1:8000/x", {"HTTP_PROXY": "http://p:1"}, None),
        ("http://127.8.9.10/x", {"ALL_PROXY": "http://p:1"}, None),
        ("http://[::1]:8000/x", {"HTTP_PROXY": "http://p:1"}, None),
        ("http://localhost/x", {"HTTP_PROXY": "http://p:1"}, None),
        ("http://api.example/x", {"HTTP_PROXY": "http://p:1"}, "http://p:1"),
        ("https://api.example/x", {"HTTP_PROXY": "http://p:1"}, None),
        ("https://api.example/x", {"ALL_PROXY": "p:3128"}, "http://p:3128"),
        (
            "https://api.example/x",
            {"HTTPS_PROXY": "http://s:2", "ALL_PROXY": "http://a:1"},
            "http://s:2",
        ),
        (
            "http://api.example/x",
            {"HTTP_PROXY": "http://up:1", "http_proxy": "http://low:1"},
            "http://low:1",
        ),
        ("http://api.example/x", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "example"}, None),
        ("http://api.example/x", {"HTTP_PROXY": "http://p:1", "NO_PROXY": ".example"}, None),
        (
            "http://api.example/x",
            {"HTTP_PROXY": "http://p:1", "NO_PROXY": "pi.example"},
            "http://p:1",
        ),
        ("http://api.example/x", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "a, *"}, None),
        ("http://10.1.2.3/x", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, None),
        ("http://11.1.2.3/x", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, "http://p:1"),
        (
            "http://h.example:81/",
            {"HTTP_PROXY": "http://p:1", "NO_PROXY": "h.example:80"},
            "http://p:1",
        ),
        ("http://h.example:80/", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "h.example:80"}, None),
    ],
)
def test_proxy_routes_follow_no_proxy_and_never_proxy_loopback(
    url: str, environ: dict[str, str], proxy: str | None
) -> None:
    assert ProxyRoutes(environ).proxy_for(httpx.URL(url)) == proxy


def test_loopback_and_proxy_labels() -> None:
    loopbacks = ["127.0.0.1", "127.255.0.9", "::1", "[::1]", "LOCALHOST", "::ffff:127.0.0.1"]
    assert all(map(is_loopback, loopbacks))
    assert not any(map(is_loopback, ["10.0.0.1", "example.com", "::2", "localhost.example"]))
    assert proxy_label("http://u:secret@proxy.corp:3128/path") == "http://proxy.corp:3128"
    assert proxy_label("https://proxy.corp") == "https://proxy.corp:443"


@pytest.mark.parametrize(
    ("proxy", "says"),
    [("ftp://127.0.0.1:21", "unsupported scheme 'ftp'"), ("http://host:port", "not a valid URL")],
)
async def test_an_unusable_proxy_in_the_environment_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, proxy: str, says: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    async with FluxClient(base_url="http://flux-api.example", sync_wait=False) as client:
        with pytest.raises(FluxConnectionError, match=says):
            await client.generate("a boat")
