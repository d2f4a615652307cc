"""Binder: a fresh environment built only from binder/ runs every notebook, with no key."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a Binder image has besides binder/requirements.txt: a kernel, and here the test runner.
RUNNER = ["ipykernel", "pytest", "nbval"]


@pytest.mark.slow
def test_fresh_venv_from_binder_runs_every_notebook_on_the_mock(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt", *RUNNER]
    subprocess.run(install, cwd=ROOT, check=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUX_", "PYTEST_"))}
    env["FLUX_WIDGETS_HISTORY_DIR"] = str(tmp_path / "history")
    # The notebooks run from a copy, away from this checkout's sources and pytest config.
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    # binder/start picks the in-package mock because no key is set; --noconftest keeps this
    # repo's test session (and its FLUX_BASE_URL) out, as on Binder.
    result = subprocess.run(
        [
            str(ROOT / "binder" / "start"),
            python,
            "-m",
            "pytest",
            "--noconftest",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-current-env",
            "-q",
            "-o",
            "addopts=",
            str(notebooks),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "mock API" in result.stderr
    # The package came from the install, not from this checkout.
    where = subprocess.run(
        [python, "-c", "import flux_widgets; print(flux_widgets.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "site-packages" in where.stdout


def test_repo2docker_builds_from_binder_config_and_installs_the_repo() -> None:
    # --no-build prints the Dockerfile repo2docker would build; no Docker engine is needed.
    result = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--debug", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    dockerfile = result.stdout + result.stderr
    assert "python=3.12" in dockerfile  # binder/runtime.txt
    copy_repo = dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/")
    install = dockerfile.index('pip install --no-cache-dir -r "binder/requirements.txt"')
    # The requirements install the repo itself (".[mock]"), so the repo must be there first.
    assert copy_repo < install
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile
