"""What the history index lists: one record per entry, the filters a page asks for, and the
row each record is stored as (``index.py`` keeps the rows; the JSON records on disk are the truth).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from ..images import GeneratedImage
from ..params import FIELD_NAMES, FluxParams
from ..schema import FIELDS

RECORD_VERSION = 1
# Row ids are creation times in µs x 1000 (+ a free slot for entries made in the same µs), so
# "newest first" is rowid order: the table's own order, and FTS5's, with no sort.
ID_SLOTS = 1000


@dataclass(frozen=True)
class HistoryRecord:
    """One history entry as the index knows it: what a browser lists, without the image bytes.

    ``stem`` names the entry (its two files are ``<stem>.json`` and ``file``); ``created_at``
    is UTC; ``params`` is the recipe's parameters as stored (a dict, FluxParams' fields).
    ``History.open(record)`` reads the image itself.
    """

    stem: str
    file: str
    format: str
    width: int
    height: int
    prompt: str
    aspect_ratio: str
    seed: int | None
    created_at: datetime
    favourite: bool
    params: dict[str, Any]
    provider: str | None = None
    """The provider that made it; None in records written before it was kept."""
    price: float | None = None
    """Its estimated US dollars when made (None: unknown then, or an older record)."""


@dataclass(frozen=True)
class HistoryFilter:
    """Which entries a page shows: all fields optional, combined with AND.

    ``text``: terms (split at white space) that must all occur in the prompt as substrings,
    in any case and Unicode form, in any script; symbols and emoji included (search.py).
    ``since``/``until``: local calendar days, inclusive.
    """

    text: str = ""
    favourite: bool = False
    aspect_ratio: str | None = None
    since: date | None = None
    until: date | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def time_id(moment: datetime) -> int:
    """The smallest row id of an entry created at ``moment`` (aware)."""
    return (moment - _EPOCH) // timedelta(microseconds=1) * ID_SLOTS


def day_start_id(day: date) -> int:
    """The smallest row id of an entry made at or after local midnight of ``day``."""
    return time_id(datetime.combine(day, time()).astimezone())


def recipe_key(params: FluxParams | Mapping[str, Any], source: str | None) -> str | None:
    """The key every image of an exact repeat shares, or None where a repeat is not exact.

    The one definition of "the same recipe": every input field (prompt, seed, aspect ratio,
    megapixels, steps, format, quality, safety switch, count...) and the service that made it
    (``Provider.image_source``: the provider, its route, whether it was the mock). Only a
    deterministic recipe has a key: a fixed seed (None lets the server pick one), go_fast off
    (fp8 is not deterministic even with a seed), and a known source (older images have none).
    ``params`` as requested: a ``FluxParams``, or a record's dict (``ValueError`` for a field
    this version does not know).
    """
    if source is None:
        return None
    if isinstance(params, FluxParams):
        fields = dataclasses.asdict(params)
    else:
        # A record's parameters were a validated FluxParams when written: fill what an older
        # version did not write with the defaults, without validating again (a rebuild reads
        # 100,000 records; FluxParams would double its time).
        unknown = set(params) - set(FIELD_NAMES)
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))}")
        fields = {name: params.get(name, FIELDS[name].default) for name in FIELD_NAMES}
    if fields["seed"] is None or fields["go_fast"] is not False:
        return None
    text = json.dumps([source, fields], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _record_key(params: dict[str, Any], source: Any) -> str | None:
    try:
        return recipe_key(params, source if isinstance(source, str) else None)
    except (ValueError, TypeError):  # a recipe this version refuses: never served, still listed
        return None


def row_from_record(stem: str, record: Any) -> tuple[Any, ...]:
    """The index row of a parsed JSON record; ValueError/KeyError/TypeError if it is not one."""
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        version = record.get("version") if isinstance(record, dict) else None
        raise ValueError(f"unknown record version {version!r}")
    params = record["params"]
    if not isinstance(params, dict) or not isinstance(params.get("prompt"), str):
        raise ValueError("the record has no parameters")
    file_name = str(record["file"])
    if Path(file_name).name != file_name:
        raise ValueError(f"record points outside the history folder: {file_name!r}")
    created = datetime.fromisoformat(str(record["created_at"]))
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    seed = record.get("seed")
    return (
        stem,
        file_name,
        str(record["format"]),
        int(record["width"]),
        int(record["height"]),
        params["prompt"],
        str(params.get("aspect_ratio", "1:1")),
        int(seed) if seed is not None else None,
        created.astimezone(timezone.utc).isoformat(),
        1 if record.get("favourite") else 0,
        json.dumps(params, ensure_ascii=False, separators=(",", ":")),
        record_provider(record),
        record_price(record),
        # The recipe: a seed the server picked makes the image again as well as a fixed one.
        _record_key(
            {**params, "seed": seed if params.get("seed") is None else params["seed"]},
            record.get("source"),
        ),
    )


def record_provider(record: dict[str, Any]) -> str | None:
    """The provider a record names, or None (older records; anything that is not a name)."""
    provider = record.get("provider")
    return provider if isinstance(provider, str) and provider else None


def record_price(record: dict[str, Any]) -> float | None:
    """A record's price per image in US dollars, or None (unknown, missing, or not a
    non-negative finite number: a hand-edited record must not break usage)."""
    price = record.get("price")
    if isinstance(price, bool) or not isinstance(price, int | float):
        return None
    return float(price) if math.isfinite(price) and price >= 0 else None


def record_of(row: sqlite3.Row | tuple[Any, ...]) -> HistoryRecord:
    stem, file, fmt, width, height, prompt, ratio, seed, created, favourite, params, *rest = row
    provider, price = rest
    return HistoryRecord(
        stem=stem,
        file=file,
        format=fmt,
        width=width,
        height=height,
        prompt=prompt,
        aspect_ratio=ratio,
        seed=seed,
        created_at=datetime.fromisoformat(created),
        favourite=bool(favourite),
        params=json.loads(params),
        provider=provider,
        price=price,
    )


def image_record(image: GeneratedImage, file_name: str, data: bytes) -> dict[str, Any]:
    """The JSON record of ``image`` stored (or exported) as ``file_name`` holding ``data``: what
    the history writes beside each image file and an export carries."""
    return {
        "version": RECORD_VERSION,
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
        # Absent for images typed as sent; read back by _load_entry (reuse restores it).
        **({"origin": image.origin.to_json()} if image.origin is not None else {}),
        # Absent when unknown; with the recipe, the key of an exact repeat (records.py).
        **({"source": image.source} if image.source is not None else {}),
        # Who made it and its estimated dollars then (None: price unknown), so usage prices it
        # as made, not at whichever provider is selected later (records.py reads these).
        "provider": image.provider,
        "price": image.price,
    }
