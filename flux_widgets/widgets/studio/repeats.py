"""Recipes already made: exact repeats served from the history, and the warning without one.

With a history, an exact repeat of a deterministic recipe (records.py ``recipe_key``: fixed
seed, go_fast off, the same service) is shown from it at no cost (``served``), labelled
``FROM_HISTORY``, with "make again" to pay for a fresh one. Without a history
(``history=False``), the studio can only warn before such a repeat (``FinishedRecipes``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

from ...client import FluxClient
from ...history.repeats import find_repeats
from ...history.store import History, StoredImage
from ...params import FluxParams

logger = logging.getLogger("flux_widgets")

FROM_HISTORY = "from history"
"""What a served image's job row, gallery tile and viewer title say."""
# Finished recipes remembered for the repeat warning (a set of small frozen dataclasses).
REMEMBERED_RECIPES = 10_000


def served(
    history: History | None, client: FluxClient, recipes: Sequence[FluxParams]
) -> dict[int, list[StoredImage]]:
    """The stored images of each of ``recipes`` (by position) that ``client`` would only make
    again: its provider's source (the mock's own, for a client on the mock) made them with
    the same deterministic recipe; none when the history cannot be read. Blocking file I/O
    (``asyncio.to_thread`` from a loop)."""
    if history is None:
        return {}
    source = client.provider_info.image_source(mock=client.is_mock)
    try:
        return find_repeats(history, recipes, source)
    except (OSError, sqlite3.Error):
        # The history cannot answer now (a locked or unreadable folder): make the images, as
        # a studio without a history does; the history panel reports the folder's trouble.
        logger.warning("could not look for exact repeats in the history", exc_info=True)
        return {}


class FinishedRecipes:
    """Recipes of finished generations (and of the history's images), newest last."""

    def __init__(self, limit: int = REMEMBERED_RECIPES) -> None:
        self.limit = limit
        # A dict keeps insertion order for trimming the oldest.
        self._recipes: dict[FluxParams, None] = {}

    def remember(self, params: FluxParams) -> None:
        recipes = self._recipes
        recipes.pop(params, None)
        recipes[params] = None
        while len(recipes) > self.limit:
            del recipes[next(iter(recipes))]

    def is_repeat(self, params: FluxParams) -> bool:
        """Whether ``params`` would exactly repeat a finished generation: same recipe, same
        seed, and go_fast off (fp8's non-determinism is what makes a repeat worth paying for
        with go_fast on)."""
        return params.seed is not None and not params.go_fast and params in self._recipes
