"""Look at a provider grid in JupyterLab: every registered provider side by side on the mock,
with its captions, in the light or the dark theme, at any page width.

Run by hand: ``.venv/bin/python tests/screenshot_grid.py [--theme light|dark] [--width 700]
[--out test-output/browser/grid-light.png]``. The same servers as tests/screenshot_studio.py (the
mock, JupyterLab on a scratch notebook): a ``PromptGrid(columns=("provider", PROVIDERS))`` is
generated, then a ``%%flux --provider a,b,c`` cell. It prints what a person would call broken
(content wider than the grid, clipped labels, stretched thumbnails) and writes the PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import browser_support as browser
from screenshot_studio import LAYOUT_PROBLEMS, THEMES, set_theme

NOTEBOOK = "grid_compare.ipynb"
STICKING_OUT = """(selector) => {
    const root = document.querySelector(selector), right = root.getBoundingClientRect().right;
    return [...root.querySelectorAll('.widget-html-content')]
        .filter(el => el.getBoundingClientRect().right > right + 0.5)
        .map(el => `text sticks out: "${el.textContent.trim().slice(0, 40)}"`);
}"""
CELLS = [
    "from flux_widgets import FluxClient, PromptGrid\n"
    "from flux_widgets.providers import PROVIDERS\n"
    "%load_ext flux_widgets",
    "grid = PromptGrid(\n"
    "    FluxClient(),\n"
    '    rows=("seed", [7, 8]),\n'
    '    columns=("provider", list(PROVIDERS)),\n'
    '    base={"prompt": "a paper boat on calm water at sunrise", "output_format": "webp",'
    ' "megapixels": "0.25"},\n'
    ")\n"
    "grid",
    "_ = await grid.generate()",
    "%%flux --provider cometapi,fal,together --seed 7 --megapixels 0.25\na paper crane",
]


def write_notebook(root: Path) -> None:
    import nbformat

    node = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    node.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(node, root / NOTEBOOK)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--theme", choices=sorted(THEMES), default="light")
    parser.add_argument("--width", type=int, default=700, help="page width in px")
    parser.add_argument("--height", type=int, default=1100, help="page height in px")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or browser.SCREENSHOTS / f"grid-{args.theme}-{args.width}.png"
    with tempfile.TemporaryDirectory(prefix="flux-screenshot-") as folder:
        workdir = Path(folder)
        root = workdir / "notebooks"
        root.mkdir()
        write_notebook(root)
        set_theme(workdir, root, args.theme)
        with (
            browser.mock_server(workdir) as mock,
            browser.jupyter_server("lab", root, workdir, mock) as server,
            browser.chromium_page(workdir, width=args.width, height=args.height) as page,
        ):
            page.goto(server.page_url(f"lab/tree/{NOTEBOOK}"))
            browser.run_all_cells(page)
            browser.wait_for_cells_done(page, server)
            errors = browser.notebook_errors(page)
            if errors:
                print("the notebook raised:\n" + "\n".join(errors), file=sys.stderr)
                return 1
            browser.collapse_sidebars(page)
            grid = page.locator(".flux-grid").first
            grid.wait_for()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.flux-grid img')]"
                ".filter(i => i.naturalWidth > 0).length >= 2",
                timeout=30_000,
            )
            page.mouse.move(0, 0)
            width = grid.evaluate("el => el.getBoundingClientRect().width")
            problems = page.evaluate(LAYOUT_PROBLEMS, ".flux-grid")
            # Which text sticks out, to find it (LAYOUT_PROBLEMS names only classes).
            problems += page.evaluate(STICKING_OUT, ".flux-grid")
            print(json.dumps({"grid_width": width, "problems": problems}, indent=1))
            browser.screenshot(page, out.stem, at=grid, folder=out.parent)
            table = page.locator(".flux-compare").first
            if table.count():
                browser.screenshot(page, out.stem + "-magic", at=table, folder=out.parent)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
