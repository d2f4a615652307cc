"""Fixtures of the mock's tests: the module's server, reconfigured per test, and a client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mock_support import Configure

from flux_widgets.mock import MockConfig, MockServer


@pytest.fixture
def mock(module_server: MockServer) -> Configure:
    """Reconfigure the module's server: ``server = mock(generation_time=0)``."""

    def configure(**settings: Any) -> MockServer:
        module_server.state.reset(MockConfig(**settings))
        return module_server

    configure(generation_time=0.3, start_delay=0.1)
    return configure


@pytest.fixture
def http(module_server: MockServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=module_server.url, timeout=10) as client:
        yield client
