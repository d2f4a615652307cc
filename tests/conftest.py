"""Shared fixtures. The test session never reaches the internet or a real key.

At session start every real key is removed from the environment and a mock API is served over
loopback HTTP; its URL goes into ``FLUX_BASE_URL`` so notebook kernels (nbval) use it too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from flux_widgets.mock import MockConfig, MockServer

_SECRETS = ("COMETAPI_KEY", "FLUX_API_KEY", "REPLICATE_API_TOKEN", "FLUX_PROVIDER")
_session_server: MockServer | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _session_server
    for name in (*_SECRETS, "FLUX_WIDGETS_MOCK"):
        os.environ.pop(name, None)
    _session_server = MockServer(MockConfig(generation_time=0.05)).start()
    os.environ["FLUX_BASE_URL"] = _session_server.url
    # Notebooks and studios keep their history away from the user's real data folder.
    os.environ["FLUX_WIDGETS_HISTORY_DIR"] = tempfile.mkdtemp(prefix="flux-history-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _session_server is not None:
        _session_server.stop()


@pytest.fixture
def session_mock() -> MockServer:
    """The session's mock (the one FLUX_BASE_URL points at), reset for this test."""
    assert _session_server is not None
    _session_server.state.reset()
    return _session_server


@pytest.fixture
def mock_server() -> Iterator[MockServer]:
    """A private mock on a free loopback port, fast enough for unit tests."""
    with MockServer(MockConfig(generation_time=0.05)) as server:
        yield server


@pytest.fixture
def history_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("history"))
