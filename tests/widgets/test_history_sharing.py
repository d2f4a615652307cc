"""The History section's share and re-open row, driven without a front end: export the
selection or the search as a page or a zip, import by path or upload, errors said plainly."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from factories import make_image

from flux_widgets.history.store import History
from flux_widgets.widgets.history_browser import HistoryBrowser


def _filled(folder: Path, count: int = 4) -> History:
    history = History(folder)
    for n in range(count):
        image = make_image(n)
        prompt = "red boat" if n % 2 else "blue kite"
        history.add(dataclasses.replace(image, params=image.params.replace(prompt=prompt)))
    return history


async def _browser(history: History) -> HistoryBrowser:
    browser = HistoryBrowser(history, page_size=4)
    await browser.reload()
    await browser.wait()
    return browser


def _stems_in(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return [entry["stem"] for entry in json.loads(archive.read("manifest.json"))["entries"]]


async def test_the_search_exports_as_a_page_beside_the_history(tmp_path: Path) -> None:
    browser = await _browser(_filled(tmp_path / "history"))
    sharing = browser.sharing
    assert sharing in browser.children
    browser.search.value = "red"
    await browser.wait()
    sharing.export_button.click()
    await sharing.wait()
    written = Path(str(sharing.last_export))
    assert written.parent == tmp_path / "exports" and written.suffix == ".html"
    page = await asyncio.to_thread(written.read_text)
    assert page.count('<article class="card"') == 2
    assert f"exported 2 images to {written}" in sharing.export_status.value
    assert sharing.link.outputs == ()  # outside the notebook's folder: no link to serve it


async def test_the_selection_exports_as_a_zip_at_the_typed_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    history = _filled(tmp_path / "history")
    browser = await _browser(history)
    first, _, third, _ = browser.records
    browser.selected = {first.stem, third.stem}
    sharing = browser.sharing
    sharing.scope.value = "selected"
    sharing.kind.value = "zip"
    assert sharing.full_size.layout.display == "none"  # a page's option only
    sharing.export_path.value = "shared/boats"
    sharing.export_button.click()
    await sharing.wait()
    assert sharing.last_export == str(Path.cwd() / "shared" / "boats.zip")
    assert _stems_in(tmp_path / "shared" / "boats.zip") == sorted([first.stem, third.stem])
    # Under the notebook's folder: a relative link, which the files route serves.
    link = sharing.link.outputs[0]["data"]["text/html"]
    assert "<a href='shared/boats.zip'" in link and ">download boats.zip</a>" in link


async def test_exporting_no_selection_says_what_to_do_and_writes_nothing(tmp_path: Path) -> None:
    browser = await _browser(_filled(tmp_path / "history"))
    sharing = browser.sharing
    sharing.scope.value = "selected"
    sharing.export_button.click()
    await sharing.wait()
    assert "no image is selected: tick the images to export" in sharing.export_status.value
    assert not (tmp_path / "exports").exists()


async def test_an_import_by_path_adds_the_images_once_and_shows_them(tmp_path: Path) -> None:
    source = _filled(tmp_path / "source", 3)
    zip_path = source.export_zip(tmp_path / "boats.zip").path
    browser = await _browser(History(tmp_path / "mine"))
    assert browser.total == 0
    sharing = browser.sharing
    sharing.import_path.value = str(zip_path)
    sharing.import_button.click()
    await sharing.wait()
    assert sharing.import_status.value == "imported 3 images"
    assert browser.total == 3 and len(browser.records) == 3
    sharing.import_button.click()
    await sharing.wait()
    assert sharing.last_import == "imported 0 images; 3 already in the history"
    assert browser.total == 3


async def test_an_uploaded_zip_is_imported(tmp_path: Path) -> None:
    zip_path = _filled(tmp_path / "source", 2).export_zip(tmp_path / "boats.zip").path
    browser = await _browser(History(tmp_path / "mine"))
    sharing = browser.sharing
    data = zip_path.read_bytes()
    if isinstance(sharing.upload.value, dict):  # ipywidgets 7
        uploaded = {"boats.zip": {"metadata": {"name": "boats.zip"}, "content": data}}
        sharing.upload.set_trait("value", uploaded)  # read-only: the front end sets it
    else:
        upload = {"name": "boats.zip", "type": "application/zip", "size": len(data)}
        when = datetime.now(timezone.utc)
        sharing.upload.value = ({**upload, "content": memoryview(data), "last_modified": when},)
    report = await sharing.import_()
    assert len(report.imported) == 2 and browser.total == 2
    assert not sharing.upload.value  # cleared: the next Import does not repeat it


async def test_a_file_that_is_not_an_export_is_refused_in_plain_words(tmp_path: Path) -> None:
    (tmp_path / "notes.zip").write_text("just text")
    browser = await _browser(History(tmp_path / "mine"))
    sharing = browser.sharing
    sharing.import_button.click()
    await sharing.wait()
    assert "type the path of an exported .zip, or upload one" in sharing.import_status.value
    sharing.import_path.value = str(tmp_path / "notes.zip")
    sharing.import_button.click()
    await sharing.wait()
    status = sharing.import_status.value
    assert "notes.zip is not a zip file" in status and "Error" not in status
    sharing.import_path.value = str(tmp_path / "missing.zip")
    sharing.import_button.click()
    await sharing.wait()
    assert "there is no file" in sharing.import_status.value
