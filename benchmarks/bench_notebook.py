"""Row 11: the saved notebook's size after many generations, against an empty studio's.

A real kernel (nbclient) runs a notebook that shows a studio on the mock, generates N times
(one image each, 0.25 MP), and then asks ipywidgets for the state of the live widget models,
which is what JupyterLab writes into a saved notebook ("save widget state"; closed models are
gone from it, as they are from the front end). The notebook is written with those outputs and
that state, as JupyterLab would save it, and its size compared:

- N = 0: an empty studio (a new history): the baseline the target names;
- N = a full page: the job list and the gallery's page just full (24 images, 8 job rows);
- N = 200: what must not keep growing: the same widgets, other thumbnails, one contact sheet.

    python -m benchmarks.bench_notebook [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .mockproc import MockProcess
from .stats import Row, format_table, machine

KEY = "sk-benchmark"

CELLS = [
    "import os\n"
    "from flux_widgets import FluxClient, PromptStudio\n"
    "client = FluxClient(api_key=os.environ['BENCH_KEY'], base_url=os.environ['BENCH_URL'],"
    " provider='cometapi')\n"
    "studio = PromptStudio(client, history_dir=os.environ['BENCH_HISTORY'])\n"
    "studio.megapixels = '0.25'\n"
    "studio.prompt = 'a paper boat on calm water at sunrise'\n"
    "studio",
    "for _ in range(int(os.environ['BENCH_GENERATIONS'])):\n    await studio.generate()\n"
    "await studio.wait()",
    # What JupyterLab saves: the live models' state (it asks its manager; the kernel's view
    # of the live models is the same set), written aside so it is not an output itself.
    "import ipywidgets, json\n"
    "with open(os.environ['BENCH_STATE'], 'w') as out:\n"
    "    json.dump(ipywidgets.Widget.get_manager_state(drop_defaults=True), out)",
]


def saved_size(mock: MockProcess, generations: int, folder: Path) -> tuple[int, int, int]:
    """Bytes of the saved notebook, of its widget state, and of its outputs."""
    state_file = folder / f"state-{generations}.json"
    environ = {
        "BENCH_KEY": KEY,
        "BENCH_URL": mock.url,
        "BENCH_HISTORY": str(folder / f"history-{generations}"),
        "BENCH_GENERATIONS": str(generations),
        "BENCH_STATE": str(state_file),
    }
    saved_environ = dict(os.environ)
    os.environ.update(environ)
    try:
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
        NotebookClient(notebook, timeout=600, store_widget_state=False).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
    state = json.loads(state_file.read_text())
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    path = folder / f"saved-{generations}.ipynb"
    nbformat.write(notebook, path)
    outputs = len(json.dumps([cell.get("outputs", []) for cell in notebook.cells]))
    state_bytes = len(json.dumps(notebook.metadata["widgets"]))
    return path.stat().st_size, state_bytes, outputs


def main(quick: bool) -> str:
    runs = [0, 24, 60] if quick else [0, 24, 200]
    sizes: dict[int, tuple[int, int, int]] = {}
    with MockProcess(generation_time=0.05) as mock, tempfile.TemporaryDirectory() as tmp:
        for generations in runs:
            sizes[generations] = saved_size(mock, generations, Path(tmp))
    empty, full, most = (sizes[n] for n in runs)

    def kib(size: tuple[int, int, int]) -> str:
        return f"{size[0] / 1024:.0f} KiB (state {size[1] / 1024:.0f}, outputs {size[2] / 1024:.0f})"

    rows = [
        Row(
            "11",
            f"saved notebook after {runs[2]} generations vs an empty studio",
            kib(most),
            kib(empty),
            f"{most[0] / empty[0]:.2f}x",
            "<= 2x",
            most[0] <= 2 * empty[0],
        ),
        Row(
            "11b",
            f"saved notebook after {runs[2]} generations vs lists just full ({runs[1]})",
            kib(most),
            kib(full),
            f"{most[0] / full[0]:.2f}x",
            "flat (<= 1.1x)",
            most[0] <= 1.1 * full[0],
        ),
    ]
    notes = [
        "row 11: nbclient runs the notebook in a real kernel; the saved file holds its outputs "
        "(the studio's view and its contact-sheet picture) and the live widget models' state, "
        "as JupyterLab saves it; one 0.25 MP image per generation",
        "row 11b: once the job list (8 finished rows) and the gallery's page (24 tiles) are "
        "full, more generations replace widgets instead of adding them",
        machine(),
    ]
    return format_table("Saved notebook size (row 11)", rows, notes)


def cli() -> None:
    parser = argparse.ArgumentParser(description="Row 11: saved notebook size.")
    parser.add_argument("--quick", action="store_true", help="60 generations instead of 200")
    args = parser.parse_args()
    print(main(args.quick), flush=True)


if __name__ == "__main__":
    cli()
