"""Make docs/history.png: the studio's History section in JupyterLab, on a history of 500 images.

Run by hand: ``.venv/bin/python tests/screenshot_history.py [--out docs/history.png]``.
The same servers as tests/browser/test_studio.py (the mock, JupyterLab on a copy of notebooks/, Run
All on 02_studio.ipynb), with the history folder filled first; then the History section is
opened, a search typed, and the page photographed.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import browser_support as browser
from PIL import Image, ImageDraw

from flux_widgets.history.store import History
from flux_widgets.images import GeneratedImage
from flux_widgets.params import ASPECT_RATIOS, FluxParams, pixel_size

SUBJECTS = ("paper boat", "lighthouse", "red fox", "heron", "lantern", "teapot", "kite", "owl")
PLACES = ("on calm water", "at dusk", "under snow", "in a forest", "by a river")


def fill(folder: Path, count: int) -> None:
    """``count`` small images of varied colours, prompts, aspect ratios and times."""
    history = History(folder)
    newest = datetime.now(timezone.utc)
    for n in range(count):
        ratio = ASPECT_RATIOS[n % 4]
        width, height = (size // 6 for size in pixel_size(ratio))
        picture = Image.new("RGB", (width, height), (40 + n * 37 % 200, 90 + n * 53 % 150, 170))
        ImageDraw.Draw(picture).ellipse(
            (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(250, 220, 120)
        )
        out = io.BytesIO()
        picture.save(out, "WEBP", quality=80)
        prompt = f"a {SUBJECTS[n % len(SUBJECTS)]} {PLACES[n % len(PLACES)]}, watercolor"
        params = FluxParams(prompt=prompt, aspect_ratio=ratio)  # type: ignore[arg-type]
        image = GeneratedImage.from_bytes(
            out.getvalue(),
            params,
            seed=1000 + n,
            prediction_id=f"shot{n}",
            created_at=newest - timedelta(minutes=count - n),
        )
        history.add(image)
        if n % 7 == 0:
            history.star(history.page(0, 1)[0].stem)
    history.index.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=browser.ROOT / "docs" / "history.png")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--search", default="lantern")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flux-screenshot-") as folder:
        workdir = Path(folder)
        fill(workdir / "history", args.images)
        root = browser.studio_notebooks(workdir / "notebooks")
        with (
            browser.mock_server(workdir) as mock,
            browser.jupyter_server("lab", root, workdir, mock) as lab,
            browser.chromium_page(workdir, width=args.width, height=args.height) as page,
        ):
            browser.open_studio_notebook(page, lab)
            view = browser.studio(page)
            browser.wait_for_cells_done(page, lab)
            errors = browser.notebook_errors(page)
            if errors:
                print("the notebook raised:\n" + "\n".join(errors), file=sys.stderr)
                return 1
            browser.collapse_sidebars(page)
            browser.settle_thumbnails(page)
            view.get_by_text("History (", exact=False).first.click()
            history = view.locator(".flux-history")
            history.wait_for()
            page.wait_for_function(
                """() => {
                    const imgs = [...document.querySelectorAll('.flux-history-card img')];
                    return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
                }""",
                timeout=30_000,
            )
            if args.search:
                box = history.locator("input[placeholder='search prompts']")
                box.fill(args.search)
                box.press("Enter")
                history.get_by_text("match", exact=False).first.wait_for()
                page.wait_for_timeout(1500)  # the thumbnails of the new page
            page.mouse.move(0, 0)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            browser.screenshot(page, args.out.stem, at=history, folder=args.out.parent)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
