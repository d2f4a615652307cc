"""HistoryBrowser: pages, search, filters, stars, trash with undo, open and reuse, without a
front end (ipywidgets' comm-less mode: button.click() runs the callbacks)."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from factories import _T0, make_image
from ipywidgets.widgets import widget as widget_module
from PIL import Image

from flux_widgets.history.store import History
from flux_widgets.images import GeneratedImage
from flux_widgets.widgets.history_browser import HistoryBrowser


def fill(folder: Path, count: int) -> History:
    history = History(folder)
    for n in range(count):
        ratio = "16:9" if n % 3 == 0 else "1:1"
        image = dataclasses.replace(
            make_image(n, aspect_ratio=ratio), created_at=_T0 + timedelta(minutes=n)
        )
        history.add(image)
    return history


async def opened(history: History, **kwargs: object) -> HistoryBrowser:
    browser = HistoryBrowser(history, page_size=4, **kwargs)  # type: ignore[arg-type]
    await browser.reload()
    await browser.wait()
    return browser


def _live_widgets() -> int:
    # ipywidgets 8 keeps live widgets in a module dict (Widget.widgets warns); 7 on the class.
    instances = getattr(widget_module, "_instances", None)
    return len(instances if instances is not None else widget_module.Widget.widgets)


def seeds(browser: HistoryBrowser) -> list[int | None]:
    return [record.seed for record in browser.records]


async def test_pages_newest_first_with_paging_buttons(tmp_path: Path) -> None:
    browser = await opened(fill(tmp_path, 10))
    assert seeds(browser) == [1009, 1008, 1007, 1006]
    assert browser.page_label.value == "page 1 of 3"
    assert browser.newer_button.disabled and not browser.older_button.disabled
    assert "10 images" in browser.status.value

    browser.older_button.click()
    await browser.wait()
    assert seeds(browser) == [1005, 1004, 1003, 1002]
    browser.oldest_button.click()
    await browser.wait()
    assert seeds(browser) == [1001, 1000] and browser.page_label.value == "page 3 of 3"
    assert browser.older_button.disabled
    # The cards of a short page are hidden, not removed: paging creates no widgets.
    assert [card.layout.display for card in browser.cards] == [None, None, "none", "none"]
    models = _live_widgets()
    for _ in range(3):
        browser.newest_button.click()
        await browser.wait()
        browser.oldest_button.click()
        await browser.wait()
    assert _live_widgets() == models


async def test_thumbnails_are_small_and_never_the_full_image(tmp_path: Path) -> None:
    history = fill(tmp_path, 2)
    browser = await opened(history, thumbnail_size=16)
    for card in browser.cards[:2]:
        assert card.record is not None
        data = bytes(card.thumbnail.value)
        assert Image.open(io.BytesIO(data)).size == (16, 8)
        assert data != (tmp_path / card.record.file).read_bytes()
    # Cached: a second browser gets them in the page's query, before any thumbnail is made.
    cached = history.cached_thumbnails(browser.records, 16)
    assert set(cached) == {record.stem for record in browser.records}


async def test_search_and_filters_narrow_the_pages(tmp_path: Path) -> None:
    browser = await opened(fill(tmp_path, 10))
    browser.search.value = "boat 7"
    await browser.wait()
    assert seeds(browser) == [1007] and "1 image matches ·" in browser.status.value

    browser.search.value = ""
    browser.aspect_ratio.value = "16:9"
    await browser.wait()
    assert seeds(browser) == [1009, 1006, 1003, 1000]
    assert "4 images match ·" in browser.status.value

    browser.aspect_ratio.value = "any aspect ratio"
    browser.since.value = (_T0 + timedelta(minutes=8)).astimezone().date()
    await browser.wait()
    assert browser.total == 10  # every entry was made on that day
    browser.since.value = (_T0 + timedelta(days=1)).astimezone().date()
    await browser.wait()
    assert browser.total == 0 and seeds(browser) == []
    assert browser.page_label.value == "page 1 of 1"


async def test_star_is_written_to_the_record_and_filters(tmp_path: Path) -> None:
    history = fill(tmp_path, 5)
    browser = await opened(history)
    card = browser.cards[1]
    assert card.record is not None and card.star.icon == "star-o"
    card.star.click()
    await browser.wait()
    assert card.star.icon == "star" and card.record.favourite
    assert card.star.description == "starred"
    record = json.loads((tmp_path / f"{card.record.stem}.json").read_text())
    assert record["favourite"] is True
    card.star.click()  # and off again
    await browser.wait()
    assert card.star.icon == "star-o"
    assert json.loads((tmp_path / f"{card.record.stem}.json").read_text())["favourite"] is False
    card.star.click()
    await browser.wait()

    browser.favourites.value = True
    await browser.wait()
    assert seeds(browser) == [1003]
    browser.cards[0].star.click()  # unstarred: it leaves the starred-only view
    await browser.wait()
    assert seeds(browser) == [] and browser.total == 0


async def test_delete_one_or_a_selection_then_undo(tmp_path: Path) -> None:
    history = fill(tmp_path, 6)
    browser = await opened(history)
    assert browser.delete_button.disabled
    browser.cards[0].select.value = True
    browser.cards[2].select.value = True
    assert browser.delete_button.description == "delete selected (2)"
    browser.delete_button.click()
    await browser.wait()
    # Two images: asked first (test_history_actions.py has the questions), nothing moved yet.
    assert len(history) == 6 and browser.question.layout.display != "none"
    browser.question.confirm_button.click()
    await browser.wait()
    assert len(history) == 4 and history.trash_count() == 2
    assert seeds(browser) == [1004, 1002, 1001, 1000]
    assert browser.message.value == "moved 2 images to the trash"
    assert browser.undo_button.layout.display != "none"

    browser.undo_button.click()
    await browser.wait()
    assert len(history) == 6 and seeds(browser) == [1005, 1004, 1003, 1002]
    assert browser.undo_button.layout.display == "none"

    browser.cards[1].delete_button.click()
    await browser.wait()
    assert seeds(browser) == [1005, 1003, 1002, 1001] and len(history) == 5

    browser.select_page_button.click()
    assert browser.selected == {record.stem for record in browser.records}
    assert all(card.select.value for card in browser.cards)
    browser.select_page_button.click()
    assert browser.selected == set()


async def test_open_and_reuse_read_the_image_only_then(tmp_path: Path) -> None:
    history = fill(tmp_path, 3)
    opened_images: list[GeneratedImage] = []
    reused: list[GeneratedImage] = []
    browser = await opened(history, on_open=opened_images.append, on_reuse=reused.append)
    assert all(isinstance(record.params, dict) for record in browser.records)
    browser.cards[1].open_button.click()
    browser.cards[2].reuse_button.click()
    await browser.wait()
    assert [image.seed for image in opened_images] == [1001]
    assert opened_images[0].data == (tmp_path / browser.records[1].file).read_bytes()
    assert [image.recipe.prompt for image in reused] == ["boat 0"]
    assert "seed 1000" in browser.message.value


async def test_without_a_viewer_the_browser_shows_the_image_itself(tmp_path: Path) -> None:
    browser = await opened(fill(tmp_path, 1))
    browser.cards[0].open_button.click()
    await browser.wait()
    assert browser.preview_box.layout.display != "none"
    assert bytes(browser.preview.value) == (tmp_path / browser.records[0].file).read_bytes()
    browser.preview_close.click()
    assert browser.preview.value == b"" and browser.preview_box.layout.display == "none"


def test_page_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="page_size"):
        HistoryBrowser(History(tmp_path), page_size=0)


async def test_the_trash_is_emptied_only_when_confirmed(tmp_path: Path) -> None:
    history = fill(tmp_path, 3)
    browser = await opened(history)
    assert browser.empty_trash_button.layout.display == "none"  # nothing in the trash
    browser.cards[0].delete_button.click()
    await browser.wait()
    assert browser.empty_trash_button.description == "empty trash (1)"
    assert browser.empty_trash_button.layout.display != "none"
    browser.empty_trash_button.click()
    assert browser.confirm_empty_button.description == "delete 1 image for good"
    browser.keep_trash_button.click()
    assert history.trash_count() == 1 and browser.confirm_empty_button.layout.display == "none"

    browser.empty_trash_button.click()
    browser.confirm_empty_button.click()
    await browser.wait()
    assert history.trash_count() == 0 and list((tmp_path / ".trash").glob("*/*")) == []
    assert browser.message.value == "1 image deleted for good"
    assert browser.undo_button.layout.display == "none" and len(history) == 2
    assert browser.empty_trash_button.layout.display == "none"


async def test_repr_is_small_even_with_an_image_open(tmp_path: Path) -> None:
    browser = await opened(fill(tmp_path, 5))
    browser.cards[0].open_button.click()
    await browser.wait()
    assert repr(browser) == f"HistoryBrowser({str(tmp_path)!r}: 5 images, page 1 of 2)"


def test_card_buttons_carry_a_word_and_reuse_does_not_look_like_undo() -> None:
    from flux_widgets.widgets.history_browser import HistoryCard

    card = HistoryCard(160)
    words = [b.description for b in (card.star, card.open_button, card.reuse_button)]
    assert [*words, card.delete_button.description] == ["star", "open", "reuse", "delete"]
    assert card.reuse_button.icon not in ("undo", "recycle")  # undo's and empty trash's icons


def test_filters_and_card_buttons_sit_on_rows_that_do_not_wrap(tmp_path: Path) -> None:
    from flux_widgets.widgets.history_browser import HistoryCard

    browser = HistoryBrowser(History(tmp_path))
    filters = browser.children[0]
    # What to look for, then when: each a row of its own that never wraps (at 850 px the
    # one wrapping row dropped the dates to a line of their own, "from" indented 80 px).
    look, when = filters.children
    assert look.children == (browser.search, browser.favourites, browser.aspect_ratio)
    assert when.children == (browser.since, browser.until)
    assert look.layout.flex_flow == when.layout.flex_flow == "row nowrap"
    assert browser.search.layout.min_width == "100px"  # the one that gives way
    for picker in (browser.since, browser.until):
        assert picker.style.description_width == "initial"  # "from", not an 80 px label
    card = HistoryCard(160)
    marking, acting = card.children[2:]
    assert marking.children == (card.select, card.star)
    assert acting.children == (card.open_button, card.reuse_button, card.delete_button)
    assert marking.layout.flex_flow == acting.layout.flex_flow == "row nowrap"
    assert card.select.description == "select"
    browser.close()
