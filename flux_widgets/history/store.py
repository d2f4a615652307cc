"""History: every generated image on disk the moment it arrives, so a kernel restart (or a
crash, or a killed process) loses nothing that was already downloaded.

One entry is two files with the same time-sortable stem: the image (recipe embedded, so it is
useful on its own) and a JSON record. Both are written atomically (a temp file in the same
folder, fsync, ``os.replace``), the image first: a record on disk always points at a complete
image, and an image without a record is an interrupted ``add`` that ``load`` ignores.
Only encoded bytes are kept; nothing is decoded here, except the cached thumbnails.

Beside the files, an index (index.py: SQLite, FTS5 search) lists the entries, so a
folder of 100,000 images pages and searches in milliseconds and ``len`` does not read a file.
It is derived from the records and rebuilt from them when missing or damaged: an existing
folder is migrated in place the first time it is opened, without rewriting a file.
Deleting moves the entry's two files into ``.trash/<batch>/``, from which ``undo`` puts them
back; only ``empty_trash`` deletes for good (trash.py). A star is written into the record
itself (the source of truth), then into the index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeGuard

from ..errors import RecipeNotEmbeddedError
from ..images import GeneratedImage
from ..params import FluxParams, PromptOrigin
from .index import ENTRY_NAME, HistoryIndex
from .jobs import JobFiles, RecoveryReport, Resumer, recover
from .jobs import atomic_write as _atomic_write
from .jobs import fsync_directory as _fsync_directory
from .records import (
    RECORD_VERSION,
    HistoryFilter,
    HistoryRecord,
    image_record,
    record_price,
    record_provider,
    row_from_record,
)
from .share_and_reopen import ShareAndReopen
from .trash import TRASH_FOLDER, Trash, TrashBatch

__all__ = [
    "TRASH_FOLDER",
    "History",
    "HistoryFilter",
    "HistoryRecord",
    "StoredImage",
    "TrashBatch",
    "default_directory",
]

logger = logging.getLogger("flux_widgets")

HISTORY_DIR_ENV = "FLUX_WIDGETS_HISTORY_DIR"
THUMBNAIL_SIZE = 256
_RECORD_VERSION = RECORD_VERSION
_TEMP_PREFIX = ".tmp-"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.]+")


def default_directory() -> Path:
    """``$FLUX_WIDGETS_HISTORY_DIR``, else ``history`` in the user's data folder."""
    configured = os.environ.get(HISTORY_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("flux-widgets")) / "history"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class StoredImage(GeneratedImage):
    """A ``GeneratedImage`` kept in a ``History`` (``stem`` names its entry): its thumbnails
    are read from the history's cache, or made once and cached, so a studio reopened on the
    same images decodes none of them."""

    stem: str = ""
    history: History | None = dataclasses.field(default=None, compare=False)

    def thumbnail(self, max_size: int = THUMBNAIL_SIZE, fmt: str = "webp") -> bytes:
        history = self.history
        if history is None or fmt != "webp" or not self.stem:
            return super().thumbnail(max_size, fmt)
        cached = history.index.thumbnails([self.stem], max_size).get(self.stem)
        if cached is not None:
            return cached
        data = super().thumbnail(max_size, fmt)
        history.cache_thumbnails({self.stem: data}, max_size)
        return data


class History(ShareAndReopen):
    """The on-disk store of generated images, with an index for paging and search.

    ``add``, ``load``, ``clear``, ``len`` as before; ``page``/``count`` list light records
    (newest first, filtered), ``open`` reads one image, ``thumbnail`` a cached small copy,
    ``star``, ``delete`` (to the trash) and ``undo``. Everything does blocking file I/O: from
    async code, call it through ``asyncio.to_thread``. Several ``History`` objects (threads,
    processes) may share a folder. ``search="like"`` forces the fallback without FTS5.
    """

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, *, search: str | None = None
    ) -> None:
        if search not in (None, "fts5", "like"):
            raise ValueError(f"search must be 'fts5' or 'like', not {search!r}")
        self.directory = Path(directory).expanduser() if directory else default_directory()
        self.index = HistoryIndex(
            self.directory, use_fts=None if search is None else search == "fts5"
        )
        # Deleting, undoing and emptying: moves between the folder and .trash/ (trash.py).
        self.trash = Trash(self.directory, self.index)
        # The jobs paid for and not yet stored here (history/jobs.py): FluxClient(journal=).
        self.jobs = JobFiles(self.directory)

    def __repr__(self) -> str:
        return f"History({str(self.directory)!r})"

    def add(self, image: GeneratedImage) -> Path:
        """Store the image (with its recipe embedded) and its record; returns the image path."""
        from ..recipes.embedding import embed_recipe  # Pillow's plugins: only when saving

        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            data, embedded = embed_recipe(image.data, image.format, image), True
        except RecipeNotEmbeddedError as error:
            # A paid image is kept regardless; its record below holds the whole recipe.
            logger.warning("history: %s; the recipe is kept in the entry's record", error)
            data, embedded = image.data, False
        with self.index.changing_folder():
            stem = self._free_stem(image)
            image_path = self.directory / f"{stem}.{image.format}"
            _atomic_write(image_path, data)
            # The image's name must be durable before a record can point at it.
            _fsync_directory(self.directory)
            record = image_record(image, image_path.name, data)
            record["recipe_in_file"] = embedded
            _atomic_write(
                self.directory / f"{stem}.json",
                json.dumps(record, ensure_ascii=False, indent=1).encode(),
            )
            _fsync_directory(self.directory)
            self.index.insert([row_from_record(stem, record)])
        self.jobs.stored(image)  # its job closes once all its images are here
        return image_path

    def store(self, image: GeneratedImage) -> StoredImage:
        """``add``, then the same image as stored: its thumbnails are cached in the history.
        An image already stored in this folder (the client keeps every image it was paid
        for: ``FluxClient(history=)``) is returned as it is, not stored twice."""
        if self.holds(image):
            return image
        path = self.add(image)
        fields = {f.name: getattr(image, f.name) for f in dataclasses.fields(GeneratedImage)}
        return StoredImage(**fields, stem=path.stem, history=self)

    def holds(self, image: GeneratedImage) -> TypeGuard[StoredImage]:
        """Whether ``image`` is an entry of this folder as stored (``store`` returned it, here
        or through another ``History`` of the same folder) and still there."""
        if not isinstance(image, StoredImage) or image.history is None or not image.stem:
            return False
        where = image.history.directory
        if image.history is not self and where.resolve() != self.directory.resolve():
            return False
        return (self.directory / f"{image.stem}.json").exists()

    async def recover(self, client: Resumer, *, cancel_running: bool = False) -> RecoveryReport:
        """Find the jobs a kernel left open in this folder (``FluxClient(journal=history.jobs)``
        writes them), ask each provider about them through ``client`` (``with_provider`` for
        another provider's jobs, keys from the environment) and store the images of those that
        succeeded. Running jobs stay open unless ``cancel_running`` (then cancelled on the
        server). ``str(report)``: "recovered 2 images from 1 job", then why not for the rest
        (expired, failed, no query route, no key). See ``history/jobs.py``."""
        return await recover(self.jobs, client, self.store, cancel_running=cancel_running)

    def load(self) -> list[GeneratedImage]:
        """Every complete entry with its bytes, oldest first; broken entries are logged and
        skipped. Reads every image: for a large history, use ``page`` and ``open``."""
        images = []
        for record_path in self._record_paths():
            try:
                images.append(_load_entry(record_path))
            except FileNotFoundError:
                logger.warning("history entry %s has no image file; skipped", record_path.name)
            except (OSError, ValueError, KeyError, TypeError) as error:
                logger.warning("history entry %s is damaged (%s); skipped", record_path.name, error)
        return images

    def clear(self, stems: list[str] | None = None) -> str | None:
        """Move every entry (or only ``stems``: what a "delete all" question named, so an
        image stored after it stays) to the trash (``undo`` brings them back); clearing all
        also deletes leftovers of interrupted writes. Other files stay. Returns the trash
        batch (None if nothing moved)."""
        if not self.directory.is_dir():
            return None
        batch = self.delete(self.index.stems() if stems is None else stems)
        if stems is not None:  # a write may be under way: its temporary file is not a leftover
            return batch
        with self.index.changing_folder():
            for path in self.directory.iterdir():
                if path.is_file() and path.name.startswith(_TEMP_PREFIX):
                    path.unlink(missing_ok=True)
        return batch

    def __len__(self) -> int:
        """How many entries the index lists (no file is read)."""
        if not self.directory.is_dir():
            return 0
        return self.index.count()

    # -- browsing --------------------------------------------------------------------------

    def count(self, where: HistoryFilter | None = None) -> int:
        """How many entries match ``where`` (all, by default)."""
        if not self.directory.is_dir():
            return 0
        return self.index.count(where)

    def page(
        self, offset: int = 0, limit: int = 24, where: HistoryFilter | None = None
    ) -> list[HistoryRecord]:
        """Up to ``limit`` records, newest first, skipping ``offset``; no image is read."""
        if not self.directory.is_dir():
            return []
        return self.index.page(where, offset, limit)

    def record(self, stem: str) -> HistoryRecord | None:
        """The record of one entry, or None if it is not (or no longer) in the history."""
        return self.index.get(stem) if self.directory.is_dir() else None

    def open(self, record: HistoryRecord | str) -> StoredImage:
        """The entry's image with its bytes, checked against its record (ValueError if the file
        was changed; FileNotFoundError if it is gone)."""
        stem = record if isinstance(record, str) else record.stem
        image = _load_entry(self.directory / f"{stem}.json")
        fields = {f.name: getattr(image, f.name) for f in dataclasses.fields(GeneratedImage)}
        return StoredImage(**fields, stem=stem, history=self)

    def recent(self, count: int) -> list[StoredImage]:
        """The ``count`` newest images with their bytes, oldest first; damaged ones skipped."""
        images: list[StoredImage] = []
        for record in reversed(self.page(0, count)):
            try:
                images.append(self.open(record))
            except (OSError, ValueError, KeyError, TypeError) as error:
                logger.warning("history entry %s is unreadable (%s); skipped", record.stem, error)
        return images

    def thumbnail(
        self, record: HistoryRecord, size: int = THUMBNAIL_SIZE, *, cache: bool = True
    ) -> bytes:
        """A WebP at most ``size`` px wide and high, from the cache or made now (decodes: call
        it off the event loop) and cached unless ``cache=False`` (then hand a page of them to
        ``cache_thumbnails``: one write, not one per image); b"" if the image is unreadable."""
        cached = self.index.thumbnails([record.stem], size).get(record.stem)
        if cached is not None:
            return cached
        try:
            data = self.open(record).thumbnail(size, "webp")
        except Exception as error:  # one damaged file must not break a page of thumbnails
            logger.warning("no thumbnail for history entry %s (%s)", record.stem, error)
            return b""
        if cache:
            self.index.store_thumbnails({record.stem: data}, size)
        return data

    def cache_thumbnails(self, thumbnails: dict[str, bytes], size: int = THUMBNAIL_SIZE) -> None:
        """Store thumbnails made with ``thumbnail(..., cache=False)`` (stem -> bytes)."""
        made = {stem: data for stem, data in thumbnails.items() if data}
        if made:
            self.index.store_thumbnails(made, size)

    def cached_thumbnails(
        self, records: Iterable[HistoryRecord], size: int = THUMBNAIL_SIZE
    ) -> dict[str, bytes]:
        """The thumbnails already cached for ``records`` (stem -> bytes), in one query."""
        return self.index.thumbnails((record.stem for record in records), size)

    # -- changes ---------------------------------------------------------------------------

    def star(self, stem: str, favourite: bool = True) -> None:
        """Mark an entry as a favourite (or not): written into its record, then the index."""
        path = self.directory / f"{stem}.json"
        with self.index.changing_folder():
            record = json.loads(path.read_bytes())
            row_from_record(stem, record)  # refuse to rewrite what is not a record
            record["favourite"] = bool(favourite)
            _atomic_write(path, json.dumps(record, ensure_ascii=False, indent=1).encode())
            self.index.set_favourite(stem, favourite)

    def delete(self, stems: Sequence[str] | str) -> str | None:
        """Move entries (their record, then their image) into a new trash batch; returns the
        batch's name for ``undo`` (None when nothing was moved)."""
        return self.trash.delete([stems] if isinstance(stems, str) else list(stems))

    def undo(self, batch: str | None = None) -> int:
        """Put a trash batch (default: the latest) back; returns how many entries came back.
        An entry whose name was taken again meanwhile stays in the trash. ValueError for a
        batch that is not in the trash (restored or emptied meanwhile)."""
        return self.trash.undo(batch)

    def trash_batches(self) -> list[str]:
        """The trash's batches, oldest first."""
        return self.trash.batches()

    def trash_list(self) -> list[TrashBatch]:
        """The trash's batches, newest first, each with when it was deleted and how many
        entries it holds: what the history browser's trash view lists."""
        return self.trash.listing()

    def trash_count(self) -> int:
        """How many entries the trash holds."""
        return self.trash.count()

    def empty_trash(self) -> int:
        """Delete the trash for good; returns how many entries it held."""
        return self.trash.empty()

    def reindex(self) -> None:
        """Rebuild the index from the records (it does this itself when it finds it damaged)."""
        self.index.rebuild()

    def _record_paths(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        # The stem starts with a fixed-width UTC timestamp, so name order is time order.
        return sorted(path for path in self.directory.glob("*.json") if _is_entry_file(path))

    def _free_stem(self, image: GeneratedImage) -> str:
        created = image.created_at.astimezone(timezone.utc)
        prediction = _UNSAFE.sub("_", image.prediction_id or "")[:64] or (
            "local" + secrets.token_hex(4)
        )
        stem = f"{created:%Y%m%dT%H%M%S.%fZ}-{prediction}-{image.index}"
        candidate, n = stem, 1
        while (self.directory / f"{candidate}.json").exists() or (
            self.directory / f"{candidate}.{image.format}"
        ).exists():
            n += 1
            candidate = f"{stem}-{n}"
        return candidate


def _load_entry(record_path: Path) -> GeneratedImage:
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if not isinstance(record, dict) or record.get("version") != _RECORD_VERSION:
        raise ValueError(f"unknown record version {record.get('version')!r}")
    file_name = str(record["file"])
    if Path(file_name).name != file_name:
        raise ValueError(f"record points outside the history folder: {file_name!r}")
    data = (record_path.parent / file_name).read_bytes()
    if len(data) != record["bytes"] or hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise ValueError("the image file does not match its record")
    created_at = datetime.fromisoformat(record["created_at"])
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=timezone.utc)
    return GeneratedImage(
        data=data,
        format=str(record["format"]),
        width=int(record["width"]),
        height=int(record["height"]),
        params=FluxParams.from_input(record["params"]),
        seed=record["seed"],
        prediction_id=record["prediction_id"],
        index=int(record["index"]),
        url=record["url"],
        predict_time=record["predict_time"],
        download_time=record["download_time"],
        created_at=created_at,
        origin=PromptOrigin.from_json(record.get("origin")),
        source=record.get("source"),
        provider=record_provider(record),
        price=record_price(record),
    )


def _is_entry_file(path: Path) -> bool:
    return ENTRY_NAME.match(path.name) is not None
