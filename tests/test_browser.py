"""The studio proven in a real browser: JupyterLab in headless Chromium, against the mock.

Runs notebooks/02_studio.ipynb with Run All, types a prompt, clicks Generate, waits for the
thumbnails the browser has actually decoded, opens one at full size, and cancels a stuck
generation (the mock must see the cancel request). Screenshots of every step go to
test-output/browser/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import browser_support as browser
import pytest

pytestmark = pytest.mark.slow

PROMPT = "a paper boat on calm water at sunrise"
STUCK_PROMPT = "[mock:stuck] a boat"


@pytest.fixture(scope="module")
def chromium() -> Path:
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
    try:
        return browser.ensure_chromium()
    except browser.Unavailable as reason:
        pytest.skip(str(reason))


# The package each front end needs; JupyterLab is in the lab extra, the others are optional.
FRONT_END_PACKAGES = {"lab": "jupyterlab", "notebook": "notebook", "voila": "voila"}


@pytest.fixture(params=list(FRONT_END_PACKAGES))
def front_end(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, chromium: Path
) -> Iterator[tuple[browser.Jupyter, browser.Mock, Path]]:
    """A mock and one front end (JupyterLab, Notebook 7, Voila) serving the studio notebook."""
    app: str = request.param
    pytest.importorskip(FRONT_END_PACKAGES[app], reason=f"{app} is not installed")
    workdir = tmp_path_factory.mktemp(f"browser-{app}")
    root = browser.studio_notebooks(workdir / "notebooks")
    with (
        browser.mock_server(workdir) as mock,
        browser.jupyter_server(app, root, workdir, mock) as server,
    ):
        yield server, mock, workdir


@pytest.fixture
def page(front_end: tuple[browser.Jupyter, browser.Mock, Path]) -> Iterator[Any]:
    with browser.chromium_page(front_end[2]) as page:
        yield page


def test_studio_generates_opens_and_cancels_in_the_browser(
    page: Any, front_end: tuple[browser.Jupyter, browser.Mock, Path]
) -> None:
    server, mock, _ = front_end
    shot = f"{server.app}-{{}}"
    started = time.monotonic()
    browser.open_studio_notebook(page, server)
    view = browser.studio(page)
    browser.wait_for_cells_done(page, server)
    assert browser.notebook_errors(page) == []
    before = browser.settle_thumbnails(page)
    browser.screenshot(page, shot.format("01-studio-rendered"), at=view)

    browser.start_generation(page, PROMPT, outputs=2)
    row = browser.job_row(view, PROMPT)
    row.locator(".flux-status", has_text="done").wait_for(timeout=30_000)
    browser.wait_for_thumbnails(page, before + 2)
    assert view.locator(".flux-message").inner_text().strip() == ""
    browser.screenshot(page, shot.format("02-generated"), at=view)

    view.locator(".flux-gallery .flux-thumb").first.locator(".flux-open").click()
    viewer = view.locator(".flux-viewer")
    viewer.wait_for(state="visible")
    size = re.search(r"(\d+)×(\d+)", viewer.inner_text())
    assert size is not None, viewer.inner_text()
    width = int(size.group(1))
    picture = viewer.locator(".flux-viewer-image")
    picture.evaluate(
        """(img, width) => new Promise((resolve, reject) => {
            const deadline = Date.now() + 15000;
            (function check() {
                if (img.complete && img.naturalWidth === width) resolve();
                else if (Date.now() > deadline) reject(new Error('naturalWidth '
                    + img.naturalWidth + ', expected ' + width));
                else setTimeout(check, 100);
            })();
        })""",
        width,
    )
    assert width > 256  # the full image, not a thumbnail
    browser.screenshot(page, shot.format("03-viewer-open"), at=viewer)

    browser.start_generation(page, STUCK_PROMPT, outputs=1)
    stuck = browser.job_row(view, STUCK_PROMPT)
    # Cancel once the prediction exists on the server, so there is something to cancel there.
    stuck.locator(".flux-status", has_text=re.compile("starting|processing")).wait_for(
        timeout=20_000
    )
    stuck.locator(".flux-cancel").click()
    stuck.locator(".flux-status", has_text="cancelled").wait_for(timeout=20_000)
    browser.screenshot(page, shot.format("04-cancelled"), at=view)
    deadline = time.monotonic() + 10
    cancels: list[dict[str, Any]] = []
    while not cancels and time.monotonic() < deadline:
        cancels = [
            request
            for request in mock.requests()
            if request.get("method") == "POST" and str(request.get("path", "")).endswith("/cancel")
        ]
        time.sleep(0.2)
    assert cancels, "the mock never saw a cancel request"
    assert browser.thumbnails(page)["tiles"] == before + 2  # the cancelled job added nothing
    assert page.locator(".jp-toast-error, .Toastify__toast--error").count() == 0
    print(f"{server.app} smoke path: {time.monotonic() - started:.1f} s")
