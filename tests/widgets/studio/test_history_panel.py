"""The studio's history panel: every image written to the history at once, a second studio on
the same folder, opening on a large folder reads one page, Clear history asks with the count and
the folder and can be undone, the History section browses everything. Fixtures: conftest.py."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from factories import _T0, make_image
from html_text import hover_text, visible_text

from flux_widgets.client import FluxClient
from flux_widgets.history.store import History
from flux_widgets.mock import MockConfig
from flux_widgets.widgets import PromptStudio
from flux_widgets.widgets.history_browser import HistoryBrowser

FAST = MockConfig(generation_time=0.05, sync_wait_cometapi=True)


def fill(folder: Path, count: int) -> History:
    history = History(folder)
    for n in range(count):
        history.add(dataclasses.replace(make_image(n), created_at=_T0 + timedelta(minutes=n)))
    return history


async def test_a_large_history_opens_on_its_newest_page_only(
    client: FluxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(tmp_path, 30)

    def refuse(self: History) -> list[object]:
        raise AssertionError("the studio must not read every image at start-up")

    monkeypatch.setattr(History, "load", refuse)
    studio = PromptStudio(client, history_dir=tmp_path)
    assert studio.images == []  # nothing read on the event loop while it is built
    await studio.wait()
    page = studio.gallery.page_size
    assert [image.seed for image in studio.images] == [1000 + n for n in range(30 - page, 30)]
    assert len(studio.gallery.tiles) == page
    assert "30 images in the history" in studio.history_label.value
    assert studio.history_section.get_title(0) == "History (30 images)"
    assert studio.summary().startswith(f"PromptStudio: {page} images")


async def test_a_folder_from_before_the_index_is_indexed_when_opened(
    client: FluxClient, tmp_path: Path
) -> None:
    fill(tmp_path, 3).index.close()
    for path in (tmp_path / ".flux-index").iterdir():
        path.unlink()
    studio = PromptStudio(client, history_dir=tmp_path)
    assert "indexing the history" in studio.history_label.value
    await studio.wait()
    assert [image.seed for image in studio.images] == [1000, 1001, 1002]
    assert "3 images in the history" in studio.history_label.value


async def test_clear_asks_with_the_count_and_folder_then_undo_brings_all_back(
    client: FluxClient, tmp_path: Path
) -> None:
    fill(tmp_path, 30)
    studio = PromptStudio(client, history_dir=tmp_path)
    await studio.wait()
    studio.clear_history_button.click()
    assert studio.confirm_clear_button.description == "delete 30 images"
    assert "Delete all 30 images in" in studio.history_label.value
    assert str(tmp_path.name) in studio.history_label.value
    studio.confirm_clear_button.click()
    await studio.wait()
    assert studio.history is not None and len(studio.history) == 0
    assert studio.images == [] and studio.history.trash_count() == 30
    assert studio.message.value == "moved 30 images to the history's trash"
    assert studio.undo_clear_button.layout.display != "none"

    studio.undo_clear_button.click()
    await studio.wait()
    assert len(studio.history) == 30 and studio.history.trash_count() == 0
    assert len(studio.images) == studio.gallery.page_size
    assert studio.undo_clear_button.layout.display == "none"
    assert "30 images in the history" in studio.history_label.value


def test_the_question_names_the_folder_from_home(
    client: FluxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / ".local" / "share" / "flux-widgets" / "history"
    fill(folder, 2)
    studio = PromptStudio(client, history_dir=folder)  # no loop: restored at once
    studio.clear_history_button.click()
    assert (
        "Delete all 2 images in <code>~/.local/share/flux-widgets/history</code>?"
        in studio.history_label.value
    )


async def test_the_history_section_builds_the_browser_when_opened_and_follows_generations(
    client: FluxClient, tmp_path: Path
) -> None:
    fill(tmp_path, 5)
    studio = PromptStudio(client, history_dir=tmp_path)
    studio.megapixels = "0.25"
    await studio.wait()
    assert studio.history_browser is None  # not built until someone looks
    studio.history_section.selected_index = 0
    await studio.wait()
    browser = studio.history_browser
    assert isinstance(browser, HistoryBrowser)
    assert studio.history_section.children == (browser,)
    assert [record.seed for record in browser.records][:2] == [1004, 1003]

    studio.prompt = "a lantern at night"
    [new] = await studio.generate()
    await studio.wait()
    assert browser.records[0].seed == new.seed and browser.total == 6
    assert studio.history_section.get_title(0) == "History (6 images)"

    browser.cards[1].reuse_button.click()  # an image from the history, back in the controls
    await studio.wait()
    assert studio.prompt == "boat 4" and studio.seed == 1004
    browser.cards[1].open_button.click()
    await studio.wait()
    assert studio.gallery.viewer.image is not None
    assert studio.gallery.viewer.image.seed == 1004


async def test_an_image_made_while_the_history_loads_stays_in_the_gallery(
    client: FluxClient, tmp_path: Path
) -> None:
    fill(tmp_path, 2)
    studio = PromptStudio(client, history_dir=tmp_path)
    studio.megapixels = "0.25"
    studio.prompt = "made at once"
    [new] = await studio.generate()
    await studio.wait()
    seeds = [image.seed for image in studio.images]
    assert seeds.count(new.seed) == 1 and seeds[-1] == new.seed
    assert set(seeds) >= {1000, 1001}


async def test_a_reopened_studio_decodes_no_image_for_its_thumbnails(
    client: FluxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux_widgets.history.store import StoredImage
    from flux_widgets.images import GeneratedImage

    studio = PromptStudio(client, history_dir=tmp_path)
    studio.megapixels = "0.25"
    studio.prompt = "a lantern"
    studio.num_outputs = 2
    images = await studio.generate()
    await studio.wait()
    # What generate returns is what the history stored (and the gallery shows).
    assert all(isinstance(image, StoredImage) for image in images)
    assert studio.images[-2:] == images
    assert all((tmp_path / f"{image.stem}.json").exists() for image in images)

    decoded: list[int | None] = []
    original = GeneratedImage.thumbnail

    def counting(self: GeneratedImage, *args: object) -> bytes:
        decoded.append(self.seed)
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(GeneratedImage, "thumbnail", counting)
    again = PromptStudio(client, history_dir=tmp_path)
    await again.wait()
    assert len(again.gallery.tiles) == 2 and all(t.thumbnail.value for t in again.gallery.tiles)
    assert decoded == [], "the thumbnails came from the history's cache"


async def test_closing_the_studio_stops_the_history_browser(
    client: FluxClient, tmp_path: Path
) -> None:
    fill(tmp_path, 3)
    studio = PromptStudio(client, history_dir=tmp_path)
    await studio.wait()
    studio.history_section.selected_index = 0
    browser = studio.history_browser
    assert browser is not None
    browser.search.value = "boat"  # a page load of the browser's own, pending with the first
    assert len(browser._tasks) == 1
    studio.close()
    await asyncio.sleep(0.2)  # time enough for both loads, had they not been cancelled
    assert browser.records == [] and browser.total == 0  # nothing was filled in
    assert browser.comm is None and len(browser._tasks) == 0


async def test_a_second_studio_on_the_same_folder_shows_earlier_images(
    studio: PromptStudio, client: FluxClient, tmp_path: Path
) -> None:
    studio.prompt = "a lantern"
    studio.num_outputs = 2
    images = await studio.generate()
    await studio.wait()  # its history writes run in the background: done before reopening

    again = PromptStudio(client, history_dir=tmp_path / "history")
    await again.wait()
    assert [image.seed for image in again.images] == [image.seed for image in images]
    assert len(again.gallery.tiles) == 2
    assert all(tile.thumbnail.value for tile in again.gallery.tiles)

    again.prompt = "a second lantern"
    [new] = await again.generate()
    assert again.images[-1] is new and len(again.images) == 3


async def test_clear_history_asks_first_then_deletes(studio: PromptStudio) -> None:
    studio.prompt = "a lantern"
    await studio.generate()
    studio.clear_history_button.click()
    assert studio.confirm_clear_button.layout.display != "none"
    assert studio.confirm_clear_button.description == "delete 1 image"
    studio.keep_history_button.click()
    assert studio.history is not None and len(studio.history) == 1

    studio.clear_history_button.click()
    studio.confirm_clear_button.click()
    await studio.wait()  # the files move to the trash in a worker thread
    assert len(studio.history) == 0
    assert studio.images == [] and studio.gallery.tiles == []


async def test_history_counts_follow_a_delete_and_its_undo_in_the_browser(
    studio: PromptStudio,
) -> None:
    studio.prompt = "a lantern"
    studio.num_outputs = 3
    await studio.generate()
    assert studio.history_section.get_title(0) == "History (3 images)"
    studio.history_section.selected_index = 0  # opens the browser
    await studio.wait()
    browser = studio.history_browser
    assert browser is not None
    await browser.wait()
    browser.cards[0].delete_button.click()
    await browser.wait()
    assert studio.history_section.get_title(0) == "History (2 images)"
    assert "2 images in the history" in studio.history_label.value
    assert "2 images" in browser.status.value
    browser.undo_button.click()
    await browser.wait()
    assert studio.history_section.get_title(0) == "History (3 images)"
    assert "3 images in the history" in studio.history_label.value


async def test_history_off_writes_nothing(client: FluxClient, tmp_path: Path) -> None:
    studio = PromptStudio(client, history=False)
    studio.megapixels = "0.25"
    studio.prompt = "a lantern"
    await studio.generate()
    assert studio.history is None
    assert len(studio.images) == 1


async def test_a_studio_reopened_on_a_history_has_its_picture_once_the_records_are_read(
    studio: PromptStudio, client: FluxClient, tmp_path: Path
) -> None:
    studio.prompt = "a lantern"
    studio.num_outputs = 2
    images = await studio.generate()
    await studio.wait()  # its history writes run in the background: done before reopening

    again = PromptStudio(client, history_dir=tmp_path / "history")
    # The history is read off the event loop (a studio on 100,000 images opens at once); once
    # it is, the static picture shows the same sheet as the studio that made the images.
    await again.wait()
    picture = again._picture.bundle()
    assert picture["text/plain"] == "PromptStudio: 2 images (mock API)"
    assert picture["image/png"] == studio.contact_sheet()
    assert [image.seed for image in again.images] == [image.seed for image in images]


async def test_a_history_folder_that_cannot_be_made_is_said_in_words_and_the_image_stays(
    client: FluxClient, tmp_path: Path
) -> None:
    blocker = tmp_path / "history"
    blocker.write_text("a file where the folder should be")
    studio = PromptStudio(client, history_dir=blocker)
    studio.megapixels = "0.25"
    studio.prompt = "a lantern"
    [image] = await studio.generate()
    assert studio.images == [image]  # paid for: in the gallery even though not stored
    shown = visible_text(studio.message.value)
    assert shown == (
        f"not saved to the history: {blocker} is a file, not a folder; choose another folder, "
        "or move the file away"
    )
    assert "FileExistsError" in hover_text(studio.message.value)[0]  # for a bug report


async def test_a_studio_opened_on_a_folder_with_open_jobs_recovers_them_and_says_so(
    tmp_path: Path,
) -> None:
    # A kernel before this one got a job's images but died before storing them.
    # Both on the process's shared mock: the same server, as after a restart.
    async with FluxClient.mock(journal=History(tmp_path).jobs, history=False) as earlier:
        await earlier.generate("a recovered comet", seed=5)
    client = FluxClient.mock()
    studio = PromptStudio(client, history_dir=tmp_path)
    # The client is left as it was: the studio's own calls journal in its history (history=).
    assert client.journal is None
    await studio.wait()
    assert "recovered 1 image from 1 job" in studio.message.value
    assert [image.params.prompt for image in studio.images] == ["a recovered comet"]
    assert studio.history is not None and list(studio.history.jobs.folder.glob("*.json")) == []
    await client.aclose()


def _spy_journal(history: History, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    opened: list[str] = []
    write = history.jobs.opened

    def spy(provider: str, job_id: str, params: object) -> None:
        opened.append(job_id)
        write(provider, job_id, params)  # type: ignore[arg-type]

    monkeypatch.setattr(history.jobs, "opened", spy)
    return opened


async def test_the_studios_images_are_kept_once_in_its_history_by_its_client(
    client: FluxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client keeps in the default folder; the studio's calls name the studio's own.
    monkeypatch.setenv("FLUX_WIDGETS_HISTORY_DIR", str(tmp_path / "default"))
    studio = PromptStudio(client, history_dir=tmp_path / "studio")
    await studio.wait()
    assert studio.history is not None
    opened = _spy_journal(studio.history, monkeypatch)
    one = await studio.generate(prompt="a kept kite", megapixels="0.25")
    batch = await studio.generate(prompt="a {red|blue} kept kite", megapixels="0.25")
    await studio.wait()
    made = [*one, *batch]
    stored = History(tmp_path / "studio").load()
    assert sorted((i.prediction_id, i.index) for i in stored) == sorted(
        (i.prediction_id, i.index) for i in made
    )  # each once: the client stored it, the panel only showed it
    assert sorted(i.params.prompt for i in stored) == [
        "a blue kept kite",
        "a kept kite",
        "a red kept kite",
    ]
    assert sorted(opened) == sorted(str(i.prediction_id) for i in made)
    assert list(studio.history.jobs.folder.glob("*.json")) == []
    assert len(History(tmp_path / "default")) == 0
    assert "3 images in the history" in studio.history_label.value


async def test_a_studio_without_history_keeps_nothing_whatever_its_clients_setting(
    client: FluxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_WIDGETS_HISTORY_DIR", str(tmp_path))
    studio = PromptStudio(client, history=False)
    await studio.generate(prompt="an unkept kite", megapixels="0.25")
    await studio.generate(prompt="an unkept {red|blue} kite", megapixels="0.25")
    await studio.wait()
    assert len(studio.images) == 3
    assert len(History(tmp_path)) == 0 and not (tmp_path / ".jobs").exists()


async def test_clear_moves_what_the_question_named_and_says_so_with_the_stars(
    client: FluxClient, tmp_path: Path
) -> None:
    history = fill(tmp_path, 10)
    for stem in history.index.stems()[:2]:
        history.star(stem)
    studio = PromptStudio(client, history_dir=tmp_path)
    await studio.wait()
    studio.clear_history_button.click()
    assert studio.confirm_clear_button.description == "delete 10 images"
    assert "Delete all 10 images, 2 of them starred, in" in studio.history_label.value
    # A job finishes (here, or in another kernel) while the question is open.
    late = history.add(dataclasses.replace(make_image(99), created_at=_T0 + timedelta(days=1)))
    studio.confirm_clear_button.click()
    await studio.wait()
    assert studio.message.value == (
        "moved 10 images to the history's trash; 1 image made since the question stayed"
    )
    assert studio.history is not None and studio.history.trash_count() == 10
    assert studio.history.index.stems() == [late.stem]
    assert [image.seed for image in studio.images] == [1099]
    assert "1 image in the history" in studio.history_label.value

    studio.undo_clear_button.click()
    await studio.wait()
    assert len(studio.history) == 11 and len(studio.images) == 11


async def test_undo_of_a_clear_shows_as_many_images_as_before_it(
    client: FluxClient, tmp_path: Path
) -> None:
    fill(tmp_path, 30)
    studio = PromptStudio(client, history_dir=tmp_path)
    await studio.wait()
    page = studio.gallery.page_size
    made = [
        dataclasses.replace(make_image(n), created_at=_T0 + timedelta(hours=1, minutes=n))
        for n in range(30, 60)
    ]
    await studio.history_panel.keep(made)  # this session's images: 30 more in the gallery
    await studio.wait()
    assert len(studio.images) == page + 30
    before = studio.gallery.more_button.description
    assert before == f"show older ({30})"
    studio.clear_history_button.click()
    studio.confirm_clear_button.click()
    await studio.wait()
    assert studio.images == []

    studio.undo_clear_button.click()
    await studio.wait()
    assert len(studio.images) == page + 30
    assert studio.gallery.more_button.description == before
