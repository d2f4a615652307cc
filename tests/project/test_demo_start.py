"""binder/start (Binder's and `make demo`'s start): which API a key in the environment picks,
and Voila on the demo's Jupyter server showing the studio alone, paying for no tutorial cell."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from flux_widgets.providers import PROVIDERS

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "binder" / "start"
KEY_VARIABLES = [name for provider in PROVIDERS.values() for name in provider.key_env_vars]


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in KEY_VARIABLES and not k.startswith(("FLUX_", "JUPYTER_CONFIG"))
    }
    env.update(extra)
    return env


def _dry_run(folder: Path, **extra: str) -> dict[str, str]:
    env = _env(FLUX_DEMO_DIR=str(folder), DEMO_DRY_RUN="1", **extra)
    result = subprocess.run(
        [str(START), "--demo", "jupyter", "lab"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert extra.get("KEY", "never-a-key") not in result.stdout + result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def test_the_start_script_knows_every_providers_key_variables() -> None:
    text = START.read_text()
    listed = text.split('KEY_VARIABLES="', 1)[1].split('"', 1)[0].split()
    expected = [f"{p.name}:{name}" for p in PROVIDERS.values() for name in p.key_env_vars]
    assert listed == expected


@pytest.mark.parametrize(
    ("provider", "variable"),
    [(p.name, name) for p in PROVIDERS.values() for name in p.key_env_vars],
)
def test_a_key_for_any_provider_means_the_real_api_on_that_provider(
    tmp_path: Path, provider: str, variable: str
) -> None:
    said = _dry_run(tmp_path / "demo", **{variable: "test-key-never-sent"})
    assert said["mock"] == "0"
    assert said["provider"] == ("" if provider == "cometapi" else provider)


def test_a_chosen_provider_is_kept_and_no_key_means_the_mock(tmp_path: Path) -> None:
    said = _dry_run(tmp_path / "a", HF_TOKEN="x", FLUX_PROVIDER="cloudflare")
    assert said["provider"] == "cloudflare"
    said = _dry_run(tmp_path / "b")
    assert said["mock"] == "1" and said["provider"] == ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_voila_on_the_demo_server_shows_the_studio_without_running_the_tutorial(
    tmp_path: Path,
) -> None:
    # Voila's server extension reads the tags to drop from the server's config (binder/jupyter/),
    # not from voila.json: without it, every page load generated the tutorial's images.
    jupyter = Path(sys.executable).parent / "jupyter"
    port, folder = _free_port(), tmp_path / "demo"
    command = [str(START), "--demo", str(jupyter), "lab", "--no-browser"]
    command += ["--ServerApp.ip=127.0.0.1"]
    command += [f"--ServerApp.port={port}", "--ServerApp.token=t", "--ServerApp.port_retries=0"]
    command += ["--allow-root"] if os.getuid() == 0 else []
    env = _env(FLUX_DEMO_DIR=str(folder), HOME=str(tmp_path))
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/voila/render/02_studio.ipynb?token=t"
        page = ""
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=60) as answer:
                    page = answer.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert "PromptStudio" in page or "flux-studio" in page, page[-2000:]
        assert "lighthouse" not in page  # the tutorial's prompt: its cells were dropped
        assert not list((folder / "history").glob("*.json"))  # and generated nothing
    finally:
        server.terminate()
        server.wait(timeout=30)
