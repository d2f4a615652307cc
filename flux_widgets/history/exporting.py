"""A history's images leave as one zip (``History.export_zip``): each image file byte for byte,
its JSON record, and a manifest that ``History.import_`` (importing.py) reads back.

The zip's layout (format version ``ARCHIVE_VERSION``)::

    manifest.json           {"format": "flux-widgets/history", "version": 1, "count": n,
                             "entries": [{"stem", "image", "record", "bytes", "sha256"}, ...]}
    images/<stem>.<fmt>     the image file as the history holds it (recipe embedded), stored
    records/<stem>.json     its record: the full recipe, seed, provider and price when the
                            history knows them, times, the prediction id

Images are stored, not deflated (PNG, JPEG and WebP are compressed already: deflating them
costs time and saves nothing); JSON is deflated. What is exported is chosen as the history
browser chooses (a ``HistoryFilter``: the current search), or given as entries: records,
stems, or images (a gallery's, a grid's), so a studio's gallery exports the same way. The zip is
written beside its target and moved into place at the end: never half a file under its name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..images import GeneratedImage
from .index import ENTRY_NAME, HistoryIndex
from .records import RECORD_VERSION, HistoryFilter, HistoryRecord, image_record

ARCHIVE_FORMAT = "flux-widgets/history"
ARCHIVE_VERSION = 1
MANIFEST = "manifest.json"
IMAGE_FOLDER = "images"
RECORD_FOLDER = "records"
_PAGE = 500  # entries read from the index at a time

Entry = HistoryRecord | str | GeneratedImage
"""One thing to export: a history entry (its record or stem) or an image (a gallery's)."""
Selection = HistoryFilter | Iterable[Entry] | None
"""What to export: everything (None), the entries a filter matches, or the entries given."""


class HistoryFolder(Protocol):
    """What exporting reads of a ``History`` (store.py): its folder and its index."""

    directory: Path
    index: HistoryIndex

    def count(self, where: HistoryFilter | None = None) -> int: ...

    def page(
        self, offset: int = 0, limit: int = 24, where: HistoryFilter | None = None
    ) -> list[HistoryRecord]: ...


@dataclass(frozen=True)
class ExportItem:
    """One image ready to leave: its entry's stem, the file's bytes as stored, its record."""

    stem: str
    data: bytes
    record: dict[str, Any]

    @property
    def file_name(self) -> str:
        return f"{self.stem}.{self.record['format']}"

    @property
    def sha256(self) -> str:
        return str(self.record["sha256"])


def export_items(history: HistoryFolder | None, entries: Selection) -> Iterator[ExportItem]:
    """The items of a selection, oldest first for a filter (the order they were made), in the
    given order otherwise. A history entry is read from its files and checked against its
    record (``ValueError`` if the image was changed, ``FileNotFoundError`` if it is gone); an
    image not in a history gets the record the history would write for it."""
    if entries is None or isinstance(entries, HistoryFilter):
        if history is None:
            raise ValueError("a filter selects history entries: give the history to export")
        where = entries if isinstance(entries, HistoryFilter) else None
        total = history.count(where)
        # Newest-first pages read from the end: the zip lists the oldest first.
        for start in range(max(0, total - _PAGE), -_PAGE, -_PAGE):
            page = history.page(max(0, start), min(_PAGE, start + _PAGE), where)
            for record in reversed(page):
                yield read_entry(history.directory, record.stem)
        return
    for entry in entries:
        if isinstance(entry, (HistoryRecord, str)):
            if history is None:
                raise ValueError("a history entry needs its history to be exported")
            yield read_entry(history.directory, entry if isinstance(entry, str) else entry.stem)
        elif isinstance(entry, GeneratedImage):
            yield image_item(entry)
        else:
            raise TypeError(f"cannot export {type(entry).__name__}: give records, stems or images")


def read_entry(directory: Path, stem: str) -> ExportItem:
    """A history entry's record and image bytes, checked against each other."""
    if ENTRY_NAME.match(f"{stem}.json") is None or Path(stem).name != stem:
        raise ValueError(f"{stem!r} does not name a history entry")
    record = json.loads((directory / f"{stem}.json").read_bytes())
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        raise ValueError(f"history entry {stem} has a record of an unknown version")
    name = str(record["file"])
    if Path(name).name != name:
        raise ValueError(f"history entry {stem} points outside its folder: {name!r}")
    data = (directory / name).read_bytes()
    if len(data) != record["bytes"] or hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise ValueError(f"the image of history entry {stem} does not match its record")
    return ExportItem(stem, data, record)


def image_item(image: GeneratedImage) -> ExportItem:
    """An image to export: its history entry when it is one (a ``StoredImage``), else its
    bytes (recipe embedded, as the history would store it) with the record the history would
    write (store.py's fields)."""
    stem, history = getattr(image, "stem", ""), getattr(image, "history", None)
    directory = getattr(history, "directory", None)
    if stem and isinstance(directory, Path) and (directory / f"{stem}.json").is_file():
        return read_entry(directory, stem)
    from ..errors import RecipeNotEmbeddedError
    from ..recipes.embedding import embed_recipe

    try:
        data = embed_recipe(image.data, image.format, image)
    except RecipeNotEmbeddedError:
        data = image.data  # the record below still holds the whole recipe
    created = image.created_at.astimezone(timezone.utc)
    stem = f"{created:%Y%m%dT%H%M%S.%fZ}-{_safe(image.prediction_id or 'local')}-{image.index}"
    record = image_record(image, f"{stem}.{image.format}", data)
    return ExportItem(stem, data, record)


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote: ``path``, how many images, their total size in bytes."""

    path: Path
    count: int
    bytes: int

    def __str__(self) -> str:
        return f"exported {self.count:,} image{'' if self.count == 1 else 's'} to {self.path}"


def write_zip(items: Iterable[ExportItem], path: str | os.PathLike[str]) -> ExportReport:
    """Write the items as an export zip at ``path`` (replaced whole at the end: a failure
    leaves no partial file there). Two items of the same stem keep the first (the same
    entry selected twice). Raises ``OSError`` if the folder cannot be written."""
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-export-", suffix=".zip", dir=target.parent)
    os.close(handle)
    entries: list[dict[str, Any]] = []
    size = 0
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            seen: set[str] = set()
            for item in items:
                if item.stem in seen:
                    continue
                seen.add(item.stem)
                image = f"{IMAGE_FOLDER}/{item.file_name}"
                record = f"{RECORD_FOLDER}/{item.stem}.json"
                archive.writestr(_info(image, item), item.data, zipfile.ZIP_STORED)
                text = json.dumps(item.record, ensure_ascii=False, indent=1).encode()
                archive.writestr(_info(record, item), text)
                entries.append(
                    {
                        "stem": item.stem,
                        "image": image,
                        "record": record,
                        "bytes": len(item.data),
                        "sha256": item.sha256,
                    }
                )
                size += len(item.data)
            manifest = {
                "format": ARCHIVE_FORMAT,
                "version": ARCHIVE_VERSION,
                "count": len(entries),
                "entries": entries,
            }
            archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ExportReport(target, len(entries), size)


def _info(name: str, item: ExportItem) -> zipfile.ZipInfo:
    # The entry's own time (UTC, as zip has no zones), so two exports of one entry are equal.
    created = str(item.record.get("created_at", ""))
    try:
        moment = datetime.fromisoformat(created).astimezone(timezone.utc)
        stamp = (max(moment.year, 1980), *moment.timetuple()[1:6])
    except ValueError:
        stamp = (1980, 1, 1, 0, 0, 0)
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.external_attr = 0o644 << 16  # a plain file, readable by all, when unpacked by hand
    return info


def _safe(text: str) -> str:
    return "".join(c if (c.isalnum() and c.isascii()) or c in "_." else "_" for c in text)[:64]


def selection_size(history: HistoryFolder | None, entries: Selection) -> int | None:
    """How many entries a selection holds when known without reading them (a filter, a list)."""
    if entries is None or isinstance(entries, HistoryFilter):
        return history.count(entries) if history is not None else None
    return len(entries) if isinstance(entries, Sequence) else None
