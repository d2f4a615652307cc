"""One history folder, several processes: real processes adding at once lose nothing, and a
lock, a constraint or another process's rebuild is never taken for a damaged index."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from factories import make_image

from flux_widgets.history.sharing import is_damage
from flux_widgets.history.store import History

_TESTS = str(Path(__file__).resolve().parents[1])
# Each process adds images made at the same instants as the other's (their row ids compete
# for the same slots), under its own prediction id (its own file names); "a" also rebuilds
# the index halfway. Both start together, and report what they see once both are done.
_ADDER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[4])
    from factories import make_image
    from flux_widgets.history.store import History

    folder, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    history = History(folder)
    (folder.parent / f"ready-{name}").touch()
    while not (folder.parent / "go").exists():
        time.sleep(0.001)
    began = time.time()
    try:
        for n in range(count):
            history.add(make_image(n, prediction_id=name))
            if name == "a" and n == count // 2:
                history.reindex()
    finally:  # a failing process must not keep the other waiting
        ended = time.time()
        (folder.parent / f"done-{name}").touch()
    deadline = time.monotonic() + 30
    while not all((folder.parent / f"done-{p}").exists() for p in "ab"):
        assert time.monotonic() < deadline, "the other process never finished"
        time.sleep(0.01)
    stems = [record.stem for record in history.page(0, 10 * count)]
    print(json.dumps({"count": len(history), "stems": stems, "span": [began, ended]}))
    """
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUX_", "COMETAPI"))}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return env


@pytest.mark.slow
def test_two_processes_adding_to_one_folder_at_once_lose_nothing(tmp_path: Path) -> None:
    folder, count = tmp_path / "history", 200
    folder.mkdir()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _ADDER, str(folder), name, str(count), _TESTS],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for name in "ab"
    ]
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready-{name}").exists() for name in "ab"):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children)
        time.sleep(0.01)
    (tmp_path / "go").touch()  # both interpreters up, their History open: start together
    outputs = [child.communicate(timeout=60) for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert "damaged" not in err and "rebuilding" not in err, err

    records = {path.stem for path in folder.glob("*.json")}
    assert len(records) == 2 * count, "every image added has its record"
    seen = [json.loads(out) for out, _ in outputs]
    for view in seen:
        assert view["count"] == 2 * count
        assert sorted(view["stems"]) == sorted(records), "each process sees every entry"
    (a_began, a_ended), (b_began, b_ended) = (view["span"] for view in seen)
    assert a_began < b_ended and b_began < a_ended, "the two really wrote at the same time"
    loaded = History(folder).load()
    assert sorted((image.prediction_id, image.seed) for image in loaded) == sorted(
        (name, 1000 + n) for name in "ab" for n in range(count)
    )
    assert (folder / ".flux-index" / "index.sqlite3").is_file()


_LOCKER = textwrap.dedent(
    """
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute("UPDATE meta SET value = value WHERE key = 'schema'")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    db.execute("COMMIT")
    """
)


@pytest.mark.slow
def test_another_process_holding_the_write_lock_makes_an_add_wait_not_rebuild(
    tmp_path: Path,
) -> None:
    history = History(tmp_path)
    history.add(make_image(0))
    index = tmp_path / ".flux-index" / "index.sqlite3"
    inode = index.stat().st_ino
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(index), "1.0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        began = time.perf_counter()
        history.add(make_image(1))
        waited = time.perf_counter() - began
    finally:
        locker.communicate(timeout=10)
    assert waited > 0.5, "the add waited for the other process's transaction"
    assert [record.seed for record in history.page()] == [1001, 1000]
    assert history.index.rebuilds == 1 and index.stat().st_ino == inode


def _locked_error(path: Path) -> sqlite3.OperationalError:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        return error
    finally:
        other.close()
        holder.close()
    raise AssertionError("the second writer was not refused")


def _constraint_error() -> sqlite3.IntegrityError:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1)")
    try:
        db.execute("INSERT INTO t VALUES (1)")
    except sqlite3.IntegrityError as error:
        return error
    raise AssertionError("the duplicate id was accepted")


def _not_a_database(path: Path) -> sqlite3.DatabaseError:
    path.write_bytes(b"not an index" * 400)
    try:
        sqlite3.connect(path).execute("SELECT * FROM sqlite_master")
    except sqlite3.DatabaseError as error:
        return error
    raise AssertionError("garbage was read as a database")


def test_only_sqlites_damage_verdicts_count_as_damage(tmp_path: Path) -> None:
    locked = _locked_error(tmp_path / "locked.sqlite3")
    assert "locked" in str(locked)
    assert not is_damage(locked)
    assert not is_damage(_constraint_error())
    assert not is_damage(sqlite3.OperationalError("no such table: entries"))
    assert is_damage(_not_a_database(tmp_path / "garbage.sqlite3"))


def test_opening_an_index_another_process_is_switching_to_wal_waits_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two processes opening a new index at once: the one that loses the race for WAL gets
    # "database is locked" at once from SQLite (no busy wait), seen in CI as a lost image.
    from flux_widgets.history import sharing

    real_connect = sqlite3.connect

    class LosesTheRaceTwice:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db, self.refusals = db, 2

        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            if sql.startswith("PRAGMA journal_mode=WAL") and self.refusals:
                self.refusals -= 1
                raise sqlite3.OperationalError("database is locked")
            return self.db.execute(sql, *args)

        def close(self) -> None:
            self.db.close()

    monkeypatch.setattr(
        sharing.sqlite3, "connect", lambda *a, **k: LosesTheRaceTwice(real_connect(*a, **k))
    )
    db = sharing.connect_shared(tmp_path / "index.sqlite3")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.refusals == 0  # type: ignore[attr-defined]
    finally:
        db.close()


def test_a_lock_is_busy_not_damage() -> None:
    from flux_widgets.history.sharing import is_busy, is_damage

    locked = sqlite3.OperationalError("database is locked")
    assert is_busy(locked) and not is_damage(locked)
    assert not is_busy(sqlite3.OperationalError("no such table: entries"))
