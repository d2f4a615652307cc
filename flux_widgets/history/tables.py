"""The history index's SQL tables (index.py runs them): the schema, its version, the columns.

A change here bumps ``SCHEMA_VERSION``: an index of another version is rebuilt from the records
(index.py ``_build``), keeping the thumbnail cache where its table is the same.
"""

from __future__ import annotations

# 4: a searchable (NFKC, case folded) copy of the prompt, trigram FTS5, WAL.
# 5: each entry's recipe key (records.py ``recipe_key``): exact repeats are served from here.
# 6: the provider that made each entry and its price per image then (usage prices it as made).
SCHEMA_VERSION = "6"
# Versions whose thumbnails table is this one's: a rebuild from them keeps the cached thumbnails.
SAME_THUMBNAILS = frozenset({"4", "5", "6"})

# Kept across rebuilds: its "changes" counter must never go back (cached counts check it).
META = "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
ENTRIES = """
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
    params TEXT NOT NULL,
    provider TEXT,
    price REAL,
    search TEXT NOT NULL,
    recipe TEXT
);
-- Narrow: skipping 100,000 entries to the oldest page reads this, not the wide rows.
CREATE INDEX entries_order ON entries(id);
CREATE INDEX entries_favourite ON entries(favourite);
CREATE INDEX entries_aspect_ratio ON entries(aspect_ratio);
-- Terms FTS5 cannot answer scan this narrow index (every filter column, rowid included).
CREATE INDEX entries_search ON entries(search, favourite, aspect_ratio);
-- Only deterministic recipes have a key: the index holds those rows alone.
CREATE INDEX entries_recipe ON entries(recipe) WHERE recipe IS NOT NULL;
"""
THUMBNAILS = """
CREATE TABLE IF NOT EXISTS thumbnails(
    stem TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY(stem, size)
) WITHOUT ROWID
"""
# The text is folded already (search.py): case-sensitive trigrams keep both modes' answers equal.
FTS = "CREATE VIRTUAL TABLE prompts USING fts5(search, tokenize='trigram case_sensitive 1')"
# What a record's row holds (records.py ``row_from_record``), in order, before ``search``.
COLUMNS = (
    "stem, file, format, width, height, prompt, aspect_ratio, seed, created, favourite, params, "
    "provider, price"
)
