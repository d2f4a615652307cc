"""The History section's share and re-open row in JupyterLab (headless Chromium): export the
search as a web page into the notebook's folder, and the link it shows downloads that page
through the Jupyter server's files route; the row fits the cell."""

from __future__ import annotations

from pathlib import Path

import browser_support as browser
import pytest
from screenshot_history import fill

pytestmark = pytest.mark.slow


def test_an_export_from_the_history_section_links_to_the_page_it_wrote(tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
    try:
        browser.ensure_chromium()
    except browser.Unavailable as reason:
        pytest.skip(str(reason))
    fill(tmp_path / "history", 40)  # the folder jupyter_env points the kernel at
    root = browser.studio_notebooks(tmp_path / "notebooks")
    with (
        browser.mock_server(tmp_path) as mock,
        browser.jupyter_server("lab", root, tmp_path, mock) as lab,
        browser.chromium_page(tmp_path, width=900, height=1000) as page,
    ):
        browser.open_studio_notebook(page, lab)
        view = browser.studio(page)
        browser.wait_for_cells_done(page, lab)
        browser.collapse_sidebars(page)
        view.get_by_text("History (", exact=False).first.click()
        section = view.locator(".flux-history")
        section.wait_for()
        box = section.locator("input[placeholder='search prompts']")
        box.fill("lantern")
        box.press("Enter")
        section.get_by_text("5 images match", exact=False).wait_for()

        sharing = section.locator(".flux-history-sharing")
        sharing.get_by_text("share and re-open").click()
        sharing.locator("input[placeholder^='save as']").fill("lanterns.html")
        sharing.get_by_role("button", name="Export").click()
        link = sharing.locator("a", has_text="open lanterns.html")
        link.wait_for(timeout=30_000)
        assert "exported" in sharing.inner_text()
        overflow = section.evaluate("e => e.scrollWidth - e.clientWidth")
        assert overflow <= 0, f"the History section is {overflow} px wider than its cell"
        browser.screenshot(page, "history-sharing", at=sharing)

        href = link.get_attribute("href") or ""
        assert "/files/lanterns.html" in href, href
        answer = page.request.get(href if href.startswith("http") else f"{lab.url}{href}")
        assert answer.status == 200
        assert "lantern" in answer.text() and '<article class="card"' in answer.text()
        assert (root / "lanterns.html").is_file()
