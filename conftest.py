"""Test-session set-up shared by tests/ and the nbval notebooks: never the internet, never a key.

At session start every real key is removed from the environment and a mock API is served over
loopback HTTP; its URL goes into ``FLUX_BASE_URL`` so notebook kernels (nbval) use it too.
"""

from __future__ import annotations

import os
import tempfile

import pytest

from flux_widgets.mock import MockConfig, MockServer

_SECRETS = (
    "COMETAPI_KEY",
    "FLUX_API_KEY",
    "REPLICATE_API_TOKEN",
    "FAL_KEY",
    "TOGETHER_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "FLUX_HF_ROUTE",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID",
    "FLUX_PROVIDER",
)
SESSION: dict[str, MockServer] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    for name in (*_SECRETS, "FLUX_WIDGETS_MOCK"):
        os.environ.pop(name, None)
    server = MockServer(MockConfig(generation_time=0.05)).start()
    SESSION["mock"] = server
    os.environ["FLUX_BASE_URL"] = server.url
    # Notebooks and studios keep their history away from the user's real data folder, and see
    # only the shipped wildcards and styles (a user's own would change what notebooks print).
    os.environ["FLUX_WIDGETS_HISTORY_DIR"] = tempfile.mkdtemp(prefix="flux-history-")
    os.environ["FLUX_WIDGETS_WILDCARDS_DIR"] = tempfile.mkdtemp(prefix="flux-wildcards-")
    os.environ["FLUX_WIDGETS_STYLES_DIR"] = tempfile.mkdtemp(prefix="flux-styles-")
    # A token that `hf auth login` left on this machine must not reach a test either.
    os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="flux-hf-home-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    server = SESSION.pop("mock", None)
    if server is not None:
        server.stop()


@pytest.fixture
def session_mock() -> MockServer:
    """The session's mock (the one FLUX_BASE_URL points at), reset for this test."""
    server = SESSION["mock"]
    server.state.reset()
    return server
