"""The studio proven in a real browser: JupyterLab in headless Chromium, against the mock.

Runs notebooks/02_studio.ipynb with Run All, types a prompt, clicks Generate, waits for the
thumbnails the browser has actually decoded, opens one at full size, and cancels a stuck
generation (the mock must see the cancel request). In JupyterLab also the keyboard (Ctrl+Enter
in the prompt, arrows and Esc in the viewer), compare, and copy as code, at 900 px in the
light and dark themes. Screenshots of every step go to test-output/browser/.
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

    browser.newest_tile(view).locator(".flux-open").click()
    viewer = browser.viewer(page)
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
    browser.screenshot(page, shot.format("03-viewer-open"))
    page.keyboard.press("Escape")
    viewer.wait_for(state="hidden")

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

    # Many jobs at once: each row keeps its height in the list's scroll box.
    for _ in range(12):
        view.locator(".flux-generate").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.flux-studio .flux-job').length >= 13", timeout=20_000
    )
    rows = browser.job_rows_geometry(page)
    browser.screenshot(page, shot.format("05-many-jobs"), at=view.locator(".flux-jobs"))
    assert rows["scrolls"], rows  # the list scrolls instead of pushing the gallery down
    assert min(rows["heights"]) >= 28, rows  # was 15 px: text over the Cancel buttons
    assert rows["overlaps"] == 0, rows
    view.locator("button", has_text="Cancel all").first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.flux-studio .flux-job .flux-cancel')]"
        ".every(b => b.offsetParent === null)",
        timeout=30_000,
    )

    if server.app != "voila":
        # Notebook 7 collapses a tall output into a 312 px scroll box: not the studio's. The
        # notebook's "scrolled": false keeps it off; with it on (a user's own notebook, or
        # "Enable Scrolling for Outputs"), STUDIO_CSS lifts the cap.
        for scrolled in (False, True):
            if scrolled:
                browser.enable_output_scrolling(page, view)
            trap = browser.output_area_geometry(page)
            assert trap["scrolledClass"] == scrolled, trap
            assert trap["outputHeight"] >= trap["studioHeight"] - 1, trap
            assert trap["maxHeight"] == "none", trap
        browser.screenshot(page, shot.format("06-scrolled-output"), at=view)
    assert page.locator(".jp-toast-error, .Toastify__toast--error").count() == 0
    print(f"{server.app} smoke path: {time.monotonic() - started:.1f} s")


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, chromium: Path
) -> Iterator[tuple[browser.Jupyter, browser.Mock, Path]]:
    """JupyterLab and a mock serving the studio notebook (one server for the module)."""
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    workdir = tmp_path_factory.mktemp("browser-keys")
    root = browser.studio_notebooks(workdir / "notebooks")
    with (
        browser.mock_server(workdir) as mock,
        browser.jupyter_server("lab", root, workdir, mock) as server,
    ):
        yield server, mock, workdir


KITE = "a kite over dunes"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_keyboard_viewer_compare_and_copy_in_jupyterlab(
    lab: tuple[browser.Jupyter, browser.Mock, Path], theme: str
) -> None:
    server, _, workdir = lab
    shot = f"lab-{theme}-900-{{}}"
    with browser.chromium_page(workdir, width=900, height=900) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        browser.open_studio_notebook(page, server)
        view = browser.studio(page)
        browser.wait_for_cells_done(page, server)
        assert browser.notebook_errors(page) == []
        if theme == "dark":
            browser.set_theme(page, "JupyterLab Dark")
        browser.collapse_sidebars(page)
        before = browser.settle_thumbnails(page)
        runs = browser.execution_counts(page)

        # Ctrl+Enter in the prompt generates what is typed (not yet synced), and does not
        # run the notebook cell (JupyterLab's own Ctrl+Enter).
        browser.set_image_count(view, 1)
        box = view.locator(".flux-prompt textarea")
        box.fill(KITE)
        box.press("Control+Enter")
        browser.job_row(view, KITE).locator(".flux-status", has_text="done").wait_for(
            timeout=30_000
        )
        browser.wait_for_thumbnails(page, before + 1)
        assert browser.execution_counts(page) == runs
        browser.screenshot(page, shot.format("01-ctrl-enter"), at=view)

        # A big template asks first, right under Generate, in view of the click.
        box.fill("a {red|green|blue} {cat|dog|owl|fox} on a {hill|roof}")
        box.press("Tab")
        view.locator(".flux-generate").click()
        confirm = view.locator(".flux-confirm")
        confirm.wait_for(state="visible")
        row = view.locator(".flux-generate-row").bounding_box()
        asked = confirm.bounding_box()
        assert row is not None and asked is not None
        assert 0 <= asked["y"] - (row["y"] + row["height"]) < 60, (row, asked)
        assert asked["y"] + asked["height"] <= 900  # on the screen
        browser.screenshot(page, shot.format("01b-asks-under-generate"))
        confirm.locator("button", has_text="cancel").click()
        confirm.wait_for(state="hidden")
        box.fill(KITE)
        box.press("Tab")

        # The viewer opens over the page where the user is looking; arrows move, Esc closes.
        browser.newest_tile(view).locator(".flux-open").click()
        viewer = browser.viewer(page)
        viewer.wait_for(state="visible")
        browser.wait_for_full_image(viewer.locator(".flux-viewer-image").first)
        box_in_view = viewer.locator(".flux-viewer-panel").bounding_box()
        assert box_in_view is not None
        assert box_in_view["y"] >= 0 and box_in_view["y"] + box_in_view["height"] <= 900
        title = viewer.locator(".flux-viewer-title")
        assert title.inner_text().startswith("seed ") and "1 of " in title.inner_text()
        assert viewer.locator("tr[data-key=prompt] td").inner_text() == KITE
        browser.screenshot(page, shot.format("02-viewer"))
        page.keyboard.press("ArrowRight")
        title.filter(has_text="2 of ").wait_for()
        page.keyboard.press("ArrowLeft")
        title.filter(has_text="1 of ").wait_for()

        # Download: the file, recipe embedded, made only when asked for.
        with page.expect_download() as download_info:
            viewer.locator(".flux-viewer-download").click()
        download = download_info.value
        assert download.suggested_filename.startswith("flux-")
        assert download.suggested_filename.endswith(".webp")
        saved = Path(download.path()).read_bytes()
        assert saved[:4] == b"RIFF" and KITE.encode() in saved  # the recipe is in the file

        # Copy as code: onto the clipboard; where refused, the code is shown selected.
        viewer.locator(".flux-viewer-copy").click()
        viewer.locator(".flux-viewer-message", has_text="copied").wait_for()
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert "FluxClient" in copied and KITE in copied
        page.evaluate(
            "() => { navigator.clipboard.writeText = () => Promise.reject(new Error('no')); }"
        )
        viewer.locator(".flux-viewer-copy").click()
        fallback = viewer.locator(".flux-viewer-code")
        fallback.wait_for(state="visible")
        assert fallback.input_value() == copied
        assert "Ctrl+C" in viewer.locator(".flux-viewer-message").inner_text()
        selected = page.evaluate(
            "() => { const t = document.querySelector('.flux-viewer-code');"
            " return t.value.slice(t.selectionStart, t.selectionEnd); }"
        )
        assert selected == copied

        # Compare the kite with the lighthouse: a slider, then side by side; the prompt row
        # differs, the steps (4 for both) do not.
        viewer.locator(".flux-viewer-compare").click()
        slider = viewer.locator(".flux-slider")
        slider.wait_for()
        fallback.wait_for(state="hidden")  # that was the other image's code
        assert viewer.locator(".flux-slider input[type=range]").count() == 1
        browser.wait_for_full_image(viewer.locator(".flux-viewer-image-b").first)
        assert viewer.locator("tr.flux-differs[data-key=prompt]").count() == 1
        assert viewer.locator("tr.flux-differs[data-key=num_inference_steps]").count() == 0
        assert viewer.locator("tr[data-key=num_inference_steps]").count() == 1
        slider.locator("input[type=range]").fill("25")
        clip = viewer.locator(".flux-slider-top").evaluate("img => img.style.clipPath")
        assert clip == "inset(0px 0px 0px 25%)"
        browser.screenshot(page, shot.format("03-compare-slider"))
        # Compare's actions say which image they act on: B, the one the arrows move.
        actions = viewer.locator(".flux-viewer-actions button, .flux-viewer-save button")
        assert actions.all_inner_texts() == ["reuse B", "copy B as code", "download B", "save B"]
        viewer.locator("[data-view=side-by-side]").click()
        viewer.locator(".flux-viewer-figure").nth(1).wait_for()
        browser.wait_for_full_image(viewer.locator(".flux-viewer-image-b").first)
        browser.screenshot(page, shot.format("04-compare-side-by-side"))
        # Side by side, the actions are on the screen without scrolling the viewer.
        for name in ("reuse", "download", "save-button"):
            box = viewer.locator(f".flux-viewer-{name}").bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 900, (
                name,
                box,
            )

        page.keyboard.press("Escape")
        viewer.wait_for(state="hidden")
        browser.screenshot(page, shot.format("05-closed"), at=view)
        # Closed in the kernel too: no full image left to save with the notebook.
        browser.run_in_kernel(
            page,
            "import time\n"
            "deadline = time.monotonic() + 5\n"
            "while studio.gallery.viewer.is_open and time.monotonic() < deadline:\n"
            "    time.sleep(0.05)\n"
            "assert studio.gallery.viewer.image_a == b'' and studio.gallery.viewer.image_b == b''",
        )

        # Reuse closes the viewer (it covered the controls it fills); the prompt has the focus,
        # and Esc closes the next opening wherever the focus is.
        browser.newest_tile(view).locator(".flux-open").click()
        viewer.wait_for(state="visible")
        assert viewer.locator(".flux-viewer-reuse").inner_text() == "reuse"
        viewer.locator(".flux-viewer-reuse").click()
        viewer.wait_for(state="hidden")
        view.locator(".flux-message", has_text="reuse").wait_for()
        assert view.locator(".flux-prompt textarea").input_value() == KITE
        browser.screenshot(page, shot.format("05-reused"), at=view)
        browser.newest_tile(view).locator(".flux-open").click()
        viewer.wait_for(state="visible")
        page.locator(".flux-prompt textarea").first.focus()  # the focus left the viewer
        page.keyboard.press("Escape")
        viewer.wait_for(state="hidden")
        browser.run_in_kernel(
            page,
            "import time\n"
            "deadline = time.monotonic() + 5\n"
            "while studio.gallery.viewer.is_open and time.monotonic() < deadline:\n"
            "    time.sleep(0.05)\n"
            "assert not studio.gallery.viewer.is_open",
        )

        # In place (what an iframe host such as VS Code or Colab gets): inside the studio,
        # scrolled into view, same keys.
        browser.run_in_kernel(page, "studio.gallery.viewer.placement = 'inline'")
        tile = browser.newest_tile(view)
        tile.scroll_into_view_if_needed()
        tile.locator(".flux-open").click()
        inline = view.locator(".flux-viewer.flux-viewer--inline")
        inline.wait_for(state="visible")
        browser.wait_for_full_image(inline.locator(".flux-viewer-image").first)
        box_in_view = inline.bounding_box()
        assert box_in_view is not None and box_in_view["y"] < 900 and box_in_view["y"] > -10
        browser.screenshot(page, shot.format("06-inline"))
        page.keyboard.press("ArrowRight")
        inline.locator(".flux-viewer-title", has_text="2 of ").wait_for()
        page.keyboard.press("Escape")
        inline.wait_for(state="hidden")
        assert page.locator(".jp-toast-error, .Toastify__toast--error").count() == 0
