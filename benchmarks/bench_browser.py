"""Rows B1-B2: what a person waits for in JupyterLab (headless Chromium, on the mock).

- row B1: from the click on Generate to the first new thumbnail painted, minus the mock's
  generation time (what the studio, the client and the browser add), median of N clicks.
  Baseline in the same run and the same kernel: the old path, where a finished generation's
  images were written to the history (recipe embedded, two fsyncs) *before* their thumbnails
  were made, restored for the baseline's clicks by swapping the studio's ``_keep``.
- row B2: from the click on a tile's "open" to the full image decoded and painted in the
  viewer, median of N opens; target 150 ms.

Both are timed inside the page (``performance.now()`` from the click to the first animation
frame after the ``<img>`` has decoded), so Playwright's own round trips do not count.

    python -m benchmarks.bench_browser [--quick] [--clicks N] [--generation-time S]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .stats import Row, format_table, machine, median, ms, ratio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the JupyterLab + Playwright machinery

import browser_support as browser  # noqa: E402

NOTEBOOK = "bench_studio.ipynb"
SETUP = """\
import asyncio
from flux_widgets import PromptStudio

studio = PromptStudio()
studio.num_outputs = 1
studio.megapixels = "1"
studio.prompt = "a paper boat on calm water at sunrise, watercolor"
studio
"""
# The old path for the baseline: history first, then thumbnails, one after the other.
OLD_PATH = """\
from flux_widgets.widgets.studio import PromptStudio as _Studio

async def _old_keep(self, images):
    if not images:
        return
    history = self.history
    if history is not None:
        async with self._history_lock:
            await asyncio.to_thread(lambda: [history.add(image) for image in images])
    await self.gallery.add(images)

studio._keep = _old_keep.__get__(studio, _Studio)
"""
NEW_PATH = "studio.__dict__.pop('_keep', None)"

# Click Generate, then resolve with the ms until a frame has painted one more decoded thumbnail.
TIME_GENERATE = """async () => {
    const studio = document.querySelector('.flux-studio');
    const loaded = () => [...studio.querySelectorAll('.flux-gallery .flux-thumb img')]
        .filter(img => img.complete && img.naturalWidth > 0).length;
    const before = loaded();
    const started = performance.now();
    studio.querySelector('.flux-generate button, button.flux-generate').click();
    return await new Promise((resolve, reject) => {
        const deadline = started + 30000;
        (function frame() {
            const painted = () => resolve(performance.now() - started);
            if (loaded() > before) requestAnimationFrame(painted);
            else if (performance.now() > deadline) reject(new Error('no new thumbnail'));
            else requestAnimationFrame(frame);
        })();
    });
}"""
# Click a tile's "open", then resolve with the ms until the viewer's full image has painted.
TIME_OPEN = """async (index) => {
    const studio = document.querySelector('.flux-studio');
    const shown = [...studio.querySelectorAll('.flux-gallery .flux-thumb')]
        .filter(tile => getComputedStyle(tile).display !== 'none');
    const button = shown[index].querySelector('.flux-open');
    const started = performance.now();
    (button.querySelector('button') || button).click();
    return await new Promise((resolve, reject) => {
        const deadline = started + 30000;
        (function frame() {
            const viewer = document.querySelector('.flux-viewer');
            const img = viewer && !viewer.hidden && viewer.querySelector('.flux-viewer-image');
            if (img && img.complete && img.naturalWidth > 256) {
                requestAnimationFrame(() => resolve(performance.now() - started));
            } else if (performance.now() > deadline) reject(new Error('viewer never painted'));
            else requestAnimationFrame(frame);
        })();
    });
}"""
CLOSE = """async () => {
    document.querySelector('.flux-viewer .flux-viewer-close').click();
    await new Promise(resolve => (function wait() {
        const viewer = document.querySelector('.flux-viewer');
        viewer && viewer.hidden ? resolve() : setTimeout(wait, 10);
    })());
}"""


def write_notebook(folder: Path) -> None:
    import nbformat

    node = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)])
    node.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(node, folder / NOTEBOOK)


def time_generations(page: Any, clicks: int) -> list[float]:
    times = []
    for _ in range(clicks):
        times.append(page.evaluate(TIME_GENERATE) / 1000)
        page.wait_for_function(
            "() => ![...document.querySelectorAll('.flux-studio .flux-generate')]"
            ".some(b => b.textContent.includes('running'))"
        )
    return times


def time_opens(page: Any, opens: int) -> list[float]:
    times = []
    for index in range(opens):
        times.append(page.evaluate(TIME_OPEN, index % 4) / 1000)
        page.evaluate(CLOSE)
        time.sleep(0.05)
    return times


def measure(clicks: int, generation_time: float) -> tuple[list[Row], list[str]]:
    with tempfile.TemporaryDirectory(prefix="flux-bench-browser-") as folder:
        workdir = Path(folder)
        root = workdir / "notebooks"
        root.mkdir()
        write_notebook(root)
        browser.FRONT_ENDS["lab"] = f"lab/tree/{NOTEBOOK}"
        with (
            browser.mock_server(workdir, generation_time=generation_time) as mock,
            browser.jupyter_server("lab", root, workdir, mock) as lab,
            browser.chromium_page(workdir, width=1280, height=900) as page,
        ):
            browser.open_studio_notebook(page, lab)
            browser.studio(page)
            browser.wait_for_cells_done(page, lab)
            if errors := browser.notebook_errors(page):
                raise RuntimeError("the notebook raised:\n" + "\n".join(errors))
            browser.collapse_sidebars(page)
            time_generations(page, 2)  # warm up: imports, first thumbnails, JIT
            new: list[float] = []
            old: list[float] = []
            # Interleaved rounds, so a slow moment of the shared machine hits both alike.
            for _ in range(max(1, clicks // 2)):
                browser.run_in_kernel(page, OLD_PATH)
                old += time_generations(page, 2)
                browser.run_in_kernel(page, NEW_PATH)
                new += time_generations(page, 2)
            opens = time_opens(page, max(4, clicks))
    extra_new = median(new) - generation_time
    extra_old = median(old) - generation_time
    rows = [
        Row(
            "B1",
            f"Generate click -> first thumbnail painted, minus {generation_time:g} s generation "
            f"(median of {len(new)})",
            ms(extra_new),
            ms(extra_old),
            ratio(extra_new, extra_old),
            "<= 100 ms",
            extra_new <= 0.100,
        ),
        Row(
            "B2",
            f"tile 'open' click -> full image painted in the viewer (median of {len(opens)})",
            ms(median(opens)),
            "-",
            "-",
            "<= 150 ms",
            median(opens) <= 0.150,
        ),
    ]
    notes = [
        "baseline of row B1: the same studio with the old order restored (history write, "
        "then thumbnails), clicks interleaved with the new path's",
        f"row B1 all clicks, new: {', '.join(ms(t - generation_time) for t in new)}",
        f"row B1 all clicks, old: {', '.join(ms(t - generation_time) for t in old)}",
        f"row B2 all opens: {', '.join(ms(t) for t in opens)}",
        "JupyterLab in headless Chromium (1280x900), mock API in its own process, 1 MP webp",
        f"machine: {machine()}",
    ]
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few clicks (a smoke run)")
    parser.add_argument("--clicks", type=int, default=12, help="clicks per path (%(default)s)")
    parser.add_argument("--generation-time", type=float, default=0.8, help="mock seconds")
    args = parser.parse_args(argv)
    clicks = 2 if args.quick else args.clicks
    try:
        rows, notes = measure(clicks, args.generation_time)
    except browser.Unavailable as reason:
        print(f"skipped: {reason}")
        return 0
    print(format_table("Browser: Generate to thumbnail, opening the viewer", rows, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
