"""One SQLite file shared by several processes (two notebooks, a notebook and ``%%flux``): how
it is opened, how a change is made, and which errors mean the file itself is damaged.

SQLite's own tools do the sharing: WAL (readers see the last commit while another process
writes, and never wait), a busy timeout (a writer waits for another's transaction instead of
failing), and every change in a ``BEGIN IMMEDIATE`` transaction (the write lock taken before
anything is read, so what a change reads stays true until it commits).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# How long a writer waits for another process's transaction (a first index of 100,000 records
# takes about 6 s) before "database is locked" is raised.
BUSY_TIMEOUT = 30.0
# SQLite's primary result codes (https://sqlite.org/rescode.html), as sqlite3 reports them.
_SQLITE_CORRUPT, _SQLITE_NOTADB, _SQLITE_IOERR = 11, 26, 10
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
_SQLITE_READONLY_DBMOVED = 8 | (4 << 8)


def connect_shared(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are ``transaction``'s), WAL, waiting up to
    ``BUSY_TIMEOUT`` for other writers; usable from any thread (callers hold a lock)."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        _switch_to_wal(db)
        # Fewer fsyncs per commit (none, in WAL, until a checkpoint): a power cut can at worst
        # damage the index, which is then rebuilt from the files (written with fsync, store.py).
        db.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        db.close()
        raise
    return db


def _switch_to_wal(db: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode=WAL``, tried again while another process holds the file.

    Two processes opening a new index at once both ask for WAL, which needs the file to itself;
    SQLite answers the loser "database is locked" at once, without its busy timeout (it would
    be a deadlock), so the wait is here. Once the file is in WAL (it stays so), no lock is
    needed and the first try succeeds."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    pause = 0.01
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if not is_busy(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def is_busy(error: sqlite3.DatabaseError) -> bool:
    """Another connection holds the lock this one needs (SQLITE_BUSY or SQLITE_LOCKED)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "database is locked" in str(error).lower() or "is locked" in str(error).lower()


def is_damage(error: sqlite3.DatabaseError) -> bool:
    """A file that is not (or no longer) an index: SQLite's own verdict, SQLITE_CORRUPT or
    SQLITE_NOTADB. Never a lock held by another process (SQLITE_BUSY), a constraint (two
    writers), an I/O error or a mistake in a query: deleting the shared index over those
    would break every other process using it."""
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return int(code) & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    message = str(error).lower()
    return "malformed" in message or "not a database" in message


def is_moved(error: sqlite3.DatabaseError) -> bool:
    """An I/O error on a file another process discarded under this connection: reopen."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF == _SQLITE_IOERR or int(code) == _SQLITE_READONLY_DBMOVED
    return "disk i/o error" in str(error).lower()


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, the write lock taken first (``BEGIN IMMEDIATE``: what is read
    inside, such as the free row ids, stays true until the commit); inside one already
    (``changing_folder``'s), its commit is this one's."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")
