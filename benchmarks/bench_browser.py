"""Rows B1-B2: what a person waits for in JupyterLab (headless Chromium, on the mock).

- row B1: from the click on Generate to the first new thumbnail painted, minus the mock's
  generation time (what the studio, the client and the browser add), median of N clicks, with
  a full page (24) of thumbnails already shown, as in a session.
- row B2: from the click on a tile's "open" to the full image decoded and painted in the
  viewer, median of N opens; target 150 ms.

The baseline is the old code itself, measured in the same run: the package as it was at
``--baseline-ref`` (default: the commit before the anywidget viewer and the faster gallery),
extracted with ``git archive`` and put first on the ``PYTHONPATH`` of a second JupyterLab. The
two pages take turns, two clicks each, so a slow moment of the shared machine hits both alike.
Times are taken inside the page (``performance.now()`` from the click to the first animation
frame after the ``<img>`` has decoded), so Playwright's own round trips do not count.

    python -m benchmarks.bench_browser [--quick] [--clicks N] [--generation-time S]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
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
FILL_PAGE = """\
for _ in range(6):
    await studio.generate(num_outputs=4)
studio.num_outputs = 1
"""
# The package before this work (main at 71b5d7c): the old gallery and viewer.
BASELINE_REF = "71b5d7c"

# Click Generate, then resolve with the ms until a frame has painted one more decoded thumbnail.
TIME_GENERATE = """async () => {
    const studio = document.querySelector('.flux-studio');
    // A new thumbnail is a decoded <img> with a source it did not have before the click (a new
    // tile, or a full page's tile reused in place).
    const imgs = () => [...studio.querySelectorAll('.flux-gallery .flux-thumb img')];
    const before = new Set(imgs().map(img => img.src));
    const fresh = () => imgs().some(img => img.src && !before.has(img.src)
        && img.complete && img.naturalWidth > 0);
    const started = performance.now();
    studio.querySelector('.flux-generate button, button.flux-generate').click();
    return await new Promise((resolve, reject) => {
        const deadline = started + 30000;
        (function frame() {
            const painted = () => resolve(performance.now() - started);
            if (fresh()) requestAnimationFrame(painted);
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
            const img = viewer && !viewer.hidden && viewer.querySelector('.flux-viewer-image')
                || viewer && viewer.matches('img') && viewer;
            if (img && img.complete && img.naturalWidth > 256) {
                requestAnimationFrame(() => resolve(performance.now() - started));
            } else if (performance.now() > deadline) reject(new Error('viewer never painted'));
            else requestAnimationFrame(frame);
        })();
    });
}"""
# The old viewer was a VBox hidden with CSS, closed by a "close" button without a class.
CLOSE = """async () => {
    const viewer = document.querySelector('.flux-viewer');
    const close = viewer.querySelector('.flux-viewer-close')
        || [...viewer.querySelectorAll('button')].find(b => b.textContent.includes('close'));
    close.click();
    await new Promise(resolve => (function wait() {
        viewer.hidden || getComputedStyle(viewer).display === 'none'
            ? resolve() : setTimeout(wait, 10);
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


def baseline_package(workdir: Path, ref: str) -> Path:
    """The ``flux_widgets`` package as it was at ``ref``, in a folder of its own."""
    target = workdir / "baseline"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "flux_widgets"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


@contextlib.contextmanager
def python_path(folder: Path | None) -> Iterator[None]:
    """``PYTHONPATH`` for the servers started inside (their kernels import from it first)."""
    before = os.environ.get("PYTHONPATH")
    if folder is not None:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), before) if p)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def open_studio(page: Any, lab: Any) -> None:
    browser.open_studio_notebook(page, lab)
    browser.studio(page)
    browser.wait_for_cells_done(page, lab)
    if errors := browser.notebook_errors(page):
        raise RuntimeError("the notebook raised:\n" + "\n".join(errors))
    browser.collapse_sidebars(page)
    # A full page of thumbnails first, as in a session: what a new image costs the browser
    # then depends on the tiles already there.
    browser.run_in_kernel(page, FILL_PAGE)
    time_generations(page, 2)  # warm up: imports, first thumbnails, the browser's caches


def measure(clicks: int, generation_time: float, baseline_ref: str) -> tuple[list[Row], list[str]]:
    with tempfile.TemporaryDirectory(prefix="flux-bench-browser-") as folder:
        workdir = Path(folder)
        roots = {}
        for name in ("new", "old"):
            roots[name] = workdir / name / "notebooks"
            roots[name].mkdir(parents=True)
            write_notebook(roots[name])
        old_package = baseline_package(workdir, baseline_ref)
        browser.FRONT_ENDS["lab"] = f"lab/tree/{NOTEBOOK}"
        with contextlib.ExitStack() as stack:
            mock = stack.enter_context(
                browser.mock_server(workdir, generation_time=generation_time)
            )
            servers = {}
            for name, package in (("new", None), ("old", old_package)):
                with python_path(package):
                    servers[name] = stack.enter_context(
                        browser.jupyter_server("lab", roots[name], workdir / name, mock)
                    )
            page = stack.enter_context(browser.chromium_page(workdir, width=1280, height=900))
            pages = {"new": page, "old": page.context.new_page()}
            pages["old"].set_viewport_size({"width": 1280, "height": 900})
            for name in ("old", "new"):
                pages[name].bring_to_front()
                open_studio(pages[name], servers[name])
            times: dict[str, list[float]] = {"new": [], "old": []}
            opens: dict[str, list[float]] = {"new": [], "old": []}
            for _ in range(max(1, clicks // 2)):
                for name in ("old", "new"):
                    pages[name].bring_to_front()
                    times[name] += time_generations(pages[name], 2)
            for _ in range(max(2, clicks // 2)):
                for name in ("old", "new"):
                    pages[name].bring_to_front()
                    opens[name] += time_opens(pages[name], 2)
    new, old = times["new"], times["old"]
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
            f"tile 'open' click -> full image painted in the viewer (median of "
            f"{len(opens['new'])})",
            ms(median(opens["new"])),
            ms(median(opens["old"])),
            ratio(median(opens["new"]), median(opens["old"])),
            "<= 150 ms",
            median(opens["new"]) <= 0.150,
        ),
    ]
    notes = [
        f"baseline: the package at {baseline_ref} (the old gallery and viewer) in a second "
        "JupyterLab, the same mock; pages take turns",
        f"row B1 all clicks, new: {', '.join(ms(t - generation_time) for t in new)}",
        f"row B1 all clicks, old: {', '.join(ms(t - generation_time) for t in old)}",
        f"row B2 all opens, new: {', '.join(ms(t) for t in opens['new'])}",
        f"row B2 all opens, old: {', '.join(ms(t) for t in opens['old'])}",
        "JupyterLab in headless Chromium (1280x900), mock API in its own process, 1 MP webp",
        f"machine: {machine()}",
    ]
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few clicks (a smoke run)")
    parser.add_argument("--clicks", type=int, default=12, help="clicks per path (%(default)s)")
    parser.add_argument("--generation-time", type=float, default=0.8, help="mock seconds")
    parser.add_argument(
        "--baseline-ref", default=BASELINE_REF, help="git commit of the old code (%(default)s)"
    )
    args = parser.parse_args(argv)
    clicks = 2 if args.quick else args.clicks
    try:
        rows, notes = measure(clicks, args.generation_time, args.baseline_ref)
    except browser.Unavailable as reason:
        print(f"skipped: {reason}")
        return 0
    print(format_table("Browser: Generate to thumbnail, opening the viewer", rows, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
