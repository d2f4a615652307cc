"""The history's trash: every delete a batch, listed with its time and size, each undoable."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from factories import make_image

from flux_widgets.history.store import History, TrashBatch


def test_every_delete_is_listed_newest_first_and_each_is_undone_on_its_own(
    tmp_path: Path,
) -> None:
    history = History(tmp_path)
    for n in range(5):
        history.add(make_image(n))
    stems = [record.stem for record in history.page()]  # newest first: seeds 1004 .. 1000
    first = history.delete(stems[:1])
    second = history.delete(stems[1:4])
    listed = history.trash_list()
    assert [(batch.name, batch.count) for batch in listed] == [(second, 3), (first, 1)]
    assert all(isinstance(batch, TrashBatch) for batch in listed)
    now = datetime.now(timezone.utc)
    assert all(now - timedelta(minutes=1) < batch.deleted_at <= now for batch in listed)
    assert history.trash_count() == 4

    assert history.undo(first) == 1  # the older one, with a newer one still in the trash
    assert [record.seed for record in history.page()] == [1004, 1000]
    assert [batch.name for batch in history.trash_list()] == [second]
    with pytest.raises(ValueError, match="put back or emptied already"):
        history.undo(first)
    assert history.undo(second) == 3 and len(history) == 5
    assert history.trash_list() == [] and history.trash_count() == 0


def test_an_empty_folder_has_an_empty_trash(tmp_path: Path) -> None:
    history = History(tmp_path / "never-made")
    assert history.trash_list() == [] and history.trash_count() == 0
    assert history.empty_trash() == 0 and history.undo() == 0
