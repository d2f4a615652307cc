"""The History section in a real browser: JupyterLab in headless Chromium, on a filled history.

Runs notebooks/02_studio.ipynb with Run All in a 900 px wide window, opens the History section,
and checks what the browser shows: a page of decoded thumbnails at their own size, a search
that narrows it, a star that lights up, nothing wider than the notebook, and an export of the
search whose link serves the page through the files route.
"""

from __future__ import annotations

from pathlib import Path

import browser_support as browser
import pytest
from screenshot_history import fill

pytestmark = pytest.mark.slow

_CARDS = """() => [...document.querySelectorAll('.flux-history-card')]
    .filter(card => card.offsetParent !== null)
    .map(card => {
        const img = card.querySelector('img');
        return {loaded: !!img && img.complete && img.naturalWidth > 0,
                width: img ? img.getBoundingClientRect().width : 0,
                natural: img ? img.naturalWidth : 0};
    })"""


def test_history_section_pages_searches_and_stars_in_jupyterlab(tmp_path: Path) -> None:
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
        assert browser.notebook_errors(page) == []
        browser.collapse_sidebars(page)
        view.get_by_text("History (", exact=False).first.click()
        section = view.locator(".flux-history")
        section.wait_for()
        page.wait_for_function(
            f"() => {{ const c = ({_CARDS})(); return c.length === 12 && c.every(x => x.loaded); }}"
        )
        cards = page.evaluate(_CARDS)
        # Thumbnails at most their own width: shrunk to the column, never upscaled.
        assert all(0 < card["width"] <= card["natural"] + 0.5 for card in cards), cards
        assert "page 1 of 4" in section.inner_text()  # 40 filled + the notebook's 2
        overflow = section.evaluate("e => e.scrollWidth - e.clientWidth")
        assert overflow <= 0, f"the History section is {overflow} px wider than its cell"

        box = section.locator("input[placeholder='search prompts']")
        box.fill("lantern")
        box.press("Enter")
        section.get_by_text("5 images match", exact=False).wait_for()
        page.wait_for_function(f"() => ({_CARDS})().length === 5")

        star = section.locator(".flux-history-card").first.locator("button").first
        assert "mod-warning" not in (star.get_attribute("class") or "")
        star.click()
        page.wait_for_function(  # the first card's star lights up
            "() => document.querySelector('.flux-history-card button')"
            ".classList.contains('mod-warning')"
        )
        browser.screenshot(page, "history-900", at=section)

        # At 850 px (and 700) the filter bar's two rows and each card's two button rows stay
        # on one line each: nothing drops to a line of its own.
        for width in (850, 700):
            page.set_viewport_size({"width": width, "height": 1000})
            page.wait_for_timeout(300)
            wrapped = page.evaluate(browser.WRAPPED_ROWS, ".flux-history-filters > .widget-hbox")
            assert wrapped == [], (width, wrapped)
            wrapped = page.evaluate(browser.WRAPPED_ROWS, ".flux-history-card > .widget-hbox")
            assert wrapped == [], (width, wrapped)
            overflow = section.evaluate("e => e.scrollWidth - e.clientWidth")
            assert overflow <= 0, (width, overflow)
            browser.screenshot(page, f"history-{width}", at=section)

        # Share and re-open: export the search as a page into the notebook's folder; the
        # link it shows serves that page through the Jupyter server's files route.
        page.set_viewport_size({"width": 900, "height": 1000})
        sharing = section.locator(".flux-history-sharing")
        sharing.get_by_text("share and re-open").click()
        sharing.locator("input[placeholder^='save as']").fill("lanterns.html")
        sharing.get_by_role("button", name="Export").click()
        link = sharing.locator("a", has_text="download lanterns.html")
        link.wait_for(timeout=30_000)
        assert "exported 5 images" in sharing.inner_text()
        overflow = section.evaluate("e => e.scrollWidth - e.clientWidth")
        assert overflow <= 0, f"the History section is {overflow} px wider than its cell"
        browser.screenshot(page, "history-sharing", at=sharing)
        href = link.get_attribute("href") or ""
        assert "/files/lanterns.html" in href, href
        answer = page.request.get(href if href.startswith("http") else f"{lab.url}{href}")
        assert answer.status == 200
        assert "lantern" in answer.text() and '<article class="card"' in answer.text()
        assert (root / "lanterns.html").is_file()
