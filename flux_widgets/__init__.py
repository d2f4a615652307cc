"""flux-widgets: FLUX.1 [schnell] text-to-image in Jupyter notebooks.

```python
from flux_widgets import FluxClient, PromptStudio

async with FluxClient() as client:        # COMETAPI_KEY from the environment
    images = await client.generate("a paper boat at sunrise", aspect_ratio="16:9")
```
Widgets load lazily, so the client works where ipywidgets is slow to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _moved
from .client import BatchResult, FluxClient
from .errors import (
    APIError,
    AuthenticationError,
    BudgetExceededError,
    ClientClosedError,
    ContentFilteredError,
    DownloadError,
    FluxConnectionError,
    FluxError,
    FluxTimeoutError,
    HistoryImportError,
    ImageDecodeError,
    InsufficientCreditError,
    InvalidRequestError,
    MissingAPIKeyError,
    OutputExpiredError,
    PredictionAbortedError,
    PredictionCanceledError,
    PredictionError,
    PredictionFailedError,
    ProtocolError,
    RateLimitError,
    RecipeNotEmbeddedError,
    ServerError,
    StyleError,
    TemplateError,
)
from .history import ExportReport, History, HistoryFilter, HistoryRecord, ImportReport
from .images import GeneratedImage
from .params import (
    ASPECT_RATIOS,
    MEGAPIXELS,
    OUTPUT_FORMATS,
    FluxParams,
    PromptOrigin,
    pixel_size,
)
from .prompts.plans import BatchPlan, plan_batch
from .prompts.styles import Style, StyleLibrary
from .prompts.templates import PromptTemplate, Wildcards, expand_prompts
from .recipes import code_snippet, read_origin, read_recipe
from .spending.usage import UsageReport

if TYPE_CHECKING:
    from .widgets import HistoryBrowser, PromptStudio
    from .widgets.grid import PromptGrid

__version__ = "0.1.0"

# Modules that moved into packages keep their old import paths for a release (_moved.py).
_moved.install()

__all__ = [
    "ASPECT_RATIOS",
    "MEGAPIXELS",
    "OUTPUT_FORMATS",
    "APIError",
    "AuthenticationError",
    "BatchPlan",
    "BatchResult",
    "BudgetExceededError",
    "ClientClosedError",
    "ContentFilteredError",
    "DownloadError",
    "ExportReport",
    "FluxClient",
    "FluxConnectionError",
    "FluxError",
    "FluxParams",
    "FluxTimeoutError",
    "GeneratedImage",
    "History",
    "HistoryBrowser",
    "HistoryFilter",
    "HistoryImportError",
    "HistoryRecord",
    "ImageDecodeError",
    "ImportReport",
    "InsufficientCreditError",
    "InvalidRequestError",
    "MissingAPIKeyError",
    "OutputExpiredError",
    "PredictionAbortedError",
    "PredictionCanceledError",
    "PredictionError",
    "PredictionFailedError",
    "PromptGrid",
    "PromptOrigin",
    "PromptStudio",
    "PromptTemplate",
    "ProtocolError",
    "RateLimitError",
    "RecipeNotEmbeddedError",
    "ServerError",
    "Style",
    "StyleError",
    "StyleLibrary",
    "TemplateError",
    "UsageReport",
    "Wildcards",
    "__version__",
    "code_snippet",
    "expand_prompts",
    "load_ipython_extension",
    "pixel_size",
    "plan_batch",
    "read_origin",
    "read_recipe",
]

_LAZY = {
    "HistoryBrowser": "flux_widgets.widgets",
    "PromptStudio": "flux_widgets.widgets",
    "PromptGrid": "flux_widgets.widgets.grid",
}


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext flux_widgets`` registers the ``%%flux`` cell magic."""
    from .magics import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    # ipywidgets costs ~0.2 s to import: only pay for it when a widget is asked for.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flux_widgets' has no attribute {name!r}")
