"""notebooks/05_exploring_prompts.ipynb in JupyterLab (headless Chromium): it runs without an
error, the three-axis grid shows a tab per page, the studio shows a template's count and cost
before anything is sent, and the usage view opens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import browser_support as browser

pytestmark = pytest.mark.slow
NOTEBOOK = "05_exploring_prompts.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[browser.Jupyter, Path]]:
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    try:
        browser.ensure_chromium()
    except browser.Unavailable as reason:
        pytest.skip(str(reason))
    workdir = tmp_path_factory.mktemp("browser-explore")
    root = browser.studio_notebooks(workdir / "notebooks")
    with (
        browser.mock_server(workdir, generation_time=0.05) as mock,
        browser.jupyter_server("lab", root, workdir, mock) as server,
    ):
        yield server, workdir


@pytest.fixture
def page(lab: tuple[browser.Jupyter, Path]) -> Iterator[Any]:
    with browser.chromium_page(lab[1], height=1400) as page:
        yield page


def test_exploring_notebook_runs_in_jupyterlab(
    page: Any, lab: tuple[browser.Jupyter, Path]
) -> None:
    server, _ = lab
    page.goto(server.page_url(f"lab/tree/{NOTEBOOK}"))
    browser.run_all_cells(page)
    browser.wait_for_cells_done(page, server, timeout=180_000)
    assert browser.notebook_errors(page) == []
    grid = page.locator(".flux-grid").first
    grid.wait_for(timeout=30_000)
    # JupyterLab skips rendering cells out of view (content-visibility): look at it first.
    browser.scroll_to_top_of(grid)
    tabs = grid.locator(".lm-TabBar-tab, .p-TabBar-tab")
    assert tabs.count() == 2
    assert "aspect_ratio = 16:9" in tabs.nth(1).inner_text()
    assert grid.locator("img").count() >= 4  # the first sheet's pictures
    browser.screenshot(page, "explore-01-grid", at=grid)
    studio = page.locator(".flux-studio").first
    studio.wait_for(timeout=30_000)
    estimate = studio.locator(".flux-estimate")
    assert "240 generations" in estimate.inner_text()
    assert "asks before sending" in estimate.inner_text()
    studio.locator(".flux-usage").first.wait_for(state="attached")
    browser.screenshot(page, "explore-02-studio", at=studio)
