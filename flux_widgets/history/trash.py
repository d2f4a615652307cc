"""The history's trash: every delete is a batch in ``.trash/<batch>/`` that can be put back.

Deleting moves an entry's record, then its image, into a new batch folder named by the time of
the delete (``20261204T170102.123456Z-1a2b3c4d``: name order is time order). ``undo`` moves a
batch back, image first, so a record never points at a missing image; only ``empty`` deletes
for good. Every move happens inside the index's ``changing_folder`` transaction, so the index
and the files agree for every process sharing the folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .index import HistoryIndex
from .records import row_from_record

__all__ = ["TRASH_FOLDER", "Trash", "TrashBatch"]

logger = logging.getLogger("flux_widgets")

TRASH_FOLDER = ".trash"
_BATCH_TIME = "%Y%m%dT%H%M%S.%fZ"
_BATCH_NAME = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)-[0-9a-f]{8}$")


@dataclass(frozen=True)
class TrashBatch:
    """One delete in the trash: its ``name`` (for ``History.undo``), when it was deleted
    (UTC) and how many entries it holds."""

    name: str
    deleted_at: datetime
    count: int


class Trash:
    """The trash folder of one history folder, kept in step with its index."""

    def __init__(self, directory: Path, index: HistoryIndex) -> None:
        self.directory = directory
        self.folder = directory / TRASH_FOLDER
        self._index = index
        self._counts: dict[str, tuple[int, int]] = {}  # batch: (its mtime, entries)

    def delete(self, stems: list[str]) -> str | None:
        """Move entries into a new batch; returns its name (None when nothing was moved)."""
        if not stems or not self.directory.is_dir():
            return None
        batch = f"{datetime.now(timezone.utc):{_BATCH_TIME}}-{secrets.token_hex(4)}"
        folder = self.folder / batch
        moved = []
        with self._index.changing_folder():
            indexed = self._index.files(stems)
            folder.mkdir(parents=True)
            for stem in stems:
                record = self.directory / f"{stem}.json"
                known = indexed.get(stem)
                image_names = [known] if known else _image_names(record)
                try:
                    # The record first: from then on the entry is gone, even if we stop here.
                    os.replace(record, folder / record.name)
                except FileNotFoundError:
                    continue
                for name in image_names:
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(self.directory / name, folder / name)
                moved.append(stem)
            self._index.remove(moved)
        if not moved:
            folder.rmdir()
            return None
        return batch

    def undo(self, batch: str | None = None) -> int:
        """Put a batch (default: the latest) back; returns how many entries came back."""
        batches = self.batches()
        if batch is None:
            if not batches:
                return 0
            batch = batches[-1]
        if batch not in batches:
            raise ValueError(
                f"no trash batch {batch!r} in {self.folder}: it was put back or emptied already"
            )
        folder = self.folder / batch
        rows = []
        with self._index.changing_folder():
            # Two listings, not three stats per entry: a cleared history is 100,000 entries.
            present = set(os.listdir(self.directory))
            trashed = set(os.listdir(folder))
            for name in sorted(name for name in trashed if name.endswith(".json")):
                record_path = folder / name
                try:
                    record = json.loads(record_path.read_bytes())
                    row = row_from_record(record_path.stem, record)
                except (OSError, ValueError, KeyError, TypeError) as error:
                    logger.warning("trashed entry %s is damaged (%s)", name, error)
                    continue
                image = folder / row[1]
                if name in present or row[1] in present or row[1] not in trashed:
                    continue  # its name was taken again meanwhile, or its image is missing
                # The image first, so a record never points at a missing image.
                os.replace(image, self.directory / row[1])
                os.replace(record_path, self.directory / name)
                rows.append(row)
            self._index.insert(rows)
        if not any(folder.iterdir()):
            folder.rmdir()
        return len(rows)

    def batches(self) -> list[str]:
        """The batches' names, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(
            p.name for p in self.folder.iterdir() if _BATCH_NAME.match(p.name) and p.is_dir()
        )

    def listing(self) -> list[TrashBatch]:
        """Every batch with its time and size, newest first; empty batches left out."""
        listed = []
        for name in reversed(self.batches()):
            count = self._count(name)
            found = _BATCH_NAME.match(name)
            if count and found is not None:
                when = datetime.strptime(found.group(1), _BATCH_TIME)
                listed.append(TrashBatch(name, when.replace(tzinfo=timezone.utc), count))
        return listed

    def count(self) -> int:
        """How many entries the trash holds (a batch is counted again only when it changed:
        the browser asks for every page, and a cleared history is one batch of 100,000)."""
        return sum(self._count(name) for name in self.batches())

    def empty(self) -> int:
        """Delete every batch for good; returns how many entries they held."""
        count = self.count()
        for name in self.batches():
            shutil.rmtree(self.folder / name)
        return count

    def _count(self, name: str) -> int:
        try:
            changed = (self.folder / name).stat().st_mtime_ns
        except FileNotFoundError:
            return 0
        known = self._counts.get(name)
        if known is None or known[0] != changed:
            count = sum(1 for _ in (self.folder / name).glob("*.json"))
            known = self._counts[name] = (changed, count)
        return known[1]


def _image_names(record_path: Path) -> list[str]:
    try:
        name = str(json.loads(record_path.read_bytes())["file"])
    except (OSError, ValueError, KeyError, TypeError):
        # No usable record: take the image files sharing its stem.
        stem = record_path.stem
        return [f"{stem}.{fmt}" for fmt in ("webp", "jpg", "png")]
    return [name] if Path(name).name == name else []
