"""A notebook executed with widget state stored (nbclient's default) never holds the API key."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

KEY = "sk-typed-into-the-widget-0123456789abcdef"

CELLS = [
    "from flux_widgets import PromptStudio, FluxClient\nstudio = PromptStudio()\nstudio",
    # What the browser does when a user types the key and presses Enter: a comm update.
    # (Read from a file, so the key is not in the notebook's own source.)
    "import os\nstudio.key_input.field.set_state({'value': open(os.environ['KEY_FILE']).read()})",
    "studio.key_input",
    "studio.prompt = 'a boat'\nimages = await studio.generate()\nlen(images)",
    "print(studio.client, repr(studio.key_input))",
    "studio",
]


@pytest.mark.slow
def test_key_typed_into_the_widget_is_not_in_the_saved_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_WIDGETS_HISTORY_DIR", str(tmp_path / "history"))
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY)
    monkeypatch.setenv("KEY_FILE", str(key_file))
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    NotebookClient(notebook, timeout=120, store_widget_state=True).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)
    saved = path.read_text()

    assert "application/vnd.jupyter.widget-state+json" in saved  # widget state was stored
    assert notebook.cells[3].outputs[0]["data"]["text/plain"] == "1"  # the key was used
    assert "key set" in saved
    assert KEY not in saved
    assert KEY[:12] not in saved and KEY[-12:] not in saved
