"""The history's index: one SQLite file that answers "which entries, newest first" without
reading the entries, so a folder of 100,000 images opens, pages and searches in milliseconds.

The files stay the source of truth (an image and its JSON record per entry, see store.py);
the index is derived from them and can always be thrown away: it is rebuilt from the records
when it is missing, damaged or of another schema version, and brought up to date when the
folder changed behind its back (an older flux-widgets, a copy, a sync tool). It lives in a
subfolder (``.flux-index/``), so its journal files never touch the history folder's mtime,
which is how a change made by someone else is noticed: the index remembers the folder's
mtime after its own last change, and a different one means "scan the folder again".

Several processes share one folder (two notebooks, a notebook and ``%%flux`` in another), with
SQLite's own tools (sharing.py: WAL, a busy timeout, ``BEGIN IMMEDIATE`` transactions); the
transaction of ``changing_folder`` spans the files' change too, so two processes never pick the
same name or row id. A rebuild happens inside the file, in one transaction: the file is
deleted only when SQLite says it is not a database or is damaged (never for a lock, a
constraint, or an I/O error).

Prompts are searched as search.py says (FTS5's trigram tokenizer where the sqlite3 module has
it, else ``instr`` over a narrow index: the same answers). Thumbnails are cached here too, so a
page of them is one query, not one decode per image. Each entry of a deterministic recipe has
its recipe key (records.py ``recipe_key``), so an exact repeat is found in one query
(``with_recipes``; repeats.py serves it). The tables themselves are in tables.py.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from .records import (
    ID_SLOTS,
    HistoryFilter,
    HistoryRecord,
    record_of,
    row_from_record,
    time_id,
)
from .search import FilterSQL, filter_sql, searchable
from .sharing import connect_shared, is_damage, is_moved, transaction
from .tables import COLUMNS, ENTRIES, FTS, META, SAME_THUMBNAILS, SCHEMA_VERSION, THUMBNAILS

logger = logging.getLogger("flux_widgets")

INDEX_FOLDER = ".flux-index"
INDEX_NAME = "index.sqlite3"
# What every entry's file name starts with (a fixed-width UTC timestamp: name order is time order).
ENTRY_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-.+\.(json|webp|jpg|png)$")
_T = TypeVar("_T")
_SELECT = ", ".join(f"entries.{name}" for name in COLUMNS.split(", "))
_FTS_JOIN = "prompts JOIN entries ON entries.id = prompts.rowid"


def fts5_available() -> bool:
    """Whether this Python's sqlite3 has FTS5 with its trigram tokenizer (SQLite 3.34+: most
    builds; without it, the history searches with ``instr``, see search.py)."""
    try:
        sqlite3.connect(":memory:").execute(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram')"
        )
    except sqlite3.OperationalError:
        return False
    return True


class HistoryIndex:
    """The SQLite index of one history folder; thread-safe (one connection behind a lock).

    Every method may rebuild the index first (missing, damaged, stale): the first call on a
    folder that was never indexed reads every JSON record once (~50 µs each). Other processes
    may use the same folder and index at the same time (WAL; writers wait up to 30 s).
    """

    def __init__(self, directory: Path, *, use_fts: bool | None = None) -> None:
        self.directory = directory
        self.path = directory / INDEX_FOLDER / INDEX_NAME
        self.use_fts = fts5_available() if use_fts is None else use_fts
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._changing = False
        self._counts: dict[HistoryFilter, tuple[str | None, int]] = {}  # filter: (changes, n)
        self._inode = 0  # the index file the connection has open
        self.rebuilds = 0  # how many times the index was (re)built here: tests and benchmarks
        self.scans = 0  # how many times the folder was scanned for changes (rebuilds included)

    # -- queries ----------------------------------------------------------------------------

    def count(self, where: HistoryFilter | None = None) -> int:
        """How many entries match; cached until the folder changes (paging asks every time)."""
        where = where or HistoryFilter()
        sql = filter_sql(where, self.use_fts)
        if sql.match_only:
            query = "SELECT count(*) FROM prompts WHERE prompts MATCH ?"
        elif sql.source == "fts":
            query = f"SELECT count(*) FROM {_FTS_JOIN}{sql.where()}"
        else:
            query = f"SELECT count(*) FROM {_scanned(sql)}{sql.where()}"

        def run(db: sqlite3.Connection) -> int:
            version = self._meta(db, "changes")
            cached = self._counts.get(where)
            if cached is not None and cached[0] == version:
                return cached[1]
            count = int(db.execute(query, sql.args).fetchone()[0])
            self._counts[where] = (version, count)
            return count

        return self._guarded(run)

    def page(self, where: HistoryFilter | None, offset: int, limit: int) -> list[HistoryRecord]:
        """Up to ``limit`` records matching ``where``, newest first, after ``offset``."""
        sql = filter_sql(where or HistoryFilter(), self.use_fts)
        bounds = [limit, max(0, offset)]
        # The ids of the page first, from a narrow index (or FTS5's rowid order), then only
        # the page's rows: an offset of 100,000 skips index entries, not rows.
        if sql.match_only:
            ids = "SELECT rowid FROM prompts WHERE prompts MATCH ? ORDER BY rowid DESC"
        elif sql.source == "fts":
            ids = f"SELECT prompts.rowid FROM {_FTS_JOIN}{sql.where()} ORDER BY prompts.rowid DESC"
        else:
            ids = f"SELECT id FROM {_scanned(sql)}{sql.where()} ORDER BY id DESC"
        query = (
            f"SELECT {_SELECT} FROM entries WHERE id IN ({ids} LIMIT ? OFFSET ?) ORDER BY id DESC"
        )
        rows = self._read_all(lambda db: db.execute(query, [*sql.args, *bounds]))
        return [record_of(row) for row in rows]

    def get(self, stem: str) -> HistoryRecord | None:
        query = f"SELECT {_SELECT} FROM entries WHERE stem = ?"
        rows = self._read_all(lambda db: db.execute(query, (stem,)))
        return record_of(rows[0]) if rows else None

    def with_recipes(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """The stems of the entries made from each of ``keys`` (records.py ``recipe_key``),
        newest first; a key no entry has is left out."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[str]] = {}
        for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT recipe, stem FROM entries WHERE recipe IN ({marks}) ORDER BY id DESC"

            def select(db: sqlite3.Connection, q: str = query, c: list[str] = chunk) -> Any:
                return db.execute(q, c)

            for key, stem in self._read_all(select):
                found.setdefault(key, []).append(stem)
        return found

    def stems(self) -> list[str]:
        """Every indexed stem, oldest first."""
        rows = self._read_all(lambda db: db.execute("SELECT stem FROM entries ORDER BY id"))
        return [row[0] for row in rows]

    def files(self, stems: Iterable[str]) -> dict[str, str]:
        """The image file name of each indexed stem among ``stems``."""
        wanted = list(stems)
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
            chunk = wanted[start : start + 500]
            query = f"SELECT stem, file FROM entries WHERE stem IN ({','.join('?' * len(chunk))})"

            def select(db: sqlite3.Connection, q: str = query, c: list[str] = chunk) -> Any:
                return db.execute(q, c)

            found.update(self._read_all(select))
        return found

    def thumbnails(self, stems: Iterable[str], size: int) -> dict[str, bytes]:
        """The cached thumbnails among ``stems`` (one query for a page)."""
        wanted = list(stems)
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        query = f"SELECT stem, data FROM thumbnails WHERE size = ? AND stem IN ({marks})"
        rows = self._read_all(lambda db: db.execute(query, [size, *wanted]))
        return {stem: bytes(data) for stem, data in rows}

    # -- changes ----------------------------------------------------------------------------

    @contextmanager
    def changing_folder(self) -> Iterator[None]:
        """Hold the index while this process changes the folder's files: one write transaction
        from before to after, so other processes' changes wait (no two pick the same file name
        or row id), and the change is not mistaken for someone else's (which would cost a scan
        of the folder). Writes inside join the transaction; it commits at the end."""
        with self._lock:
            db = self._guarded(self._begin_change)
            self._changing = True
            try:
                yield
                if self._connection is db and db.in_transaction:
                    self._set_meta(db, "folder_mtime", self._folder_mtime())
                    db.execute("COMMIT")
            except BaseException:
                if self._connection is db and db.in_transaction:
                    db.rollback()  # the files stay; the next read scans them in
                raise
            finally:
                self._changing = False

    def insert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self._write(lambda db: self._insert(db, rows))

    def remove(self, stems: Iterable[str]) -> None:
        stems = list(stems)
        self._write(lambda db: self._remove(db, stems))

    def set_favourite(self, stem: str, favourite: bool) -> None:
        sql = "UPDATE entries SET favourite = ? WHERE stem = ?"
        self._write(lambda db: db.execute(sql, (int(favourite), stem)))

    def store_thumbnails(self, thumbnails: dict[str, bytes], size: int) -> None:
        """Cache thumbnails (stem -> bytes), in one transaction (WAL with synchronous=NORMAL:
        no fsync per commit, which cost more than the decode when the gallery stored 24 at
        start-up one by one)."""
        sql = "INSERT OR REPLACE INTO thumbnails(stem, size, data) VALUES (?, ?, ?)"
        rows = [(stem, size, data) for stem, data in thumbnails.items()]
        self._write(lambda db: db.executemany(sql, rows), entries=False)

    def rebuild(self) -> None:
        """Throw the index's contents away and build them again from the records on disk."""
        self._guarded(lambda db: self._build(db, force=True))

    def close(self) -> None:
        with self._lock:
            self._reset()

    # -- the connection, its health and its freshness ---------------------------------------

    def _read_all(self, query: Callable[[sqlite3.Connection], sqlite3.Cursor]) -> list[Any]:
        return self._guarded(lambda db: query(db).fetchall())

    def _write(
        self, change: Callable[[sqlite3.Connection], object], *, entries: bool = True
    ) -> None:
        def run(db: sqlite3.Connection) -> None:
            with transaction(db):  # all or nothing
                change(db)
                if entries:
                    _bump_changes(db)

        self._guarded(run)

    def _guarded(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on a fresh, healthy index; a damaged file is rebuilt once and retried,
        a file another process replaced is reopened and retried; a lock or a constraint
        error is raised as it is (the index is fine: never delete it over those)."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    db = self._db()
                    self._ensure_fresh(db)
                    return work(db)
                except sqlite3.DatabaseError as error:
                    damaged = is_damage(error)
                    if attempt == 2 or not (damaged or is_moved(error)) or self._changing:
                        raise
                    self._reset()
                    if damaged:
                        logger.warning(
                            "history index %s is damaged (%s); rebuilding", self.path, error
                        )
                        self._discard_file()
            raise AssertionError("unreachable")

    def _db(self) -> sqlite3.Connection:
        if self._connection is not None:
            try:
                replaced = os.stat(self.path).st_ino != self._inode
            except FileNotFoundError:
                replaced = True
            if not replaced:
                return self._connection
            # Another process discarded a damaged index: use the file that is there now.
            self._reset()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = connect_shared(self.path)
        try:
            if not self._is_current(db):
                self._build(db)
        except BaseException:
            db.close()
            raise
        self._connection = db
        self._inode = self.path.stat().st_ino
        return db

    def _is_current(self, db: sqlite3.Connection) -> bool:
        """Whether the file holds an index of this schema and search mode (an empty file, as
        SQLite creates it on connect, does not)."""
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
            return False
        version = (self._meta(db, "schema"), self._meta(db, "search"))
        return version == (SCHEMA_VERSION, self._search_mode())

    def _begin_change(self, db: sqlite3.Connection) -> sqlite3.Connection:
        db.execute("BEGIN IMMEDIATE")
        try:
            self._ensure_fresh(db)  # inside: nobody changes the folder between check and ours
        except BaseException:
            db.rollback()
            raise
        return db

    def _ensure_fresh(self, db: sqlite3.Connection) -> None:
        """Scan the folder again if it changed since the index last saw it."""
        if self._changing:
            return
        now = self._folder_mtime()
        if self._meta(db, "folder_mtime") == now:
            return
        with transaction(db):
            # Another process may have brought it up to date while this one waited for the lock.
            if self._meta(db, "folder_mtime") != now:
                self._sync(db)
                self._set_meta(db, "folder_mtime", now)

    def _build(self, db: sqlite3.Connection, *, force: bool = False) -> None:
        """(Re)create the tables and fill them from the records, in one transaction inside the
        file (readers see the old index until the commit, then the whole new one)."""
        with transaction(db):
            if not force and self._is_current(db):
                return  # another process built it while this one waited for the lock
            self.rebuilds += 1
            self._counts.clear()
            # The thumbnails are keyed by stem, which a rebuild keeps: an index of an older
            # schema with the same thumbnails table keeps its cache (no 100,000 decodes again).
            had_meta = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone()
            keep = not force and had_meta and self._meta(db, "schema") in SAME_THUMBNAILS
            for table in ("entries", "prompts") if keep else ("entries", "prompts", "thumbnails"):
                db.execute(f"DROP TABLE IF EXISTS {table}")
            schema = [META, *ENTRIES.split(";"), THUMBNAILS, FTS if self.use_fts else ""]
            for statement in schema:
                if statement.strip():
                    db.execute(statement)
            mtime = self._folder_mtime()
            self._set_meta(db, "schema", SCHEMA_VERSION)
            self._set_meta(db, "search", self._search_mode())
            self._sync(db)
            if keep:  # entries gone while another version kept the index
                db.execute("DELETE FROM thumbnails WHERE stem NOT IN (SELECT stem FROM entries)")
            self._set_meta(db, "folder_mtime", mtime)
            _bump_changes(db)

    def _sync(self, db: sqlite3.Connection) -> None:
        """Make the index list exactly the complete entries in the folder."""
        self.scans += 1
        records: set[str] = set()
        images: set[str] = set()
        try:
            with os.scandir(self.directory) as scan:
                for item in scan:
                    name = item.name
                    if ENTRY_NAME.match(name) is None:
                        continue
                    if name.endswith(".json"):
                        records.add(name[:-5])
                    else:
                        images.add(name)
        except FileNotFoundError:
            pass
        indexed = {row[0] for row in db.execute("SELECT stem FROM entries")}
        gone = indexed - records
        if gone:
            self._remove(db, gone)
            _bump_changes(db)
        rows = []
        for stem in sorted(records - indexed):
            try:
                record = json.loads((self.directory / f"{stem}.json").read_bytes())
                row = row_from_record(stem, record)
            except (OSError, ValueError, KeyError, TypeError) as error:
                logger.warning("history entry %s is damaged (%s); not indexed", stem, error)
                continue
            if row[1] not in images:
                logger.warning("history entry %s has no image file; not indexed", stem)
                continue
            rows.append(row)
        self._insert(db, rows)
        if rows:
            _bump_changes(db)
        if self.use_fts and len(rows) > 1000:
            # Many single inserts leave many FTS segments: merge them (faster searches).
            db.execute("INSERT INTO prompts(prompts) VALUES ('optimize')")

    def _insert(self, db: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
        marks = ",".join("?" * (len(COLUMNS.split(", ")) + 2))  # the columns, search, recipe
        for row in rows:
            if db.execute("SELECT 1 FROM entries WHERE stem = ?", (row[0],)).fetchone():
                continue  # another process indexed it meanwhile: the same entry
            first = time_id(datetime.fromisoformat(row[8]))
            taken = {
                found
                for (found,) in db.execute(
                    "SELECT id FROM entries WHERE id >= ? AND id < ?", (first, first + ID_SLOTS)
                )
            }
            entry_id = next(i for i in range(first, first + ID_SLOTS + 1) if i not in taken)
            text = searchable(row[5])
            db.execute(
                f"INSERT INTO entries(id, {COLUMNS}, search, recipe) VALUES (?, {marks})",
                (entry_id, *row[:-1], text, row[-1]),
            )
            if self.use_fts:
                db.execute("INSERT INTO prompts(rowid, search) VALUES (?, ?)", (entry_id, text))

    def _remove(self, db: sqlite3.Connection, stems: Iterable[str]) -> None:
        for stem in stems:
            found = db.execute("SELECT id FROM entries WHERE stem = ?", (stem,)).fetchone()
            if found is None:
                continue
            db.execute("DELETE FROM entries WHERE id = ?", found)
            db.execute("DELETE FROM thumbnails WHERE stem = ?", (stem,))
            if self.use_fts:
                db.execute("DELETE FROM prompts WHERE rowid = ?", found)

    def _search_mode(self) -> str:
        return "fts5" if self.use_fts else "like"

    def _folder_mtime(self) -> str:
        try:
            return str(os.stat(self.directory).st_mtime_ns)
        except FileNotFoundError:
            return "missing"

    @staticmethod
    def _meta(db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _reset(self) -> None:
        self._counts.clear()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _discard_file(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def _bump_changes(db: sqlite3.Connection) -> None:
    """Count a change to the entries (what cached counts are checked against)."""
    db.execute(
        "INSERT INTO meta(key, value) VALUES ('changes', '1') ON CONFLICT(key) "
        "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
    )


def _scanned(sql: FilterSQL) -> str:
    """The table a query without MATCH reads: terms are looked for in the narrow index."""
    return "entries INDEXED BY entries_search" if sql.source == "scan" else "entries"
