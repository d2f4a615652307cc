"""Shared fixtures; the session set-up (no keys, a mock on FLUX_BASE_URL) is in ../conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flux_widgets.mock import MockConfig, MockServer


@pytest.fixture
def mock_server() -> Iterator[MockServer]:
    """A private mock on a free loopback port, fast enough for unit tests."""
    with MockServer(MockConfig(generation_time=0.05)) as server:
        yield server


@pytest.fixture(scope="module")
def module_server() -> Iterator[MockServer]:
    """A mock shared by one test module; its tests reconfigure it with ``state.reset(config)``."""
    with MockServer() as server:
        yield server


_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def no_proxy_from_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable from the runner's environment: each test sets exactly the ones it is
    about (the fault scenarios use it for every test: ``pytestmark``)."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def history_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("history"))
