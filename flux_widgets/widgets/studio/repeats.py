"""The recipes of finished generations, for the warning before an exact, paid repeat."""

from __future__ import annotations

from ...params import FluxParams

# Finished recipes remembered for the repeat warning (a set of small frozen dataclasses).
REMEMBERED_RECIPES = 10_000


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
