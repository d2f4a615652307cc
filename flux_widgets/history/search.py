"""A history page's filter as SQL: the table that drives the query (FTS5 full text, LIKE, or the
entries alone), its WHERE clauses, and their arguments. Users' words are always arguments, never
SQL or FTS syntax.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from .records import HistoryFilter, day_start_id

_WORD = re.compile(r"\w+", re.UNICODE)


def filter_clauses(where: HistoryFilter, use_fts: bool) -> tuple[str, list[str], list[Any]]:
    """Which table drives the query ("fts", "like" or "entries"), its WHERE clauses and
    their arguments (users' words are always arguments, never SQL or FTS syntax)."""
    clauses: list[str] = []
    args: list[Any] = []
    source = "entries"
    words = _WORD.findall(where.text)
    if words and use_fts:
        # Each word quoted, as a prefix; all must match. The MATCH clause comes first.
        source = "fts"
        clauses.append("prompts MATCH ?")
        args.append(" ".join('"' + word.replace('"', '""') + '"*' for word in words))
    elif words:
        source = "like"
        for word in words:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("prompt LIKE ? ESCAPE '\\'")
            args.append(f"%{escaped}%")
    # With FTS5, the MATCH drives the query in rowid order: "+" keeps SQLite from using
    # another index first (boat + 16:9 took seconds that way), and dates bound the rowid.
    plus = "+" if source == "fts" else ""
    row = "prompts.rowid" if source == "fts" else "id"
    if where.favourite:
        clauses.append(f"{plus}favourite = 1")
    if where.aspect_ratio:
        clauses.append(f"{plus}aspect_ratio = ?")
        args.append(where.aspect_ratio)
    if where.since is not None:
        clauses.append(f"{row} >= ?")
        args.append(day_start_id(where.since))
    if where.until is not None:
        clauses.append(f"{row} < ?")
        args.append(day_start_id(where.until + timedelta(days=1)))
    return source, clauses, args


def where_sql(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""
