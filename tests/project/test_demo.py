"""`make demo`'s first screen: a copy of the notebooks outside the clone, the mock without a key,
the studio notebook saying to run it, Run All paying for nothing, and a clean clone afterwards.

`make demo` starts JupyterLab and waits, so its set-up is tested through ``binder/start
--demo`` with ``DEMO_DRY_RUN=1`` (what it would serve, with which environment), and a demo
session through a headless run of the studio notebook in the folder it serves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from flux_widgets.mock import MockServer

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "binder" / "start"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
_KEYS = ("COMETAPI_KEY", "FLUX_API_KEY", "REPLICATE_API_TOKEN", "FLUX_BASE_URL")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _KEYS and not k.startswith("FLUX_")}
    env.update(extra)
    return env


def _dry_run(folder: Path, **extra: str) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
    env = _env(FLUX_DEMO_DIR=str(folder), DEMO_DRY_RUN="1", **extra)
    result = subprocess.run(
        [str(START), "--demo", "jupyter", "lab", "02_studio.ipynb"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return said, result


def _git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _cells(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["cells"])


def _source(cell: dict[str, Any]) -> str:
    return "".join(cell["source"])


def test_make_demo_serves_a_copy_of_the_notebooks_outside_the_clone(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    said, result = _dry_run(folder)
    assert result.returncode == 0, result.stderr
    assert said["folder"] == str(folder.resolve())
    assert not Path(said["folder"]).is_relative_to(ROOT)
    assert sorted(p.name for p in folder.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    # No key: the mock; the history (placeholder images) in the demo's folder, not the user's.
    assert said["mock"] == "1" and "mock API" in result.stderr
    assert said["history"] == str(folder.resolve() / "history")
    assert said["command"] == "jupyter lab 02_studio.ipynb"  # run in the folder: its copy

    # A second session goes on with the notebooks as the reader left them.
    (folder / "02_studio.ipynb").write_text("edited")
    _dry_run(folder)
    assert (folder / "02_studio.ipynb").read_text() == "edited"


def test_with_a_key_the_demo_says_real_and_sets_no_mock(tmp_path: Path) -> None:
    said, result = _dry_run(tmp_path / "demo", COMETAPI_KEY="test-key-never-sent")
    assert result.returncode == 0 and said["mock"] == "0"
    assert (
        "real API" in result.stderr and "test-key-never-sent" not in result.stdout + result.stderr
    )


def test_the_demo_refuses_a_folder_inside_the_clone() -> None:
    inside = ROOT / "notebooks" / "demo-scratch-never-made"
    said, result = _dry_run(inside)
    assert result.returncode == 2 and "inside the clone" in result.stderr
    assert not inside.exists() and said == {}


def test_the_makefile_demo_target_goes_through_the_demo_set_up() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-n", "demo", "VENV=/nonexistent-venv", "STAMP=Makefile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "binder/start --demo /nonexistent-venv/bin/jupyter lab 02_studio.ipynb" in result.stdout


def test_every_notebook_says_to_run_it_and_that_run_all_pays_for_nothing() -> None:
    for path in NOTEBOOKS:
        cells = _cells(path)
        assert "**Run it first:**" in _source(cells[0]), path.name
        code = "\n".join(_source(c) for c in cells if c["cell_type"] == "code")
        assert "PAY_FOR_EXAMPLES = False" in code, path.name


def test_cells_showing_a_studio_or_grid_are_never_scrolled() -> None:
    # Notebook 7 collapses an output taller than ~1,800 px into a 312 px scroll box unless
    # the cell's "scrolled" metadata is set; STUDIO_CSS covers a user's own notebooks.
    shown = 0
    for path in NOTEBOOKS:
        for cell in _cells(path):
            last = _source(cell).strip().splitlines()[-1:] if cell["cell_type"] == "code" else []
            if last and last[0] in ("studio", "grid", "prompt_grid"):
                shown += 1
                assert cell["metadata"].get("scrolled") is False, (path.name, last)
    assert shown >= 4


def _run_notebook(path: Path, cwd: Path, extra: str = "") -> Any:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    if extra:
        notebook.cells.append(nbformat.v4.new_code_cell(extra))
    NotebookClient(notebook, timeout=180, resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


@pytest.mark.slow
def test_a_demo_session_leaves_the_clone_clean(tmp_path: Path, monkeypatch: Any) -> None:
    before = _git_status()
    folder = tmp_path / "demo"
    said, result = _dry_run(folder)
    assert result.returncode == 0, result.stderr
    # The demo's environment (binder/start's), then what a reader does: Run All, open an
    # image and save it (to flux-images/, relative to the notebook), and the autosave.
    for name in [*_KEYS, "FLUX_WIDGETS_HISTORY_DIR"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLUX_WIDGETS_MOCK", said["mock"])
    monkeypatch.setenv("FLUX_WIDGETS_HISTORY_DIR", said["history"])
    served = Path(said["folder"]) / "02_studio.ipynb"
    notebook = _run_notebook(
        served,
        served.parent,
        "studio.gallery.open_image(studio.images[-1])\n"
        "saved = await studio.gallery.viewer.save()\n"
        "print(saved)",
    )
    served.write_text(json.dumps(notebook, indent=1))
    saved = Path(notebook.cells[-1].outputs[0]["text"].strip())
    assert saved.is_file() and saved.parent == served.parent / "flux-images"
    assert any(Path(said["history"]).iterdir())
    assert _git_status() == before


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_run_all_with_a_key_set_pays_for_no_image(
    path: Path, session_mock: MockServer, tmp_path: Path, monkeypatch: Any
) -> None:
    # The "paid API" is the session's mock on loopback (FLUX_BASE_URL) with a key set: any
    # generation the notebook sent to it would be a paid one. The examples must use the
    # in-package mock instead, until the reader sets PAY_FOR_EXAMPLES = True.
    monkeypatch.setenv("COMETAPI_KEY", "test-key-never-paid")
    monkeypatch.delenv("FLUX_WIDGETS_MOCK", raising=False)
    work = tmp_path / "run"
    work.mkdir()
    _run_notebook(path, work)
    assert session_mock.state.creates == 0, f"{path.name} sent {session_mock.state.creates}"
    paid = path.read_text().replace("PAY_FOR_EXAMPLES = False", "PAY_FOR_EXAMPLES = True")
    if path.stem.startswith("01"):
        # And the switch does switch: set to True, the first example goes to the paid API.
        (work / path.name).write_text(paid)
        _run_notebook(work / path.name, work)
        assert session_mock.state.creates > 0
