"""The history's index: migration, damage, freshness, paging, several processes on one folder."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from factories import _T0, make_image

from flux_widgets.history.store import History, HistoryFilter


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()}


def test_an_old_folder_is_indexed_in_place_without_rewriting_a_file(tmp_path: Path) -> None:
    history = History(tmp_path)
    for n in range(5):
        history.add(make_image(n))
    history.index.close()
    shutil.rmtree(tmp_path / ".flux-index")  # the folder as an older flux-widgets left it
    before = _snapshot(tmp_path)

    migrated = History(tmp_path)
    assert len(migrated) == 5
    assert [record.seed for record in migrated.page()] == [1004, 1003, 1002, 1001, 1000]
    assert migrated.index.rebuilds == 1
    assert _snapshot(tmp_path) == before  # same bytes, same mtimes: nothing rewritten


@pytest.mark.parametrize("damage", ["deleted", "empty", "truncated", "garbage"])
def test_a_missing_or_damaged_index_is_rebuilt_from_the_files(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    history = History(tmp_path)
    for n in range(4):
        history.add(make_image(n))
    history.star(history.page()[0].stem)
    history.index.close()
    index = tmp_path / ".flux-index" / "index.sqlite3"
    if damage == "deleted":
        index.unlink()
    elif damage == "empty":
        index.write_bytes(b"")
    elif damage == "truncated":
        index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    else:
        index.write_bytes(os.urandom(index.stat().st_size))

    again = History(tmp_path)
    with caplog.at_level(logging.WARNING, logger="flux_widgets"):
        records = again.page()
        starred = again.count(HistoryFilter(favourite=True))
    assert [record.seed for record in records] == [1003, 1002, 1001, 1000]
    assert starred == 1  # the star lives in the record, so a rebuild keeps it
    assert again.count(HistoryFilter(text="boat 2")) == 1
    assert again.index.rebuilds == 1


def test_changes_made_behind_the_index_are_seen(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.add(make_image(0))
    assert len(history) == 1
    # Another tool (an older flux-widgets, a sync) adds an entry and removes one.
    other = tmp_path / "copy"
    History(other).add(make_image(7))
    for path in other.glob("2026*"):
        shutil.copy2(path, tmp_path / path.name)
    first = history.page()[-1]
    (tmp_path / f"{first.stem}.json").unlink()

    assert [record.seed for record in history.page()] == [1007]


def test_a_studio_adding_does_not_make_other_readers_rescan(tmp_path: Path) -> None:
    writer, reader = History(tmp_path), History(tmp_path)
    writer.add(make_image(0))
    assert len(reader) == 1
    scans = reader.index.scans
    for n in range(1, 4):
        writer.add(make_image(n))
    writer.delete(writer.page(0, 1)[0].stem)
    writer.star(writer.page(0, 1)[0].stem)
    assert len(reader) == 3
    assert reader.index.scans == scans, "our own changes keep the index in step"
    assert writer.index.rebuilds == 1


def test_counts_follow_every_change_even_within_one_clock_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux_widgets.history.index import HistoryIndex

    history = History(tmp_path)
    history.add(make_image(0))
    stem = history.page()[0].stem
    starred = HistoryFilter(favourite=True)
    # Changes faster than the folder's mtime moves (coarse clocks: FAT, some network shares).
    monkeypatch.setattr(HistoryIndex, "_folder_mtime", lambda self: "one tick")
    for _ in range(3):
        history.star(stem)
        assert history.count(starred) == 1
        history.star(stem, False)
        assert history.count(starred) == 0


def test_an_index_rebuilt_by_another_process_is_picked_up_without_a_scan(tmp_path: Path) -> None:
    reader, writer = History(tmp_path), History(tmp_path)
    writer.add(make_image(0))
    assert len(reader) == 1
    writer.reindex()  # the file is replaced: the reader's connection points at the old one
    writer.add(make_image(1))
    scans = reader.index.scans
    assert [record.seed for record in reader.page()] == [1001, 1000]
    assert reader.index.scans == scans, "the reader reopened the current index"


def test_pages_are_newest_first_and_cover_everything_once(tmp_path: Path) -> None:
    history = History(tmp_path)
    for n in range(7):
        history.add(make_image(n))
    pages = [history.page(offset, 3) for offset in (0, 3, 6, 9)]
    assert [[r.seed for r in page] for page in pages] == [
        [1006, 1005, 1004],
        [1003, 1002, 1001],
        [1000],
        [],
    ]
    record = pages[0][0]
    assert (record.prompt, record.format, record.width, record.height) == ("boat 6", "webp", 32, 16)
    assert record.created_at == _T0 + timedelta(seconds=6)
    assert record.params["prompt"] == "boat 6" and not record.favourite
    opened = history.open(record)
    assert opened.seed == 1006 and opened.data == (tmp_path / record.file).read_bytes()


# The entries table as schema version 4 made it (before each entry's recipe key).
_V4_ENTRIES = """CREATE TABLE entries(id INTEGER PRIMARY KEY, stem TEXT NOT NULL UNIQUE,
    file TEXT NOT NULL, format TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    prompt TEXT NOT NULL, aspect_ratio TEXT NOT NULL, seed INTEGER, created TEXT NOT NULL,
    favourite INTEGER NOT NULL DEFAULT 0, params TEXT NOT NULL, search TEXT NOT NULL)"""
_V4_COLUMNS = (
    "id, stem, file, format, width, height, prompt, aspect_ratio, seed, created, favourite, "
    "params, search"
)


def _as_older_version(index: Path, version: str) -> None:
    """Turn an index into one an older flux-widgets wrote: no recipe column, ``version``."""
    db = sqlite3.connect(index)
    with db:
        db.execute("DROP INDEX entries_recipe")
        db.execute("ALTER TABLE entries RENAME TO newer")
        db.execute(_V4_ENTRIES)
        db.execute(f"INSERT INTO entries SELECT {_V4_COLUMNS} FROM newer")
        db.execute("DROP TABLE newer")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (version,))
    db.close()


@pytest.mark.parametrize("version", ["4", "3"])
def test_an_index_of_an_older_version_opens_and_learns_the_recipe_keys(
    tmp_path: Path, version: str
) -> None:
    from flux_widgets.history.repeats import find_repeat

    history = History(tmp_path)
    made = [replace(make_image(n, seed=40 + n, go_fast=False), source="replicate") for n in (0, 2)]
    for image in made:
        history.add(image)
    stem = history.page()[0].stem
    history.cache_thumbnails({stem: b"thumb"})
    history.index.close()
    _as_older_version(tmp_path / ".flux-index" / "index.sqlite3", version)

    again = History(tmp_path)
    found = find_repeat(again, made[1].params, "replicate")
    assert found is not None and [image.seed for image in found] == [1002]
    assert again.index.rebuilds == 1
    assert len(again) == 2 and again.count(HistoryFilter(text="boat 2")) == 1
    # Version 4's thumbnail cache is this version's: kept (a big folder decodes none again).
    kept = again.cached_thumbnails([again.page()[0]])
    assert kept == ({stem: b"thumb"} if version == "4" else {})
