"""Make docs/viewer-compare.png, the README's picture of compare: two images made with steps 1
and 4, go_fast on and off and two seeds, on the slider, the rows that differ highlighted.

Run by hand: ``.venv/bin/python tests/screenshot_viewer.py [--out docs/viewer-compare.png]
[--theme "JupyterLab Dark"] [--width 1100]``. The same servers as tests/browser/test_studio.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import browser_support as browser

MAKE_TWO = """
coarse = (await studio.generate(prompt="a lighthouse on a cliff at dusk", num_outputs=1,
          num_inference_steps=1, go_fast=True, seed=7, aspect_ratio="3:2"))[0]
clean = (await studio.generate(prompt="a lighthouse on a cliff at dusk", num_outputs=1,
         num_inference_steps=4, go_fast=False, seed=8, aspect_ratio="3:2"))[0]
studio.gallery.compare(coarse, clean)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=browser.ROOT / "docs" / "viewer-compare.png")
    parser.add_argument("--theme", default="JupyterLab Light")
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flux-screenshot-") as folder:
        workdir = Path(folder)
        root = browser.studio_notebooks(workdir / "notebooks")
        with (
            browser.mock_server(workdir) as mock,
            browser.jupyter_server("lab", root, workdir, mock) as lab,
            browser.chromium_page(workdir, width=args.width, height=760) as page,
        ):
            browser.open_studio_notebook(page, lab)
            browser.studio(page)
            browser.wait_for_cells_done(page, lab)
            if errors := browser.notebook_errors(page):
                print("the notebook raised:\n" + "\n".join(errors), file=sys.stderr)
                return 1
            browser.set_theme(page, args.theme)
            browser.collapse_sidebars(page)
            browser.run_in_kernel(page, MAKE_TWO)
            viewer = browser.viewer(page)
            viewer.locator(".flux-slider").wait_for()
            browser.wait_for_full_image(viewer.locator(".flux-viewer-image-b").first)
            viewer.locator(".flux-slider input[type=range]").fill("50")
            page.evaluate("() => document.activeElement && document.activeElement.blur()")
            page.mouse.move(0, 0)
            browser.screenshot(page, args.out.stem, folder=args.out.parent)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
