"""History: every generated image on disk the moment it arrives, so a kernel restart (or a
crash, or a killed process) loses nothing that was already downloaded.

One entry is two files with the same time-sortable stem: the image (recipe embedded, so it is
useful on its own) and a JSON record. Both are written atomically (a temp file in the same
folder, fsync, ``os.replace``), the image first: a record on disk always points at a complete
image, and an image without a record is an interrupted ``add`` that ``load`` ignores.
Only encoded bytes are kept; nothing is decoded here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import RecipeNotEmbeddedError
from .images import GeneratedImage
from .params import FluxParams

logger = logging.getLogger("flux_widgets")

HISTORY_DIR_ENV = "FLUX_WIDGETS_HISTORY_DIR"
_RECORD_VERSION = 1
_TEMP_PREFIX = ".tmp-"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.]+")
# What every entry's file name starts with; clear() deletes nothing else.
_ENTRY_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-.+\.(json|webp|jpg|png)$")


def default_directory() -> Path:
    """``$FLUX_WIDGETS_HISTORY_DIR``, else ``history`` in the user's data folder."""
    configured = os.environ.get(HISTORY_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("flux-widgets")) / "history"


class History:
    """The on-disk store of generated images, oldest first.

    ``add`` does blocking file I/O (with fsync): from async code, call it through
    ``asyncio.to_thread``. Several ``History`` objects (and processes) may share a folder.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory else default_directory()

    def __repr__(self) -> str:
        return f"History({str(self.directory)!r})"

    def add(self, image: GeneratedImage) -> Path:
        """Store the image (with its recipe embedded) and its record; returns the image path."""
        from .recipes import embed_recipe  # recipes imports Pillow's plugins: only when saving

        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            data, embedded = embed_recipe(image.data, image.format, image), True
        except RecipeNotEmbeddedError as error:
            # A paid image is kept regardless; its record below holds the whole recipe.
            logger.warning("history: %s; the recipe is kept in the entry's record", error)
            data, embedded = image.data, False
        stem = self._free_stem(image)
        image_path = self.directory / f"{stem}.{image.format}"
        _atomic_write(image_path, data)
        # The image's name must be durable before a record can point at it.
        _fsync_directory(self.directory)
        record = _record(image, image_path.name, data)
        record["recipe_in_file"] = embedded
        _atomic_write(
            self.directory / f"{stem}.json",
            json.dumps(record, ensure_ascii=False, indent=1).encode(),
        )
        _fsync_directory(self.directory)
        return image_path

    def load(self) -> list[GeneratedImage]:
        """Every complete entry, oldest first; broken or partial entries are logged and skipped."""
        images = []
        for record_path in self._record_paths():
            try:
                images.append(_load_entry(record_path))
            except FileNotFoundError:
                logger.warning("history entry %s has no image file; skipped", record_path.name)
            except (OSError, ValueError, KeyError, TypeError) as error:
                logger.warning("history entry %s is damaged (%s); skipped", record_path.name, error)
        return images

    def clear(self) -> None:
        """Delete every entry (and leftovers of interrupted writes); the folder stays."""
        if not self.directory.is_dir():
            return
        for path in self.directory.iterdir():
            if path.is_file() and (_is_entry_file(path) or path.name.startswith(_TEMP_PREFIX)):
                path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._record_paths())

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


def _record(image: GeneratedImage, file_name: str, data: bytes) -> dict[str, Any]:
    return {
        "version": _RECORD_VERSION,
        "file": file_name,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "format": image.format,
        "width": image.width,
        "height": image.height,
        "params": dataclasses.asdict(image.params),
        "seed": image.seed,
        "prediction_id": image.prediction_id,
        "index": image.index,
        "url": image.url,
        "predict_time": image.predict_time,
        "download_time": image.download_time,
        "created_at": image.created_at.isoformat(),
    }


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
    )


def _is_entry_file(path: Path) -> bool:
    return _ENTRY_NAME.match(path.name) is not None


def _atomic_write(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never a part (even after a crash)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _fsync_directory(directory: Path) -> None:
    # The renames are durable only once the directory itself is synced (POSIX); Windows
    # cannot open a directory, and its replace is durable enough.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
