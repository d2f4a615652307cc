"""Voila serves the studio notebook as an app: the tutorial cells, which generate (and pay),
must be dropped whichever folder Voila starts from (it reads voila.json from its cwd)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUDIO = ROOT / "notebooks" / "02_studio.ipynb"


@pytest.mark.parametrize("config", ["voila.json", "notebooks/voila.json"])
def test_voila_drops_the_tutorial_cells_from_the_repo_root_and_from_notebooks(
    config: str,
) -> None:
    settings = json.loads((ROOT / config).read_text())
    assert "tutorial" in settings["TagRemovePreprocessor"]["remove_cell_tags"]


def test_every_studio_cell_that_generates_is_a_tutorial_cell() -> None:
    cells = json.loads(STUDIO.read_text())["cells"]
    generating = [
        cell
        for cell in cells
        if cell["cell_type"] == "code"
        and any(word in "".join(cell["source"]) for word in ("generate", "await", ".click("))
    ]
    assert generating, "the tutorial generates from code"
    for cell in generating:
        assert "tutorial" in cell["metadata"].get("tags", []), "".join(cell["source"])
