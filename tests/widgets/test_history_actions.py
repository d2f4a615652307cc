"""The history browser's delete question and trash view: a delete of more than one image or of
a starred one asks, naming the count; every delete in the trash can be restored on its own;
every change is passed on (``on_change``) and a change made elsewhere shows on *refresh*."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import make_image

from flux_widgets.history.store import History
from flux_widgets.widgets._compat import is_shown
from flux_widgets.widgets.history_actions import delete_question, images
from flux_widgets.widgets.history_browser import HistoryBrowser


def fill(folder: Path, count: int) -> History:
    history = History(folder)
    for n in range(count):
        history.add(make_image(n))
    return history


async def opened(history: History, **kwargs: object) -> HistoryBrowser:
    browser = HistoryBrowser(history, page_size=4, **kwargs)  # type: ignore[arg-type]
    await browser.reload()
    await browser.wait()
    return browser


@pytest.mark.parametrize(
    ("count", "starred", "question"),
    [
        (1, 1, "Move this starred image to the trash?"),
        (3, 0, "Move 3 images to the trash?"),
        (3, 1, "Move 3 images to the trash, 1 of them starred?"),
        (2, 2, "Move 2 images to the trash, all starred?"),
        (1_234, 0, "Move 1,234 images to the trash?"),
    ],
)
def test_the_question_names_the_count_and_the_starred(
    count: int, starred: int, question: str
) -> None:
    assert delete_question(count, starred).startswith(question)
    assert (images(1), images(2)) == ("1 image", "2 images")


async def test_deleting_a_starred_image_asks_and_keep_keeps_it(tmp_path: Path) -> None:
    history = fill(tmp_path, 3)
    browser = await opened(history)
    browser.cards[0].star.click()
    await browser.wait()
    browser.cards[0].delete_button.click()
    await browser.wait()
    assert is_shown(browser.question) and len(history) == 3
    assert "this starred image" in browser.question.question.value
    assert browser.question.confirm_button.description == "move 1 image to the trash"
    browser.question.keep_button.click()
    assert not is_shown(browser.question) and len(history) == 3

    browser.cards[0].delete_button.click()
    await browser.wait()
    browser.question.confirm_button.click()
    await browser.wait()
    assert len(history) == 2 and browser.message.value == "moved 1 image to the trash"
    assert not is_shown(browser.question)

    browser.cards[1].delete_button.click()  # one unstarred image: at once, with undo
    await browser.wait()
    assert len(history) == 1 and not is_shown(browser.question)
    assert is_shown(browser.undo_button)


async def test_every_delete_is_restored_from_the_trash_view_on_its_own(tmp_path: Path) -> None:
    history = fill(tmp_path, 5)
    changes: list[None] = []
    browser = await opened(history, on_change=lambda: changes.append(None))
    view = browser.trash_view
    assert not is_shown(view.toggle)  # nothing in the trash
    browser.cards[0].delete_button.click()  # seed 1004, alone
    await browser.wait()
    browser.cards[0].select.value = browser.cards[1].select.value = True  # 1003, 1002
    browser.delete_button.click()
    await browser.wait()
    browser.question.confirm_button.click()
    await browser.wait()
    assert len(changes) == 2 and len(history) == 2
    assert view.toggle.description == "trash (3 images)" and browser.trash_count == 3
    view.toggle.value = True
    rows = [row for row in view.rows if is_shown(row)]
    assert [row.batch.count for row in rows if row.batch] == [2, 1]  # newest first
    assert "2 images" in rows[0].label.value and "1 image<" in rows[1].label.value

    rows[1].restore_button.click()  # the older delete, the newer one still in the trash
    await browser.wait()
    assert sorted(r.seed for r in history.page()) == [1000, 1001, 1004]
    assert browser.message.value == "1 image back from the trash"
    assert [row.batch.count for row in view.rows if row.batch] == [2]
    assert is_shown(browser.undo_button)  # the last delete (2 images) is still undoable
    browser.undo_button.click()
    await browser.wait()
    assert len(history) == 5 and history.trash_count() == 0 and len(changes) == 4
    assert not is_shown(browser.undo_button) and not is_shown(view.toggle)


async def test_undo_disappears_when_its_delete_was_restored_elsewhere(tmp_path: Path) -> None:
    history = fill(tmp_path, 3)
    browser = await opened(history)
    browser.cards[0].delete_button.click()
    await browser.wait()
    assert browser.last_batch is not None
    history.undo(browser.last_batch)  # another view, another notebook
    browser.refresh_button.click()
    await browser.wait()
    assert browser.last_batch is None and not is_shown(browser.undo_button)
    assert browser.total == 3 and browser.trash_count == 0

    browser.cards[0].delete_button.click()
    await browser.wait()
    batch = browser.last_batch
    assert batch is not None
    history.undo(batch)  # restored elsewhere before this view heard of it
    assert await browser.restore(batch) == 0
    assert browser.message.value.startswith("already back, or deleted for good, elsewhere")
    assert browser.total == 3 and not is_shown(browser.undo_button)


async def test_refresh_shows_what_another_process_added(tmp_path: Path) -> None:
    history = fill(tmp_path, 2)
    browser = await opened(history)
    History(tmp_path).add(make_image(7))  # another History on the same folder
    assert browser.total == 2
    browser.refresh_button.click()
    await browser.wait()
    assert browser.total == 3 and browser.records[0].seed == 1007
