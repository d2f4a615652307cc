"""Make docs/studio.png, the README's picture: the studio in JupyterLab after a real generation;
and look at it anywhere: light or dark theme, JupyterLab, Notebook 7 or Voila, any page width.

Run by hand (root on Debian installs Chromium if missing):
``.venv/bin/python tests/screenshot_studio.py [--out docs/studio.png] [--viewer]
[--app lab|notebook|voila] [--theme light|dark] [--width 1280]``.
The same servers and steps as tests/browser/test_studio.py: the mock, JupyterLab on a copy of
notebooks/, Run All on 02_studio.ipynb, then a prompt typed and Generate clicked. It prints
what a person would call broken: content wider than the studio (a horizontal scrollbar),
clipped labels, and thumbnails stretched or upscaled.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import browser_support as browser

PROMPT = "a paper boat on calm water at sunrise"
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}

# Everything under the studio (or grid) that sticks out of it, is cut, or is drawn at a size the
# thumbnail does not have. Tolerance 0.5 px for sub-pixel rounding.
LAYOUT_PROBLEMS = """(selector) => {
    const problems = [];
    const name = el => (el.className && el.className.baseVal === undefined ? el.className : '')
        .toString().split(' ').filter(c => c.startsWith('flux') || c.startsWith('widget')
        || c.startsWith('jupyter')).slice(0, 3).join('.') || el.tagName.toLowerCase();
    for (const root of document.querySelectorAll(selector)) {
        const box = root.getBoundingClientRect();
        if (root.scrollWidth > root.clientWidth + 0.5)
            problems.push(`${name(root)} scrolls: ${root.scrollWidth} > ${root.clientWidth}`);
        for (const el of root.querySelectorAll('*')) {
            const style = getComputedStyle(el);
            if (style.display === 'none' || el.closest('[style*="display: none"]')) continue;
            const r = el.getBoundingClientRect();
            if (r.width === 0 || r.height === 0) continue;
            if (r.right > box.right + 0.5)
                problems.push(`${name(el)} sticks out ${(r.right - box.right).toFixed(1)} px`);
            const clips = ['hidden', 'auto', 'scroll'].includes(style.overflowX)
                || style.textOverflow === 'ellipsis';
            if (clips && el.scrollWidth > el.clientWidth + 0.5 && el.tagName !== 'TEXTAREA')
                problems.push(`${name(el)} clips "${el.textContent.trim().slice(0, 40)}"`
                    + ` (${el.scrollWidth} > ${el.clientWidth})`);
            if (el.tagName === 'IMG' && el.naturalWidth > 0) {
                const up = r.width > el.naturalWidth + 0.5 || r.height > el.naturalHeight + 0.5;
                const ratio = Math.abs(r.width / r.height - el.naturalWidth / el.naturalHeight);
                if (up || ratio > 0.02)
                    problems.push(`img ${el.naturalWidth}x${el.naturalHeight} drawn at `
                        + `${r.width.toFixed(0)}x${r.height.toFixed(0)}`);
            }
        }
    }
    return problems;
}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=browser.ROOT / "docs" / "studio.png")
    parser.add_argument("--images", type=int, default=4, help="images to generate (%(default)s)")
    parser.add_argument("--viewer", action="store_true", help="open the newest image too")
    parser.add_argument("--app", choices=sorted(browser.FRONT_ENDS), default="lab")
    parser.add_argument("--theme", choices=sorted(THEMES), default="light")
    parser.add_argument("--width", type=int, default=1280, help="page width in px")
    parser.add_argument("--height", type=int, default=900, help="page height in px")
    parser.add_argument("--full-page", action="store_true", help="the whole page, not a view")
    parser.add_argument("--advanced", action="store_true", help="open the Advanced section")
    parser.add_argument("--aspect-ratio", help="pick this aspect ratio first, e.g. 9:16")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flux-screenshot-") as folder:
        workdir = Path(folder)
        root = browser.studio_notebooks(workdir / "notebooks")
        set_theme(workdir, root, args.theme)
        with (
            browser.mock_server(workdir) as mock,
            browser.jupyter_server(args.app, root, workdir, mock) as server,
            browser.chromium_page(workdir, width=args.width, height=args.height) as page,
        ):
            browser.open_studio_notebook(page, server)
            view = browser.studio(page)
            browser.wait_for_cells_done(page, server)
            errors = browser.notebook_errors(page)
            if errors:
                print("the notebook raised:\n" + "\n".join(errors), file=sys.stderr)
                return 1
            if args.app != "voila":
                # Notebook 7 does not read the theme from the settings folder: apply it too.
                browser.set_theme(page, THEMES[args.theme])
                browser.collapse_sidebars(page)
            before = browser.settle_thumbnails(page)
            unlock_seed(view)
            if args.aspect_ratio:
                ratio = view.locator(".widget-dropdown", has_text="Aspect ratio").locator("select")
                labels = ratio.locator("option").all_inner_texts()
                label = next(t for t in labels if t.startswith(args.aspect_ratio))
                ratio.select_option(label=label)
            browser.start_generation(page, PROMPT, outputs=args.images)
            browser.wait_for_thumbnails(page, before + args.images)
            if args.viewer:
                browser.newest_tile(view).locator(".flux-open").click()
                browser.viewer(page).locator(".flux-viewer-image").wait_for()
            if args.advanced:
                view.get_by_text("Advanced", exact=True).first.click()
                view.locator(".flux-seed").wait_for()
            page.mouse.move(0, 0)  # no hover highlight or tooltip in the picture
            width = view.evaluate("el => el.getBoundingClientRect().width")
            problems = page.evaluate(LAYOUT_PROBLEMS, ".flux-studio, .flux-grid")
            print(json.dumps({"studio_width": width, "problems": problems}, indent=1))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            if args.full_page:
                args.out.write_bytes(page.screenshot(full_page=True))
            else:
                browser.screenshot(page, args.out.stem, at=view, folder=args.out.parent)
    print(f"wrote {args.out}")
    return 0


def set_theme(workdir: Path, root: Path, theme: str) -> None:
    """JupyterLab and Notebook 7 read the theme from the user settings; Voila from voila.json."""
    folder = workdir / "lab-settings" / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "themes.jupyterlab-settings").write_text(json.dumps({"theme": THEMES[theme]}))
    config = root / "voila.json"
    settings = json.loads(config.read_text()) if config.exists() else {}
    settings.setdefault("VoilaConfiguration", {})["theme"] = theme
    config.write_text(json.dumps(settings))


def unlock_seed(view: Any) -> None:
    """A fresh seed per image reads better than a locked one on every tile: the switch next to
    Generate says "unlock" while the seed is locked."""
    switch = view.locator(".flux-seed-switch")
    if switch.inner_text().strip() == "unlock":
        switch.click()
        view.locator(".flux-seed-state", has_text="random seed").wait_for()


if __name__ == "__main__":
    sys.exit(main())
