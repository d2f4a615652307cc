"""Row 12: the saved notebook's size after many generations, against an empty studio's.

A real kernel (nbclient) runs a notebook that shows a studio on the mock, generates N times
(one image each, 0.25 MP), and then asks ipywidgets for the state of the live widget models.
The notebook is measured as JupyterLab saves it by default (outputs only) and with its "save
widget state" setting on (plus that state: closed models are gone from it, as they are from
the front end), against:

- an empty studio (a new history): the baseline the target names;
- the studio reopened on the history of the 200 generations (it shows the same page at once);
- the job list and the gallery's page just full (24 images): what must stay flat.

    python -m benchmarks.bench_notebook [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .mockproc import MockProcess
from .stats import Row, format_table, machine

KEY = "sk-benchmark"

INTRO = (
    "# Prompt Studio\n\nType a prompt, pick the aspect ratio and number of images, press "
    "**Generate**. Every generation gets a row; thumbnails show the seed actually used."
)
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


@dataclass(frozen=True)
class Saved:
    """One executed notebook saved two ways, in bytes."""

    plain: int  # JupyterLab's default save: outputs, no widget state
    with_state: int  # "save widget state" on: plus the live models' state
    state: int
    outputs: int

    def text(self, with_state: bool) -> str:
        if with_state:
            return (
                f"{self.with_state / 1024:.0f} KiB (state {self.state / 1024:.0f}, "
                f"outputs {self.outputs / 1024:.0f})"
            )
        return f"{self.plain / 1024:.1f} KiB"


def saved_size(mock: MockProcess, generations: int, history: Path, folder: Path) -> Saved:
    """Run the notebook (``generations`` Generate calls on ``history``) and save it both ways."""
    state_file = folder / "state.json"
    environ = {
        "BENCH_KEY": KEY,
        "BENCH_URL": mock.url,
        "BENCH_HISTORY": str(history),
        "BENCH_GENERATIONS": str(generations),
        "BENCH_STATE": str(state_file),
    }
    saved_environ = dict(os.environ)
    os.environ.update(environ)
    try:
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_markdown_cell(INTRO)]
        notebook.cells += [nbformat.v4.new_code_cell(source) for source in CELLS]
        NotebookClient(notebook, timeout=600, store_widget_state=False).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
    plain = len(nbformat.writes(notebook).encode())
    state = json.loads(state_file.read_text())
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    with_state = len(nbformat.writes(notebook).encode())
    outputs = len(json.dumps([cell.get("outputs", []) for cell in notebook.cells]))
    return Saved(plain, with_state, len(json.dumps(notebook.metadata["widgets"])), outputs)


def main(quick: bool) -> str:
    many = 60 if quick else 200
    with MockProcess(generation_time=0.05) as mock, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        empty = saved_size(mock, 0, folder / "new", folder)
        full = saved_size(mock, 24, folder / "full", folder)
        after = saved_size(mock, many, folder / "long", folder)
        # The same folder opened again: a studio that shows last session's images at once.
        reopened = saved_size(mock, 0, folder / "long", folder)

    def row(number: str, what: str, base: Saved, with_state: bool, target: float) -> Row:
        ours = after.with_state if with_state else after.plain
        theirs = base.with_state if with_state else base.plain
        return Row(
            number,
            what,
            after.text(with_state),
            base.text(with_state),
            f"{ours / theirs:.2f}x",
            f"<= {target:g}x",
            ours <= target * theirs,
        )

    rows = [
        row("11", f"saved after {many} generations vs an empty studio", empty, False, 2),
        row("11b", "the same, vs the studio reopened on that history", reopened, False, 2),
        row("11c", f"with widget state: {many} generations vs an empty studio", empty, True, 2),
        row("11d", "with widget state: vs the studio reopened on that history", reopened, True, 2),
        row("11e", f"with widget state: {many} generations vs lists full (24)", full, True, 1.1),
    ]
    notes = [
        "row 12: nbclient runs a notebook (an intro, the studio, N Generate calls) in a real "
        "kernel; saved as JupyterLab saves by default (outputs: the studio's view, and its "
        "contact sheet, a 128-colour PNG of the 8 newest images, ~45 KiB; no widget state); "
        "one 0.25 MP image per generation",
        "rows 11c-e: with JupyterLab's 'save widget state' on: plus the live widget models' "
        "state (ipywidgets' get_manager_state), dominated by the gallery's page of 24 "
        "thumbnails (gallery.py); closed job rows and tiles are not in it",
        "an empty studio has nothing to show: its file is the notebook and the widget view "
        "alone, so any picture of the images exceeds 2x of it; reopened on the same history, "
        "the studio shows the same page and sheet, which is what stays within 2x",
        machine(),
    ]
    return format_table("Saved notebook size (row 12)", rows, notes)


def cli() -> None:
    parser = argparse.ArgumentParser(description="Row 12: saved notebook size.")
    parser.add_argument("--quick", action="store_true", help="60 generations instead of 200")
    args = parser.parse_args()
    print(main(args.quick), flush=True)


if __name__ == "__main__":
    cli()
