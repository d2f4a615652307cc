"""A history page's filter as SQL, and the one text form both sides of a search are compared in.

A search's text is split at white space into terms; an entry matches when every term occurs
in its prompt as a substring, once both are in ``searchable`` form (NFKC, case folded, no
emoji variation selectors). Substrings, not words, because most of the world's scripts do
not put spaces between words (Chinese, Japanese, Thai) and a prompt glues Latin words to them
("一只cat在屋顶上"); and a term of symbols ("C++", "★★★", "🚀") is matched as written, never
dropped. Both search modes give the same answers by construction, over the same column:

- FTS5 mode: terms of 3 characters or more go to FTS5's ``trigram`` tokenizer (an exact
  substring match, in milliseconds at 100,000 entries); shorter ones ("猫", "++", "3d")
  cannot be trigrams and are looked for with ``instr`` in a narrow index of that column;
- the fallback (no FTS5): every term with ``instr`` over that narrow index (about 10 ms per
  100,000 entries, measured).

Users' words are always arguments, never SQL or FTS syntax.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .records import HistoryFilter, day_start_id

# FTS5's trigram tokenizer indexes every run of three characters: shorter terms match nothing.
TRIGRAM = 3
# Emoji presentation selectors: "❤️" and "❤" are the same heart to whoever types it.
_INVISIBLE = dict.fromkeys(map(ord, "\ufe0e\ufe0f"))


def searchable(text: str) -> str:
    """``text`` as searches compare it: NFKC (full-width "ｃａｔ" is "cat", NFD "é" is NFC "é"),
    case folded beyond ASCII ("Ägypten", "Ёжик" match "ägypten", "ёжик"), without emoji
    variation selectors. Folding can undo NFKC, hence the second pass."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFKC", folded).translate(_INVISIBLE)


def search_terms(text: str) -> list[str]:
    """The terms a search's text asks for, each in ``searchable`` form (none: no text filter)."""
    return searchable(text).split()


@dataclass
class FilterSQL:
    """A filter as SQL. ``source`` is what drives the query: "fts" (a MATCH, first clause),
    "scan" (terms looked for in the narrow ``entries_search`` index) or "entries" (no text)."""

    source: str = "entries"
    clauses: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    @property
    def match_only(self) -> bool:
        """Whether FTS5 alone answers (no other table needed)."""
        return self.source == "fts" and len(self.clauses) == 1

    def where(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""


def filter_sql(where: HistoryFilter, use_fts: bool) -> FilterSQL:
    """The SQL of ``where`` for an index with (``use_fts``) or without FTS5."""
    sql = FilterSQL()
    terms = search_terms(where.text)
    long_terms = [term for term in terms if use_fts and len(term) >= TRIGRAM]
    short_terms = [term for term in terms if term not in long_terms]
    if long_terms:
        # Each term one quoted FTS5 string (a trigram phrase: an exact substring); all must match.
        sql.source = "fts"
        sql.clauses.append("prompts MATCH ?")
        sql.args.append(" ".join('"' + term.replace('"', '""') + '"' for term in long_terms))
    elif short_terms:
        sql.source = "scan"
    for term in short_terms:
        sql.clauses.append("instr(entries.search, ?) > 0")
        sql.args.append(term)
    # With FTS5, the MATCH drives the query in rowid order: "+" keeps SQLite from using
    # another index first (boat + 16:9 took seconds that way), and dates bound the rowid.
    plus = "+" if sql.source == "fts" else ""
    row = "prompts.rowid" if sql.source == "fts" else "entries.id"
    if where.favourite:
        sql.clauses.append(f"{plus}entries.favourite = 1")
    if where.aspect_ratio:
        sql.clauses.append(f"{plus}entries.aspect_ratio = ?")
        sql.args.append(where.aspect_ratio)
    if where.since is not None:
        sql.clauses.append(f"{row} >= ?")
        sql.args.append(day_start_id(where.since))
    if where.until is not None:
        sql.clauses.append(f"{row} < ?")
        sql.args.append(day_start_id(where.until + timedelta(days=1)))
    return sql
