"""Old import paths of modules that moved into packages, kept working for one release.

``import flux_widgets.templates`` still works and warns (``DeprecationWarning``) with the new
path, ``flux_widgets.prompts.templates``. Public names import from ``flux_widgets`` itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

MOVED = {
    "accounting": "spending.ledger",
    "auth": "transport.auth",
    "budget": "spending.budget",
    "downloads": "transport.downloads",
    "grid_plan": "prompts.grid_plan",
    "history_index": "history.index",
    "http_errors": "transport.http_errors",
    "lifecycle": "transport.lifecycle",
    "matrix": "prompts.matrix",
    "metadata": "recipes.metadata",
    "network": "transport.network",
    "plans": "prompts.plans",
    "polling": "transport.polling",
    "prices": "spending.prices",
    "progress": "prompts.progress",
    "retry": "transport.retry",
    "styles": "prompts.styles",
    "templates": "prompts.templates",
    "usage": "spending.usage",
}
"""Old module (under ``flux_widgets.``) -> its new home."""


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The new module is already executed: the old name only points at it."""


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        package, _, name = fullname.partition(".")
        if package != __package__ or name not in MOVED:
            return None
        new = f"{__package__}.{MOVED[name]}"
        warnings.warn(
            f"{fullname} moved to {new}; import public names from flux_widgets",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    """Let the old paths import (once per process)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
