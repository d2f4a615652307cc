"""The history's index: one SQLite file that answers "which entries, newest first" without
reading the entries, so a folder of 100,000 images opens, pages and searches in milliseconds.

The files stay the source of truth (an image and its JSON record per entry, see store.py);
the index is derived from them and can always be thrown away: it is rebuilt from the records
when it is missing, damaged or of another schema version, and brought up to date when the
folder changed behind its back (an older flux-widgets, a copy, a sync tool). It lives in a
subfolder (``.flux-index/``), so its journal files never touch the history folder's mtime,
which is how a change made by someone else is noticed: the index remembers the folder's
mtime after its own last change, and a different one means "scan the folder again".

Prompts are searched with SQLite's FTS5 full-text index where the sqlite3 module has it
(word-prefix matches: "boa" finds "boats"); without it, with ``LIKE`` (substring matches).
Thumbnails are cached here too, so a page of them is one query, not one decode per image.
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
from .search import filter_clauses, where_sql

logger = logging.getLogger("flux_widgets")

INDEX_FOLDER = ".flux-index"
INDEX_NAME = "index.sqlite3"
SCHEMA_VERSION = "3"
# What every entry's file name starts with (a fixed-width UTC timestamp: name order is time order).
ENTRY_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-.+\.(json|webp|jpg|png)$")
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries(
    id INTEGER PRIMARY KEY,
    stem TEXT NOT NULL UNIQUE,
    file TEXT NOT NULL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    aspect_ratio TEXT NOT NULL,
    seed INTEGER,
    created TEXT NOT NULL,
    favourite INTEGER NOT NULL DEFAULT 0,
    params TEXT NOT NULL
);
-- Narrow: skipping 100,000 entries to the oldest page reads this, not the wide rows.
CREATE INDEX entries_order ON entries(id);
CREATE INDEX entries_favourite ON entries(favourite);
CREATE INDEX entries_aspect_ratio ON entries(aspect_ratio);
CREATE TABLE thumbnails(
    stem TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY(stem, size)
) WITHOUT ROWID;
"""
# Word prefixes of 2-3 letters indexed too: "boa" is a prefix query over few terms.
_FTS_SCHEMA = "CREATE VIRTUAL TABLE prompts USING fts5(prompt, prefix='2 3')"
# Without FTS5: LIKE scans this narrow index (every filter column, rowid included), not rows.
_LIKE_SCHEMA = "CREATE INDEX entries_prompt ON entries(prompt, favourite, aspect_ratio)"
_COLUMNS = (
    "stem, file, format, width, height, prompt, aspect_ratio, seed, created, favourite, params"
)
_SELECT = ", ".join(f"entries.{name}" for name in _COLUMNS.split(", "))
_FTS_JOIN = "prompts JOIN entries ON entries.id = prompts.rowid"


def fts5_available() -> bool:
    """Whether this Python's sqlite3 was built with FTS5 (most are; some distributions not)."""
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    return True


class HistoryIndex:
    """The SQLite index of one history folder; thread-safe (one connection behind a lock).

    Every method may rebuild the index first (missing, damaged, stale): the first call on a
    folder that was never indexed reads every JSON record once (~50 µs each). Other processes
    may use the same folder and index at the same time (SQLite locks; writers wait up to 30 s).
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
        source, clauses, args = filter_clauses(where, self.use_fts)
        if source == "fts" and len(clauses) == 1:
            query = "SELECT count(*) FROM prompts WHERE prompts MATCH ?"
        elif source == "fts":
            query = f"SELECT count(*) FROM {_FTS_JOIN}{where_sql(clauses)}"
        else:
            query = f"SELECT count(*) FROM entries{where_sql(clauses)}"

        def run(db: sqlite3.Connection) -> int:
            version = self._meta(db, "changes")
            cached = self._counts.get(where)
            if cached is not None and cached[0] == version:
                return cached[1]
            count = int(db.execute(query, args).fetchone()[0])
            self._counts[where] = (version, count)
            return count

        return self._guarded(run)

    def page(self, where: HistoryFilter | None, offset: int, limit: int) -> list[HistoryRecord]:
        """Up to ``limit`` records matching ``where``, newest first, after ``offset``."""
        source, clauses, args = filter_clauses(where or HistoryFilter(), self.use_fts)
        bounds = [limit, max(0, offset)]
        # The ids of the page first, from a narrow index (or FTS5's rowid order), then only
        # the page's rows: an offset of 100,000 skips index entries, not rows.
        if source == "fts" and len(clauses) == 1:
            ids = "SELECT rowid FROM prompts WHERE prompts MATCH ? ORDER BY rowid DESC"
        elif source == "fts":
            condition = where_sql(clauses)
            ids = f"SELECT prompts.rowid FROM {_FTS_JOIN}{condition} ORDER BY prompts.rowid DESC"
        elif source == "like":
            condition = where_sql(clauses)
            ids = f"SELECT id FROM entries INDEXED BY entries_prompt{condition} ORDER BY id DESC"
        else:
            ids = f"SELECT id FROM entries{where_sql(clauses)} ORDER BY id DESC"
        query = (
            f"SELECT {_SELECT} FROM entries WHERE id IN ({ids} LIMIT ? OFFSET ?) ORDER BY id DESC"
        )
        rows = self._read_all(lambda db: db.execute(query, [*args, *bounds]))
        return [record_of(row) for row in rows]

    def get(self, stem: str) -> HistoryRecord | None:
        query = f"SELECT {_SELECT} FROM entries WHERE stem = ?"
        rows = self._read_all(lambda db: db.execute(query, (stem,)))
        return record_of(rows[0]) if rows else None

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
        """Hold the index while this process changes the folder's files, so the change is not
        mistaken for someone else's (which would cost a scan of the folder): in step before,
        in step after. A foreign change made during ours is seen at the next foreign one."""
        with self._lock:
            self._guarded(self._ensure_fresh)
            self._changing = True
            try:
                yield
            finally:
                self._changing = False
                try:
                    with self._db() as db:
                        self._set_meta(db, "folder_mtime", self._folder_mtime())
                except sqlite3.DatabaseError:
                    self._reset()  # the next read rebuilds from the files

    def insert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self._write(lambda db: self._insert(db, rows))

    def remove(self, stems: Iterable[str]) -> None:
        stems = list(stems)
        self._write(lambda db: self._remove(db, stems))

    def set_favourite(self, stem: str, favourite: bool) -> None:
        sql = "UPDATE entries SET favourite = ? WHERE stem = ?"
        self._write(lambda db: db.execute(sql, (int(favourite), stem)))

    def store_thumbnails(self, thumbnails: dict[str, bytes], size: int) -> None:
        """Cache thumbnails (stem -> bytes), in one transaction."""
        sql = "INSERT OR REPLACE INTO thumbnails(stem, size, data) VALUES (?, ?, ?)"
        rows = [(stem, size, data) for stem, data in thumbnails.items()]

        def run(db: sqlite3.Connection) -> None:
            # A cache of a cache: no fsync (the gallery stores 24 at start-up, one by one, and
            # each fsync costs more than the decode); a power cut at worst damages the index,
            # which is then rebuilt from the files.
            db.execute("PRAGMA synchronous=OFF")
            try:
                with db:
                    db.executemany(sql, rows)
            finally:
                db.execute("PRAGMA synchronous=NORMAL")

        self._guarded(run)

    def rebuild(self) -> None:
        """Throw the index away and build it again from the records on disk."""
        with self._lock:
            self._reset()
            self._build()

    def close(self) -> None:
        with self._lock:
            self._reset()

    # -- the connection, its health and its freshness ---------------------------------------

    def _read(self, query: Callable[[sqlite3.Connection], sqlite3.Cursor]) -> tuple[Any, ...]:
        rows = self._read_all(query)
        return tuple(rows[0])

    def _read_all(self, query: Callable[[sqlite3.Connection], sqlite3.Cursor]) -> list[Any]:
        return self._guarded(lambda db: query(db).fetchall())

    def _write(
        self, change: Callable[[sqlite3.Connection], object], *, entries: bool = True
    ) -> None:
        def run(db: sqlite3.Connection) -> None:
            with db:  # one transaction: all or nothing
                change(db)
                if entries:
                    _bump_changes(db)

        self._guarded(run)

    def _guarded(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on a fresh, healthy index; a damaged file is rebuilt once and retried."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    db = self._db()
                    self._ensure_fresh(db)
                    return work(db)
                except sqlite3.DatabaseError as error:
                    if not _is_damage(error) or attempt == 2:
                        raise
                    logger.warning("history index %s is damaged (%s); rebuilding", self.path, error)
                    self._reset()
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
            # Another process rebuilt (or removed) the index: use the file that is there now.
            self._reset()
        if not self.path.is_file() or self.path.stat().st_size == 0:
            self._build()
        db = self._connect(self.path)
        try:
            version = self._meta(db, "schema")
            search = self._meta(db, "search")
        except sqlite3.DatabaseError:
            db.close()
            raise
        if version != SCHEMA_VERSION or search != self._search_mode():
            db.close()
            self._build()
            db = self._connect(self.path)
        self._connection = db
        self._inode = self.path.stat().st_ino
        return db

    def _connect(self, path: Path) -> sqlite3.Connection:
        # "with db:" is one transaction (begun before the first change, committed at the end).
        db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        # Fewer fsyncs per commit: a power cut can at worst damage the index, which is then
        # rebuilt from the files (the files themselves are written with fsync, see store.py).
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _ensure_fresh(self, db: sqlite3.Connection) -> None:
        """Scan the folder again if it changed since the index last saw it."""
        if self._changing:
            return
        now = self._folder_mtime()
        if self._meta(db, "folder_mtime") == now:
            return
        with db:
            self._sync(db)
            self._set_meta(db, "folder_mtime", now)

    def _build(self) -> None:
        """Build a new index beside the old one and swap it in (readers never see half)."""
        self.rebuilds += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f"{INDEX_NAME}.{os.getpid()}.{threading.get_ident()}.new")
        temp.unlink(missing_ok=True)
        db = self._connect(temp)
        try:
            db.executescript(_SCHEMA + (_FTS_SCHEMA if self.use_fts else _LIKE_SCHEMA))
            with db:
                mtime = self._folder_mtime()
                self._set_meta(db, "schema", SCHEMA_VERSION)
                self._set_meta(db, "search", self._search_mode())
                self._sync(db)
                self._set_meta(db, "folder_mtime", mtime)
        except BaseException:
            db.close()
            temp.unlink(missing_ok=True)
            raise
        db.close()
        os.replace(temp, self.path)

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
        marks = ",".join("?" * 11)
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
            db.execute(f"INSERT INTO entries(id, {_COLUMNS}) VALUES (?, {marks})", (entry_id, *row))
            if self.use_fts:
                db.execute("INSERT INTO prompts(rowid, prompt) VALUES (?, ?)", (entry_id, row[5]))

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


def _is_damage(error: sqlite3.DatabaseError) -> bool:
    """A file that is not (or no longer) an index of ours, as opposed to a lock held by another
    process or a mistake in a query, over which the index must never be rebuilt."""
    if not isinstance(error, sqlite3.OperationalError):
        return True  # "file is not a database", "database disk image is malformed"
    message = str(error).lower()
    return any(sign in message for sign in ("no such table", "no such column", "malformed"))
