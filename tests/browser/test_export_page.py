"""The exported web page (History.export_html) in headless Chromium, opened from a file: copy
as code puts the recipe's cell on the clipboard, compare shows two images side by side with
their differing rows marked, a hostile prompt stays text, and no request leaves the page."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import browser_support as browser
import pytest
from factories import make_image

from flux_widgets import History

pytestmark = pytest.mark.slow

HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def _page_file(tmp_path: Path) -> Path:
    history = History(tmp_path / "h")
    for n, fmt in enumerate(["png", "jpg", "webp", "png"]):
        image = make_image(n, fmt=fmt, num_inference_steps=n + 1)
        prompt = HOSTILE if n == 3 else f"a paper boat, take {n}"
        history.add(dataclasses.replace(image, params=image.params.replace(prompt=prompt)))
    return history.export_html(tmp_path / "boats.html", full_size=True).path


def test_the_exported_page_copies_code_compares_and_stays_offline(tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
    try:
        browser.ensure_chromium()
    except browser.Unavailable as reason:
        pytest.skip(str(reason))
    path = _page_file(tmp_path)
    with browser.chromium_page(tmp_path, width=1100, height=800) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        cards = page.locator("article.card")
        assert cards.count() == 4
        assert page.evaluate("() => window.pwned") is None
        assert cards.nth(3).locator(".prompt").inner_text() == HOSTILE  # oldest first
        loaded = page.evaluate(
            "() => [...document.images].every(img => img.complete && img.naturalWidth > 0)"
        )
        assert loaded
        browser.screenshot(page, "export-page-light")

        # Copy as code: the card's cell, exactly.
        card = cards.nth(2)
        card.locator("button.copy").click()
        page.wait_for_function("() => document.querySelector('button.copy') !== null")
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied == card.locator("pre.code").text_content()
        assert "num_inference_steps=3," in copied and "'a paper boat, take 2'" in copied
        assert card.locator("button.copy").inner_text() == "copied"

        # Compare: two ticks open the two side by side; their differing rows are marked.
        assert page.locator("#compare").is_hidden()
        cards.nth(1).locator("input.pick").check()
        cards.nth(2).locator("input.pick").check()
        panes = page.locator("#compare .pane")
        assert page.locator("#compare").is_visible() and panes.count() == 2
        assert panes.nth(0).locator(".prompt").inner_text() == "a paper boat, take 1"
        assert panes.nth(1).locator(".prompt").inner_text() == "a paper boat, take 2"
        differs = (
            panes.nth(0)
            .locator("tr.differs")
            .evaluate_all("rows => rows.map(row => row.dataset.key)")
        )
        assert "seed" in differs and "num_inference_steps" in differs
        assert "aspect_ratio" not in differs
        full = panes.nth(0).locator("img").evaluate("img => img.naturalWidth")
        assert full == 32  # the original embedded with full_size=True, not the thumbnail
        page.emulate_media(color_scheme="dark")
        browser.screenshot(page, "export-page-compare-dark")
        page.keyboard.press("Escape")
        assert page.locator("#compare").is_hidden()

    assert errors == []
    assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests
