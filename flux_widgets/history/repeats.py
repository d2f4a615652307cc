"""Exact repeats served from the history: the images a deterministic recipe made already.

A recipe with a fixed seed and go_fast off, sent to the same service, makes the same images
again (records.py ``recipe_key`` says which recipes those are); paying for them twice buys
nothing. ``find_repeats`` looks such recipes up in the index (one query for a whole batch) and
returns the stored images, but only a complete set whose files are still there and intact: a
generation of four images with one deleted (or its file changed) is made again, and paid.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..params import FluxParams
from .records import recipe_key
from .store import History, StoredImage

logger = logging.getLogger("flux_widgets")


def find_repeats(
    history: History, recipes: Sequence[FluxParams], source: str | None
) -> dict[int, list[StoredImage]]:
    """For each of ``recipes`` (by position) that the history holds made by ``source``
    (``Provider.image_source``), its stored images in output order; the others are left out.
    Reads the index, then only the matching images (checked against their records). Blocking
    file I/O: from async code, call it through ``asyncio.to_thread``."""
    keys = {i: recipe_key(params, source) for i, params in enumerate(recipes)}
    wanted = {i: key for i, key in keys.items() if key is not None}
    if not wanted:
        return {}
    stems = history.index.with_recipes(wanted.values())
    found: dict[int, list[StoredImage]] = {}
    opened: dict[str, list[StoredImage] | None] = {}  # a template may repeat an item
    for i, key in wanted.items():
        if key in stems:
            if key not in opened:
                opened[key] = _complete_set(history, stems[key], recipes[i].num_outputs)
            images = opened[key]
            if images is not None:
                found[i] = images
    return found


def find_repeat(
    history: History, recipe: FluxParams, source: str | None
) -> list[StoredImage] | None:
    """``find_repeats`` for one recipe: its stored images, or None (then it is made, and paid)."""
    return find_repeats(history, [recipe], source).get(0)


def _complete_set(history: History, stems: Sequence[str], count: int) -> list[StoredImage] | None:
    """One image per output index 0..count-1, the newest of each (``stems`` newest first);
    None when one is missing or unreadable."""
    by_index: dict[int, StoredImage] = {}
    for stem in stems:
        try:
            image = history.open(stem)
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.info("history entry %s cannot be served as a repeat (%s)", stem, error)
            continue
        by_index.setdefault(image.index, image)
        if len(by_index) == count:
            break
    if set(by_index) != set(range(count)):
        return None
    return [by_index[index] for index in range(count)]
