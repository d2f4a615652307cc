"""Every view of the history follows every change to it: Clear history and its undo, a delete,
a restore and a star in the browser, another process. The count line, the gallery, the browser
and its trash agree afterwards. Fixtures: conftest.py."""

from __future__ import annotations

from pathlib import Path

from factories import make_image

from flux_widgets.client import FluxClient
from flux_widgets.history.store import History
from flux_widgets.widgets import PromptStudio
from flux_widgets.widgets._compat import is_shown
from flux_widgets.widgets.history_browser import HistoryBrowser


def fill(folder: Path, count: int) -> History:
    history = History(folder)
    for n in range(count):
        history.add(make_image(n))
    return history


async def _open_browser(studio: PromptStudio) -> HistoryBrowser:
    studio.history_section.selected_index = 0
    await studio.wait()
    browser = studio.history_browser
    assert browser is not None
    await browser.wait()
    return browser


async def test_clear_then_undo_shows_the_images_again_in_the_open_browser(
    client: FluxClient, tmp_path: Path
) -> None:
    fill(tmp_path, 5)
    studio = PromptStudio(client, history_dir=tmp_path)
    await studio.wait()
    browser = await _open_browser(studio)
    assert browser.total == 5
    studio.clear_history_button.click()
    studio.confirm_clear_button.click()
    await studio.wait()
    assert browser.total == 0 and browser.trash_count == 5
    assert browser.trash_view.toggle.description == "trash (5 images)"

    studio.undo_clear_button.click()
    await studio.wait()
    # Was "0 images" with 5 in the trash until a filter changed.
    assert browser.total == 5 and browser.trash_count == 0
    assert "5 images" in browser.status.value and len(browser.records) == 5
    assert not is_shown(browser.trash_view.toggle)
    assert "5 images in the history" in studio.history_label.value
    assert studio.message.value == "5 images back in the history"


async def test_a_delete_in_the_browser_leaves_the_gallery_and_a_restore_brings_it_back(
    studio: PromptStudio,
) -> None:
    studio.prompt = "a lantern"
    studio.num_outputs = 2
    made = await studio.generate()
    browser = await _open_browser(studio)
    newest = browser.records[0]
    browser.cards[0].delete_button.click()
    await browser.wait()
    await studio.wait()
    [left] = studio.images
    assert getattr(left, "stem", None) != newest.stem
    assert getattr(left, "stem", None) in {getattr(image, "stem", None) for image in made}
    assert studio.history_section.get_title(0) == "History (1 image)"

    browser.undo_button.click()
    await browser.wait()
    await studio.wait()
    assert len(studio.images) == 2
    assert studio.history_section.get_title(0) == "History (2 images)"

    tiles = list(studio.gallery.tiles)
    browser.cards[0].star.click()  # a star: nothing for the gallery to show again
    await browser.wait()
    await studio.wait()
    assert studio.gallery.tiles == tiles and browser.records[0].favourite


async def test_restoring_a_clear_from_the_trash_view_takes_the_clears_undo_away(
    client: FluxClient, tmp_path: Path
) -> None:
    fill(tmp_path, 3)
    studio = PromptStudio(client, history_dir=tmp_path)
    await studio.wait()
    browser = await _open_browser(studio)
    studio.clear_history_button.click()
    studio.confirm_clear_button.click()
    await studio.wait()
    assert is_shown(studio.undo_clear_button)
    [row] = [row for row in browser.trash_view.rows if row.batch is not None]
    assert row.batch is not None and row.batch.count == 3
    row.restore_button.click()
    await browser.wait()
    await studio.wait()
    assert not is_shown(studio.undo_clear_button) and studio.history_panel.last_clear is None
    assert len(studio.images) == 3 and browser.total == 3
    assert "3 images in the history" in studio.history_label.value

    studio.clear_history_button.click()
    studio.confirm_clear_button.click()
    await studio.wait()
    batch = studio.history_panel.last_clear
    assert batch is not None and studio.history is not None
    studio.history.undo(batch)  # another notebook on the folder was first
    assert await studio.history_panel.undo_clear() == 0
    assert studio.message.value.startswith("already back, or deleted for good, elsewhere")
    assert len(studio.images) == 3 and browser.total == 3


async def test_opening_the_section_again_shows_what_another_process_added(
    client: FluxClient, tmp_path: Path
) -> None:
    fill(tmp_path, 2)
    studio = PromptStudio(client, history_dir=tmp_path)
    await studio.wait()
    browser = await _open_browser(studio)
    History(tmp_path).add(make_image(9))  # another notebook on the same folder
    studio.history_section.selected_index = None
    studio.history_section.selected_index = 0
    await studio.wait()
    await browser.wait()
    assert browser.total == 3 and browser.records[0].seed == 1009


async def test_an_import_in_the_browser_shows_in_the_studios_count_and_gallery(
    client: FluxClient, tmp_path: Path
) -> None:
    fill(tmp_path / "history", 1)
    zip_path = fill(tmp_path / "elsewhere", 3).export_zip(tmp_path / "boats.zip").path
    studio = PromptStudio(client, history_dir=tmp_path / "history")
    await studio.wait()
    browser = await _open_browser(studio)
    browser.sharing.import_path.value = str(zip_path)
    await browser.sharing.import_()  # boat 0 is there already: 2 come in
    await browser.wait()
    await studio.wait()
    assert browser.total == 3
    assert "3 images in the history" in studio.history_label.value
    assert sorted(image.seed for image in studio.images) == [1000, 1001, 1002]
