"""The History section's "share and re-open" row: export the selected images or the current
search as a web page or a zip, and import a zip that another notebook exported.

The work is the history's (``History.export_html``, ``export_zip``, ``import_``: history/),
done in a worker thread; this module is the controls and what they say. An export goes to
the path typed, or to ``exports/`` beside the history folder; when the file is under the
notebook's folder, a link opens it through the Jupyter server's files route (the path is
shown either way). An import reads a typed path or an uploaded file (the upload travels over
the widget channel, which Jupyter servers cap at some MB: type the path of a big zip).
"""

from __future__ import annotations

import asyncio
import html
import os
import tempfile
from collections.abc import Awaitable
from datetime import datetime
from pathlib import Path
from typing import Protocol

import ipywidgets as widgets
import traitlets

from ..history.exporting import ExportReport, Selection
from ..history.importing import ImportReport
from ..history.records import HistoryFilter
from ..history.store import History
from ._compat import set_tooltip
from ._tasks import TaskSet

SELECTED, SEARCH = "selected", "search"
_ROW = {"flex_flow": "row wrap", "align_items": "center"}
_SUFFIX = {"html": ".html", "zip": ".zip"}


class Browsed(Protocol):
    """What the sharing row reads of the browser it sits in (history_browser.py)."""

    history: History
    selected: set[str]

    @property
    def filter(self) -> HistoryFilter: ...

    async def changed(self) -> None: ...


class HistorySharing(widgets.Accordion):  # type: ignore[misc]
    """A folded "share and re-open" section: Export (selection or search, as a page or a
    zip) and Import (a path or an upload). ``await sharing.export()`` and ``await
    sharing.import_()`` do what the buttons do, from code; ``await sharing.wait()`` in tests."""

    last_export = traitlets.Unicode(
        None, allow_none=True, help="the file the last export wrote, or None"
    )
    last_import = traitlets.Unicode(
        None, allow_none=True, help="what the last import did, in a sentence, or None"
    )

    def __init__(self, browser: Browsed) -> None:
        self._browser = browser
        self._tasks = TaskSet(self._report)
        self.scope = widgets.Dropdown(
            options=[("the selected images", SELECTED), ("the images this search shows", SEARCH)],
            value=SEARCH,
            layout={"width": "auto"},
        )
        self.kind = widgets.Dropdown(
            options=[("as a web page (.html)", "html"), ("as a zip to re-open (.zip)", "zip")],
            value="html",
            layout={"width": "auto"},
        )
        self.full_size = widgets.Checkbox(
            value=False, description="full-size images", indent=False, layout={"width": "auto"}
        )
        set_tooltip(self.full_size, "embed the original files too (a page as big as the images)")
        self.export_path = widgets.Text(
            placeholder="save as (empty: exports/ beside the history)",
            layout={"width": "auto", "flex": "1 1 220px"},
        )
        self.export_button = widgets.Button(description="Export", icon="download")
        self.export_status = widgets.HTML()
        self.link = widgets.Output()
        self.import_path = widgets.Text(
            placeholder="path of an exported .zip", layout={"width": "auto", "flex": "1 1 220px"}
        )
        self.upload = widgets.FileUpload(accept=".zip", multiple=False, description="or upload")
        self.import_button = widgets.Button(description="Import", icon="upload")
        self.import_status = widgets.HTML()
        export_row = widgets.HBox(
            [self.scope, self.kind, self.full_size, self.export_path, self.export_button],
            layout=_ROW,
        )
        import_row = widgets.HBox([self.import_path, self.upload, self.import_button], layout=_ROW)
        body = widgets.VBox(
            [export_row, self.export_status, self.link, import_row, self.import_status]
        )
        super().__init__(children=[body], selected_index=None)
        self.set_title(0, "share and re-open")
        self.add_class("flux-history-sharing")
        self.kind.observe(lambda _: self._show_options(), names="value")
        self.export_button.on_click(
            lambda _: self._tasks.spawn(self._said(self.export(), self.export_status))
        )
        self.import_button.on_click(
            lambda _: self._tasks.spawn(self._said(self.import_(), self.import_status))
        )
        self._show_options()

    async def export(self) -> ExportReport:
        """Export what the controls say; returns what was written (and shows a link)."""
        browser = self._browser
        history, kind = browser.history, str(self.kind.value)
        entries: Selection
        if self.scope.value == SELECTED:
            entries = sorted(browser.selected)  # stems sort by time: oldest first
            if not entries:
                raise ValueError(
                    "no image is selected: tick the images to export, "
                    'or choose "the images this search shows"'
                )
        else:
            entries = browser.filter
        target = self._target(history, kind)
        self.export_button.disabled = True
        self.export_status.value = "exporting…"
        try:
            if kind == "html":
                full = bool(self.full_size.value)
                report = await asyncio.to_thread(
                    history.export_html, target, entries, full_size=full
                )
            else:
                report = await asyncio.to_thread(history.export_zip, target, entries)
        finally:
            self.export_button.disabled = False
        self.last_export = str(report.path)
        self.export_status.value = html.escape(str(report))
        self._show_link(report.path)
        return report

    async def import_(self) -> ImportReport:
        """Import the uploaded zip, or else the one at the typed path; then every view of the
        history shows what came in (the browser, and the studio's count and gallery)."""
        uploaded = _uploaded(self.upload)
        typed = str(self.import_path.value).strip()
        if uploaded is None and not typed:
            raise ValueError("type the path of an exported .zip, or upload one")
        self.import_button.disabled = True
        self.import_status.value = "importing…"
        try:
            if uploaded is not None:
                report = await asyncio.to_thread(_import_bytes, self._browser.history, *uploaded)
                _clear(self.upload)
            else:
                report = await asyncio.to_thread(self._browser.history.import_, typed)
        finally:
            self.import_button.disabled = False
        self.last_import = str(report)
        self.import_status.value = html.escape(str(report))
        await self._browser.changed()
        return report

    async def wait(self) -> None:
        """Wait for a running export or import."""
        await self._tasks.wait()

    def _target(self, history: History, kind: str) -> Path:
        typed = str(self.export_path.value).strip()
        stamp = f"flux-{datetime.now():%Y%m%d-%H%M%S}{_SUFFIX[kind]}"
        if not typed:
            return history.directory.parent / "exports" / stamp
        path = Path.cwd() / Path(typed).expanduser()  # relative: to the notebook's folder
        if path.is_dir() or typed.endswith(("/", os.sep)):
            return path / stamp
        suffix = _SUFFIX[kind]
        return path if path.suffix.lower() == suffix else path.with_name(path.name + suffix)

    def _show_link(self, path: Path) -> None:
        """A link through the files route when the file is under the notebook's folder (the
        notebook's output resolves a relative link there); the status line has the path."""
        try:
            relative = path.resolve().relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            self.link.outputs = ()  # outside what the Jupyter server serves: no link
            return
        href, name = html.escape(relative, quote=True), html.escape(path.name)
        self.link.outputs = (
            {
                "output_type": "display_data",
                "data": {
                    # A download, said so: JupyterLab would open the page in its sandboxed
                    # viewer, where the page's copy and compare scripts do not run.
                    "text/html": f"<a href='{href}' target='_blank' download>download {name}</a>"
                    + (" (opens in any browser, offline)" if path.suffix == ".html" else ""),
                    "text/plain": relative,
                },
                "metadata": {},
            },
        )

    def _show_options(self) -> None:
        self.full_size.layout.display = None if self.kind.value == "html" else "none"

    async def _said(self, work: Awaitable[object], status: widgets.HTML) -> None:
        """Run a button's action; what went wrong is said on its own status line."""
        try:
            await work
        except (ValueError, OSError) as error:  # HistoryImportError is a ValueError
            status.value = f"<span class='flux-warning'>{html.escape(_for_people(error))}</span>"

    def _report(self, error: BaseException) -> None:
        self.export_status.value = f"<span class='flux-warning'>{html.escape(str(error))}</span>"


def _uploaded(upload: widgets.FileUpload) -> tuple[str, bytes] | None:
    """The uploaded file's name and bytes (ipywidgets 8: a tuple of dicts; 7: a dict)."""
    value = upload.value
    files = list(value.values()) if isinstance(value, dict) else list(value or ())
    if not files:
        return None
    first = files[0]
    name = first.get("name") or first.get("metadata", {}).get("name") or "upload.zip"
    return str(name), bytes(first["content"])


def _clear(upload: widgets.FileUpload) -> None:
    """Forget the uploaded file, so the next Import does not repeat it (ipywidgets 7's value
    is read-only, derived from ``data`` and ``metadata``)."""
    if isinstance(upload.value, dict):
        for name, empty in (("data", []), ("metadata", []), ("value", {}), ("_counter", 0)):
            upload.set_trait(name, empty)
    else:
        upload.value = ()


def _import_bytes(history: History, name: str, data: bytes) -> ImportReport:
    with tempfile.TemporaryDirectory(prefix="flux-import-") as folder:
        path = Path(folder) / Path(name).name
        path.write_bytes(data)
        return history.import_(path)


def _for_people(error: BaseException) -> str:
    """What went wrong, without Python's names for it."""
    if isinstance(error, PermissionError):
        where = error.filename or "there"
        return f"{where}: permission denied; choose a folder you can write to"
    if isinstance(error, OSError):
        return f"{error.filename or 'the file'}: {(error.strerror or 'the disk refused').lower()}"
    return str(error)
