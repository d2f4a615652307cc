"""Re-run the example notebooks against the mock and store only the outputs nbval checks.

`make notebooks` calls this after a notebook changes. Cells marked ``# NBVAL_CHECK_OUTPUT`` keep
their outputs (the reference nbval compares); every other output, execution count and all
widget state are stripped, so committed notebooks stay small and hold no secrets.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from flux_widgets.mock import MockConfig, MockServer

CHECK = "# NBVAL_CHECK_OUTPUT"
_UNSET = (
    "COMETAPI_KEY",
    "FLUX_API_KEY",
    "REPLICATE_API_TOKEN",
    "FLUX_PROVIDER",
    "FLUX_WIDGETS_MOCK",
)


def refresh(path: Path, server_url: str) -> None:
    notebook = nbformat.read(path, as_version=4)
    env_backup = dict(os.environ)
    # The environment nbval checks them in (../conftest.py): no key or provider, the mock's URL.
    for name in _UNSET:
        os.environ.pop(name, None)
    os.environ["FLUX_BASE_URL"] = server_url
    try:
        with tempfile.TemporaryDirectory(prefix="flux-history-") as history:
            os.environ["FLUX_WIDGETS_HISTORY_DIR"] = history
            # Only the shipped wildcards and styles, as under nbval (../conftest.py).
            os.environ["FLUX_WIDGETS_WILDCARDS_DIR"] = f"{history}/wildcards"
            os.environ["FLUX_WIDGETS_STYLES_DIR"] = f"{history}/styles"
            resources = {"metadata": {"path": str(path.parent)}}
            NotebookClient(notebook, timeout=120, resources=resources).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        # nbval treats a cell without an execution count as never run: checked cells keep it.
        if not cell.source.lstrip().startswith(CHECK):
            cell.outputs = []
            cell.execution_count = None
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    print(f"refreshed {path}")


def main(paths: list[str]) -> None:
    with MockServer(MockConfig(generation_time=0.05)) as server:
        for name in paths or sorted(str(p) for p in Path("notebooks").glob("*.ipynb")):
            refresh(Path(name), server.url)


if __name__ == "__main__":
    main(sys.argv[1:])
