"""Make docs/studio.png, the README's picture: the studio in JupyterLab after a real generation.

Run by hand (root on Debian installs Chromium if missing):
``.venv/bin/python tests/screenshot_studio.py [--out docs/studio.png] [--viewer]``.
The same servers and steps as tests/test_browser.py: the mock, JupyterLab on a copy of
notebooks/, Run All on 02_studio.ipynb, then a prompt typed and Generate clicked.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import browser_support as browser

PROMPT = "a paper boat on calm water at sunrise"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=browser.ROOT / "docs" / "studio.png")
    parser.add_argument("--images", type=int, default=4, help="images to generate (%(default)s)")
    parser.add_argument("--viewer", action="store_true", help="open the newest image too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flux-screenshot-") as folder:
        workdir = Path(folder)
        root = browser.studio_notebooks(workdir / "notebooks")
        with (
            browser.mock_server(workdir) as mock,
            browser.jupyter_server("lab", root, workdir, mock) as lab,
            browser.chromium_page(workdir, width=1280, height=900) as page,
        ):
            browser.open_studio_notebook(page, lab)
            view = browser.studio(page)
            browser.wait_for_cells_done(page, lab)
            errors = browser.notebook_errors(page)
            if errors:
                print("the notebook raised:\n" + "\n".join(errors), file=sys.stderr)
                return 1
            browser.collapse_sidebars(page)
            before = browser.settle_thumbnails(page)
            unlock_seed(view)
            browser.start_generation(page, PROMPT, outputs=args.images)
            browser.wait_for_thumbnails(page, before + args.images)
            if args.viewer:
                browser.newest_tile(view).locator(".flux-open").click()
                browser.viewer(page).locator(".flux-viewer-image").wait_for()
            page.mouse.move(0, 0)  # no hover highlight or tooltip in the picture
            args.out.parent.mkdir(parents=True, exist_ok=True)
            browser.screenshot(page, args.out.stem, at=view, folder=args.out.parent)
    print(f"wrote {args.out}")
    return 0


def unlock_seed(view: Any) -> None:
    """A fresh seed per image reads better than the notebook's locked 1234 on every tile."""
    title = view.get_by_text("Advanced", exact=True).first
    title.click()
    toggle = view.locator(".widget-toggle-button", has_text="lock seed").first
    if "mod-active" in (toggle.get_attribute("class") or ""):
        toggle.click()
    title.click()


if __name__ == "__main__":
    sys.exit(main())
