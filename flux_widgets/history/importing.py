"""An export zip (exporting.py) re-opened into a history: ``History.import_``.

An image's identity is its content: the SHA-256 of its file's bytes, which its record also
holds. An image the history already has (an import of the same zip twice, or of a zip exported
from this very history) is counted as already present and not written again, and neither is
the second of two equal images in one zip. Each image is written as ``History.add`` writes one
(store.py): the image file, then its record, each atomically, so a crash leaves whole entries
and nothing else; the index is updated in the same transaction.

A zip is refused whole, before anything is written (``HistoryImportError``), when it is not a
zip, not an export of a known version, names a path that would leave a folder (zip slip:
absolute, ``..``, a drive), or declares more bytes than the caps allow (a zip bomb: the
declared sizes are checked before anything is inflated, and every read is bounded besides,
since a hostile zip can lie about them). One bad entry in a good zip (not an image, changed
since it was exported, a damaged record) is refused alone, with the reason, in the report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from ..errors import HistoryImportError, ImageDecodeError
from ..images import probe_image
from .exporting import (
    ARCHIVE_FORMAT,
    ARCHIVE_VERSION,
    IMAGE_FOLDER,
    MANIFEST,
    RECORD_FOLDER,
)
from .index import ENTRY_NAME, HistoryIndex
from .jobs import atomic_write, fsync_directory
from .records import row_from_record

logger = logging.getLogger("flux_widgets")

MAX_TOTAL_BYTES = 8 * 2**30
"""What a zip may declare in all, uncompressed (8 GiB: ~40,000 full-size PNGs)."""
MAX_IMAGE_BYTES = 64 * 2**20
"""One image file at most (a FLUX PNG is ~2 MB; 64 MiB is far past any real one)."""
MAX_RECORD_BYTES = 2**20
"""One record at most (a record is ~1 KB; a long prompt and its origin stay far below)."""
MAX_MANIFEST_BYTES = 256 * 2**20
_CHUNK = 200  # entries written per index transaction (one fsync of the folder per step)
_DRIVE = re.compile(r"^[A-Za-z]:")


class HistoryTarget(Protocol):
    """What importing writes into: a ``History``'s folder and its index (store.py)."""

    directory: Path
    index: HistoryIndex


@dataclass
class ImportReport:
    """What an import did: the stems it ``imported`` (newly in the history), the entries
    ``already_present`` (same image bytes), and those ``refused`` with why, as
    ``(name in the zip, reason)``. ``str(report)`` says it in one line."""

    path: Path
    imported: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"imported {len(self.imported):,} image{_s(len(self.imported))}"
        if self.already_present:
            text += f"; {len(self.already_present):,} already in the history"
        if self.refused:
            reasons = "; ".join(f"{name}: {why}" for name, why in self.refused[:3])
            more = f" (and {len(self.refused) - 3:,} more)" if len(self.refused) > 3 else ""
            text += f"; refused {len(self.refused):,}: {reasons}{more}"
        return text


@dataclass(frozen=True)
class _Incoming:
    stem: str
    data: bytes
    record: dict[str, Any]


def import_zip(
    history: HistoryTarget,
    path: str | os.PathLike[str],
    *,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_image_bytes: int = MAX_IMAGE_BYTES,
) -> ImportReport:
    """Add an export zip's images (bytes unchanged) and records to ``history``; see the
    module docstring. Raises ``HistoryImportError`` when the zip is refused whole (nothing
    written then); ``OSError`` if the history folder cannot be written."""
    source = Path(path).expanduser()
    report = ImportReport(source)
    try:
        archive = zipfile.ZipFile(source)
    except FileNotFoundError:
        raise HistoryImportError(f"there is no file {source}") from None
    except IsADirectoryError:
        raise HistoryImportError(f"{source} is a folder: give the export's .zip file") from None
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise HistoryImportError(
            f"{source.name} is not a zip file (or a damaged one): give a zip made by "
            "History.export_zip or the History section's Export"
        ) from None
    with archive:
        _check_members(archive, source, max_total_bytes)
        entries = _manifest(archive, source)
        present = _present_hashes(history.directory)
        batch: list[_Incoming] = []
        for entry in entries:
            name = str(entry.get("image", "?")) if isinstance(entry, dict) else "?"
            try:
                incoming = _read_entry(archive, entry, max_image_bytes)
            except (ValueError, KeyError, TypeError, zipfile.BadZipFile, ImageDecodeError) as why:
                report.refused.append((name, _reason(why)))
                continue
            digest = incoming.record["sha256"]
            if digest in present:
                report.already_present.append(incoming.stem)
                continue
            present.add(digest)
            batch.append(incoming)
            if len(batch) >= _CHUNK:
                report.imported += _write(history, batch)
                batch = []
        report.imported += _write(history, batch)
    logger.info("history import from %s: %s", source, report)
    return report


def _check_members(archive: zipfile.ZipFile, source: Path, max_total: int) -> None:
    total = 0
    for info in archive.infolist():
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts or "\0" in name:
            raise HistoryImportError(
                f"{source.name} holds a file named {name!r}, a path outside the folder it "
                "would be unpacked into; it was refused whole (nothing was imported)"
            )
        total += info.file_size
    if total > max_total:
        raise HistoryImportError(
            f"{source.name} unpacks to {total:,} bytes, past the import's cap of "
            f"{max_total:,} (a damaged or hostile zip); nothing was imported"
        )


def _manifest(archive: zipfile.ZipFile, source: Path) -> list[Any]:
    try:
        manifest = json.loads(_read(archive, MANIFEST, MAX_MANIFEST_BYTES))
    except KeyError:
        raise HistoryImportError(
            f"{source.name} has no {MANIFEST}: it is not a flux-widgets history export"
        ) from None
    except (ValueError, zipfile.BadZipFile) as error:
        raise HistoryImportError(f"{source.name}'s {MANIFEST} is damaged ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise HistoryImportError(f"{source.name} is not a flux-widgets history export")
    version = manifest.get("version")
    if not isinstance(version, int) or version > ARCHIVE_VERSION:
        raise HistoryImportError(
            f"{source.name} is an export of format version {version!r}; this flux-widgets "
            f"reads up to version {ARCHIVE_VERSION}: upgrade flux-widgets to import it"
        )
    entries = manifest.get("entries")
    if not isinstance(entries, list):
        raise HistoryImportError(f"{source.name}'s {MANIFEST} lists no entries")
    return entries


def _read_entry(archive: zipfile.ZipFile, entry: Any, max_image: int) -> _Incoming:
    if not isinstance(entry, dict):
        raise ValueError("the manifest's entry is not an object")
    stem = str(entry["stem"])
    if ENTRY_NAME.match(f"{stem}.json") is None or "/" in stem or "\\" in stem:
        raise ValueError(f"{stem!r} is not a history entry's name")
    record = json.loads(_read(archive, f"{RECORD_FOLDER}/{stem}.json", MAX_RECORD_BYTES))
    row_from_record(stem, record)  # a record the history can index, or ValueError/KeyError
    fmt = str(record["format"])
    image_name = f"{IMAGE_FOLDER}/{stem}.{fmt}"
    if entry.get("image") != image_name or fmt not in ("png", "jpg", "webp"):
        raise ValueError("the manifest and the record disagree on the image file")
    data = _read(archive, image_name, min(max_image, int(record["bytes"])))
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != record["bytes"] or digest != record["sha256"] or digest != entry["sha256"]:
        raise ValueError("the image does not match its record (changed after the export)")
    probe_image(data, fmt)  # an image of its format, of a sane size, or ImageDecodeError
    return _Incoming(stem, data, record)


def _read(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, refused past ``limit`` whatever its header declares."""
    info = archive.getinfo(name)  # KeyError: not in the zip
    if info.file_size > limit:
        raise ValueError(f"{name} is {info.file_size:,} bytes, more than {limit:,}")
    with archive.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{name} unpacks past {limit:,} bytes")
    return data


def _present_hashes(directory: Path) -> set[str]:
    """The SHA-256 of every image the history holds, from the records (the index has none)."""
    hashes: set[str] = set()
    if not directory.is_dir():
        return hashes
    with os.scandir(directory) as scan:
        for item in scan:
            if not item.name.endswith(".json") or ENTRY_NAME.match(item.name) is None:
                continue
            try:
                with open(item.path, "rb") as file:
                    digest = json.loads(file.read()).get("sha256")
            except (OSError, ValueError, AttributeError):
                continue  # a damaged record: the index skips it too
            if isinstance(digest, str):
                hashes.add(digest)
    return hashes


def _write(history: HistoryTarget, batch: Iterable[_Incoming]) -> list[str]:
    """Write entries as ``History.add`` does: images, the folder synced, then records."""
    batch = list(batch)
    if not batch:
        return []
    directory = history.directory
    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    with history.index.changing_folder():
        placed = []
        for incoming in batch:
            stem = _free_stem(directory, incoming.stem, str(incoming.record["format"]))
            record = {**incoming.record, "file": f"{stem}.{incoming.record['format']}"}
            atomic_write(directory / record["file"], incoming.data)
            placed.append((stem, record))
        # The images' names must be durable before a record can point at them.
        fsync_directory(directory)
        rows = []
        for stem, record in placed:
            text = json.dumps(record, ensure_ascii=False, indent=1).encode()
            atomic_write(directory / f"{stem}.json", text)
            rows.append(row_from_record(stem, record))
            written.append(stem)
        fsync_directory(directory)
        history.index.insert(rows)
    return written


def _free_stem(directory: Path, stem: str, fmt: str) -> str:
    """The entry's own name (it says when it was made), or with ``-2``, ``-3`` if taken."""
    candidate, n = stem, 1
    while (directory / f"{candidate}.json").exists() or (directory / f"{candidate}.{fmt}").exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def _reason(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"missing from the zip or the record: {error.args[0]}"
    if isinstance(error, ImageDecodeError):
        return "not a usable image"
    return str(error) or type(error).__name__


def _s(count: int) -> str:
    return "" if count == 1 else "s"
