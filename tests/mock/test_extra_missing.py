"""Without the mock extra (starlette, uvicorn), the mock's command line and ``FluxClient.mock()``
give the same install hint, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import flux_widgets

# Makes starlette and uvicorn unimportable, as in an install without the [mock] extra.
_BLOCK = "import sys\nfor name in ('starlette', 'uvicorn'):\n    sys.modules[name] = None\n"
_HINT = "the mock API needs the mock extra: pip install 'flux-widgets[mock]'"


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    root = str(Path(flux_widgets.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", _BLOCK + code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path},
    )


def test_the_command_line_prints_the_install_hint_not_a_traceback() -> None:
    result = _run(
        "import runpy\n"
        "sys.argv[0] = 'flux_widgets.mock'\n"
        "runpy.run_module('flux_widgets.mock', run_name='__main__', alter_sys=True)",
        "--port",
        "0",
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {_HINT} (")
    assert result.stderr.rstrip().endswith("is missing)")
    assert result.stdout == ""


def test_the_hint_is_the_one_flux_client_mock_gives() -> None:
    cli = _run("import runpy\nrunpy.run_module('flux_widgets.mock', run_name='__main__')")
    client = _run(
        "from flux_widgets import FluxClient, FluxError\n"
        "try:\n"
        "    FluxClient.mock()\n"
        "except FluxError as error:\n"
        "    print(error)\n"
    )

    assert client.returncode == 0, client.stderr
    # The client answers in-process (transport/in_process.py): it needs starlette, not uvicorn.
    assert client.stdout.strip() == f"{_HINT} (starlette is missing)"
    assert cli.stderr.strip() == f"error: {_HINT} (uvicorn is missing)"


def test_help_and_the_configuration_need_no_extra() -> None:
    result = _run(
        "import runpy\n"
        "sys.argv[0] = 'flux_widgets.mock'\n"
        "runpy.run_module('flux_widgets.mock', run_name='__main__', alter_sys=True)",
        "--help",
    )
    assert result.returncode == 0 and "--generation-time" in result.stdout

    config = _run("from flux_widgets.mock import MockConfig\nprint(MockConfig().generation_time)")
    assert config.returncode == 0 and config.stdout.strip() == "0.8", config.stderr
