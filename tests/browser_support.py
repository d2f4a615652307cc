"""What the browser tests (tests/browser/) and the screenshot scripts need: Debian's Chromium,
the mock and JupyterLab as subprocesses, and the steps of driving a notebook in a page.

Every server runs in its own process group and is killed with it, so a failing test leaves no
kernel behind. Nothing here reaches the internet: the kernel's client talks to the mock through
``FLUX_BASE_URL``, and Chromium runs with its background networking off.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
STUDIO_NOTEBOOK = "02_studio.ipynb"
SCREENSHOTS = ROOT / "test-output" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_SECRETS = ("COMETAPI_KEY", "FLUX_API_KEY", "REPLICATE_API_TOKEN", "FLUX_PROVIDER")
# The studio's CSS hooks (add_class calls in flux_widgets/widgets).
STUDIO = ".flux-studio"
THUMB_IMAGES = ".flux-gallery .flux-thumb img"


class Unavailable(Exception):
    """The browser cannot be had here (not root and no Chromium): the tests skip."""


def ensure_chromium() -> Path:
    """Debian's Chromium, installed with apt-get when missing (CI runs as root on Debian)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Unavailable(f"{CHROMIUM} is missing; install it with `apt-get install -y chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=300)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, timeout=600
    )
    if not CHROMIUM.exists():
        raise RuntimeError(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def _wait_until_up(
    url: str, process: subprocess.Popen[bytes], log: Path, seconds: float, any_answer: bool = False
) -> None:
    """Poll ``url`` until it answers JSON (or, with ``any_answer``, any HTTP status)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({process.returncode}):\n{_tail(log)}")
        try:
            _get(url)
            return
        except urllib.error.HTTPError:
            if any_answer:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {seconds:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def _process_group(
    command: list[str], log: Path, **kwargs: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """A subprocess in its own session; on exit its whole group gets SIGTERM, then SIGKILL."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
    try:
        yield process
    finally:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Kernels started by Jupyter live in the group too: make sure none outlives it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Mock:
    url: str

    def requests(self) -> list[dict[str, Any]]:
        """The requests the mock has recorded (GET /mock/requests)."""
        return list(_get(f"{self.url}/mock/requests"))


@contextlib.contextmanager
def mock_server(workdir: Path, generation_time: float = 0.3) -> Iterator[Mock]:
    """``python -m flux_widgets.mock`` on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "flux_widgets.mock", "--port", str(port)]
    command += ["--generation-time", str(generation_time)]
    log = workdir / "mock.log"
    with _process_group(command, log, cwd=ROOT) as process:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{url}/mock/health", process, log, 30)
        yield Mock(url)


def studio_notebooks(target: Path) -> Path:
    """A copy of notebooks/ to serve; a minimal studio notebook while 02_studio.ipynb is missing."""
    shutil.copytree(NOTEBOOKS, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    notebook = target / STUDIO_NOTEBOOK
    if not notebook.exists():
        import nbformat

        cells = [
            nbformat.v4.new_code_cell("from flux_widgets import PromptStudio"),
            nbformat.v4.new_code_cell("studio = PromptStudio()\nstudio"),
        ]
        node = nbformat.v4.new_notebook(cells=cells)
        node.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nbformat.write(node, notebook)
    return target


@dataclass
class Jupyter:
    url: str
    token: str
    app: str = "lab"

    def page_url(self, path: str) -> str:
        return f"{self.url}/{path}?token={self.token}"


def jupyter_env(workdir: Path, mock: Mock) -> dict[str, str]:
    """The servers' (and so the kernels') environment: the mock's URL, everything in tmp."""
    env = {k: v for k, v in os.environ.items() if k not in _SECRETS and k != "FLUX_WIDGETS_MOCK"}
    for name in ("config", "data", "runtime", "ipython", "history"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    env.update(
        FLUX_BASE_URL=mock.url,
        FLUX_WIDGETS_HISTORY_DIR=str(workdir / "history"),
        JUPYTER_CONFIG_DIR=str(workdir / "config"),
        JUPYTER_DATA_DIR=str(workdir / "data"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        IPYTHONDIR=str(workdir / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _quiet_lab_settings(settings: Path) -> None:
    # No "get notified about Jupyter news?" toast, no update check: nothing covers the studio.
    folder = settings / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )


# Where each front end opens the studio notebook.
FRONT_ENDS = {
    "lab": f"lab/tree/{STUDIO_NOTEBOOK}",
    "notebook": f"notebooks/{STUDIO_NOTEBOOK}",
    "voila": "",  # Voila serves the one notebook it was given at its root
}


def _front_end_command(app: str, port: int, token: str, root_dir: Path, workdir: Path) -> list[str]:
    bin_dir = Path(sys.executable).parent
    if app == "voila":
        return [
            str(bin_dir / "voila"),
            str(root_dir / STUDIO_NOTEBOOK),
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--port={port}",
            f"--token={token}",
            "--show_tracebacks=True",
        ]
    settings, workspaces = workdir / "lab-settings", workdir / "workspaces"
    _quiet_lab_settings(settings)
    workspaces.mkdir(parents=True, exist_ok=True)
    command = [
        str(bin_dir / "jupyter"),
        app,
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    # Both apps are JupyterLab front ends: same switches, their own config class.
    config = "LabApp" if app == "lab" else "JupyterNotebookApp"
    command += [
        f"--{config}.expose_app_in_browser=True",
        f"--{config}.user_settings_dir={settings}",
        f"--{config}.workspaces_dir={workspaces}",
    ]
    if app == "lab":
        command += [
            "--LabApp.news_url=None",
            "--LabApp.extension_manager=readonly",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
    return command


@contextlib.contextmanager
def jupyter_server(
    app: str, root_dir: Path, workdir: Path, mock: Mock, timeout: float = 60
) -> Iterator[Jupyter]:
    """``jupyter lab``, ``jupyter notebook`` or ``voila`` serving the studio notebook in
    ``root_dir``, its kernels pointed at the mock."""
    port, token = free_port(), secrets.token_hex(16)
    command = _front_end_command(app, port, token, root_dir, workdir)
    log = workdir / f"{app}.log"
    env = jupyter_env(workdir, mock)
    with _process_group(command, log, cwd=root_dir, env=env) as process:
        url = f"http://127.0.0.1:{port}"
        if app == "voila":
            # Voila has no /api/status, and a GET of its page would start a kernel.
            _wait_until_up(f"{url}/voila/static/", process, log, timeout, any_answer=True)
        else:
            _wait_until_up(f"{url}/api/status?token={token}", process, log, timeout)
        yield Jupyter(url, token, app)


@contextlib.contextmanager
def chromium_page(workdir: Path, width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A Playwright page in headless Debian Chromium, with a fresh profile."""
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(Path(tempfile.mkdtemp(prefix="chromium-", dir=workdir))),
            executable_path=str(executable),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            context.close()


# -- driving the studio in JupyterLab --------------------------------------------------------


def open_studio_notebook(page: Any, jupyter: Jupyter) -> None:
    """Open the studio notebook and run it: Run All in JupyterLab and Notebook 7 (their own
    command, once the kernel is ready); Voila runs it by itself."""
    page.goto(jupyter.page_url(FRONT_ENDS[jupyter.app]))
    if jupyter.app == "voila":
        return
    run_all_cells(page)


def run_all_cells(page: Any) -> None:
    """Run All in the notebook open in JupyterLab or Notebook 7, once its kernel is ready."""
    ready = "() => window.jupyterapp?.shell.currentWidget?.sessionContext"
    page.wait_for_function(ready, timeout=60_000)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=30_000)
    page.evaluate(
        """async () => {
            const app = window.jupyterapp;
            await app.shell.currentWidget.sessionContext.ready;
            await app.commands.execute('notebook:run-all-cells');
        }"""
    )


def wait_for_cells_done(page: Any, jupyter: Jupyter, timeout: float = 120_000) -> None:
    """Wait until every code cell has run and the kernel is idle (run-all stops at an error)."""
    if jupyter.app == "voila":
        return  # Voila shows the page once the notebook has run
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
            const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
            const errors = document.querySelectorAll(
                '.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]');
            return kernel && kernel.status === 'idle'
                && (errors.length > 0 || cells.every(cell => cell.model.executionCount !== null));
        }""",
        timeout=timeout,
    )


def notebook_errors(page: Any) -> list[str]:
    """The text of every error (traceback) output in the open notebook."""
    return list(
        page.locator(
            '.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'
        ).all_inner_texts()
    )


def studio(page: Any) -> Any:
    """The first studio on the page, once it has rendered."""
    view = page.locator(STUDIO).first
    view.wait_for(state="visible", timeout=90_000)
    return view


_COUNT_LOADED = """([studio, sel]) => {
    const root = document.querySelector(studio);
    // The gallery keeps one hidden tile ready for the next image: only shown tiles count.
    const imgs = (root ? [...root.querySelectorAll(sel)] : [])
        .filter(img => getComputedStyle(img.closest('.flux-thumb')).display !== 'none');
    return {
        tiles: imgs.length,
        loaded: imgs.filter(img => img.complete && img.naturalWidth > 0).length,
    };
}"""


def thumbnails(page: Any) -> dict[str, int]:
    """The first studio's gallery: thumbnail <img>s, and how many the browser has decoded."""
    return dict(page.evaluate(_COUNT_LOADED, [STUDIO, THUMB_IMAGES]))


def wait_for_thumbnails(page: Any, count: int, timeout: float = 30_000) -> None:
    """Wait until exactly ``count`` thumbnails are shown and every one is decoded."""
    page.wait_for_function(
        f"""args => {{
            const count = args[2];
            const found = ({_COUNT_LOADED})(args);
            return found.tiles === count && found.loaded === count;
        }}""",
        arg=[STUDIO, THUMB_IMAGES, count],
        timeout=timeout,
    )


def settle_thumbnails(page: Any, seconds: float = 2.0, timeout: float = 30.0) -> int:
    """The thumbnail count once it has stopped changing (history restore, notebook cells)."""
    deadline = time.monotonic() + timeout
    last, since = thumbnails(page), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = thumbnails(page)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds and now["tiles"] == now["loaded"]:
            return now["tiles"]
    raise TimeoutError(f"the gallery did not settle: {last}")


def start_generation(page: Any, prompt: str, outputs: int | None = None) -> None:
    """Type a prompt (and the image count), then click Generate."""
    view = studio(page)
    box = view.locator(".flux-prompt textarea")
    box.fill(prompt)
    box.press("Tab")  # the Textarea syncs on change (continuous_update=False)
    if outputs is not None:
        set_image_count(view, outputs)
    view.locator(".flux-generate").click()


def set_image_count(view: Any, outputs: int) -> None:
    # The "Images" slider's readout is editable: type the number into it.
    slider = view.locator(".widget-slider", has_text="Images").first
    readout = slider.locator(".widget-readout")
    readout.click()
    readout.press("Control+a")
    readout.type(str(outputs))
    readout.press("Enter")
    slider.locator(".widget-readout", has_text=str(outputs)).wait_for(timeout=10_000)


def job_row(view: Any, prompt: str) -> Any:
    """The job row of the generation with this prompt (newest first)."""
    return view.locator(".flux-job", has=view.page.locator(".flux-status", has_text=prompt)).first


def newest_tile(view: Any) -> Any:
    """The gallery tile shown first (the newest image). The grid's DOM keeps tiles oldest
    first and CSS ``order`` puts the newest first, so the DOM's first tile is not it."""
    index = view.evaluate(
        """studio => {
            const tiles = [...studio.querySelectorAll('.flux-gallery .flux-thumb')];
            let best = -1, bestOrder = Infinity;
            tiles.forEach((tile, i) => {
                const style = getComputedStyle(tile);
                if (style.display !== 'none' && Number(style.order) < bestOrder) {
                    best = i;
                    bestOrder = Number(style.order);
                }
            });
            return best;
        }"""
    )
    if index < 0:
        raise AssertionError("the gallery shows no tile")
    return view.locator(".flux-gallery .flux-thumb").nth(index)


def viewer(page: Any) -> Any:
    """The viewer (a modal under <body> in JupyterLab, Notebook 7 and Voila)."""
    return page.locator(".flux-viewer").first


def wait_for_full_image(img: Any, timeout_ms: int = 15_000) -> None:
    """Wait until an <img> has decoded a picture wider than a thumbnail."""
    img.evaluate(
        """(img, timeout) => new Promise((resolve, reject) => {
            const deadline = Date.now() + timeout;
            (function check() {
                if (img.complete && img.naturalWidth > 256) resolve();
                else if (Date.now() > deadline) reject(new Error('naturalWidth '
                    + img.naturalWidth));
                else setTimeout(check, 50);
            })();
        })""",
        timeout_ms,
    )


def execution_counts(page: Any) -> list[int | None]:
    """The execution count of every code cell of the open notebook."""
    return list(
        page.evaluate(
            """() => window.jupyterapp.shell.currentWidget.content.widgets
                .filter(cell => cell.model.type === 'code')
                .map(cell => cell.model.executionCount)"""
        )
    )


def run_in_kernel(page: Any, code: str) -> None:
    """Run ``code`` in the open notebook's kernel (no cell, no output); raise unless ok."""
    status = page.evaluate(
        """async code => {
            const panel = window.jupyterapp.shell.currentWidget;
            const reply = await panel.sessionContext.session.kernel.requestExecute({code}).done;
            return reply.content.status;
        }""",
        code,
    )
    if status != "ok":
        raise RuntimeError(f"the kernel answered {status!r} to:\n{code}")


def set_theme(page: Any, theme: str) -> None:
    """Switch JupyterLab's theme (e.g. "JupyterLab Dark") and wait until it applies."""
    page.evaluate(
        "theme => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme
    )
    page.wait_for_function(
        "theme => document.body.dataset.jpThemeName === theme", arg=theme, timeout=15_000
    )


def scroll_to_top_of(locator: Any) -> None:
    """Scroll the notebook so that this element's top is at the top of the view."""
    locator.evaluate("element => element.scrollIntoView({block: 'start'})")
    time.sleep(0.3)  # let the notebook's windowing render what came into view


def screenshot(page: Any, name: str, at: Any = None, folder: Path = SCREENSHOTS) -> Path:
    """The page as it looks, scrolled to ``at`` first, saved as ``folder/name.png``."""
    if at is not None:
        scroll_to_top_of(at)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def collapse_sidebars(page: Any) -> None:
    """Hide JupyterLab's side panels so the notebook gets the whole width."""
    page.evaluate(
        "() => { window.jupyterapp.shell.collapseLeft(); window.jupyterapp.shell.collapseRight(); }"
    )


def job_rows_geometry(page: Any) -> dict[str, Any]:
    """The first studio's job rows: each one's height, how many overlap the next, and whether
    the list scrolls (its box is shorter than its content)."""
    return dict(
        page.evaluate(
            """() => {
                const nodes = [...document.querySelectorAll('.flux-studio .flux-job')];
                const box = nodes[0].parentElement;  // the list's scrolling box
                const rows = nodes.map(row => row.getBoundingClientRect());
                let overlaps = 0;
                for (let i = 1; i < rows.length; i++)
                    if (rows[i].top < rows[i - 1].bottom - 0.5) overlaps++;
                return {heights: rows.map(r => r.height), overlaps,
                        scrolls: box.scrollHeight > box.clientHeight + 1};
            }"""
        )
    )


def output_area_geometry(page: Any) -> dict[str, Any]:
    """The studio's cell output area against the studio: heights and the scroll cap."""
    return dict(
        page.evaluate(
            """() => {
                const studio = document.querySelector('.flux-studio');
                const area = studio.closest('.jp-Cell-outputArea');
                const cell = studio.closest('.jp-CodeCell');
                return {outputHeight: area.clientHeight, studioHeight: studio.offsetHeight,
                        maxHeight: getComputedStyle(area).maxHeight,
                        scrolledClass: cell.classList.contains('jp-mod-outputsScrolled')};
            }"""
        )
    )


def enable_output_scrolling(page: Any, view: Any) -> None:
    """Select the studio's cell and run "Enable Scrolling for Outputs" on it."""
    page.evaluate(
        """async () => {
            const panel = window.jupyterapp.shell.currentWidget;
            const cell = document.querySelector('.flux-studio').closest('.jp-CodeCell');
            panel.content.activeCellIndex = panel.content.widgets.findIndex(w => w.node === cell);
            await window.jupyterapp.commands.execute('notebook:enable-output-scrolling');
        }"""
    )
    page.wait_for_function(
        "() => document.querySelector('.flux-studio').closest('.jp-CodeCell')"
        ".classList.contains('jp-mod-outputsScrolled')",
        timeout=10_000,
    )


# Rows (matching the selector, shown) whose shown children are not all on one line: the text
# of each such row. A row "wraps" when a child starts below the first child's bottom.
WRAPPED_ROWS = """(selector) => [...document.querySelectorAll(selector)]
    .filter(row => row.offsetParent !== null)
    .filter(row => {
        const kids = [...row.children].filter(k => k.offsetParent !== null)
            .map(k => k.getBoundingClientRect()).filter(r => r.height > 0);
        return kids.some(r => r.top >= kids[0].bottom - 1);
    })
    .map(row => row.innerText.replace(/\\s+/g, ' ').trim())"""
