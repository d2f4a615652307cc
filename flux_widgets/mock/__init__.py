"""The fake FLUX.1 [schnell] API: offline demos, tests and benchmarks without a key or a bill.

``create_app(config)`` is the ASGI app; ``MockServer(config)`` serves it over real HTTP in a
background thread; ``python -m flux_widgets.mock`` serves it from the command line. Faults are
described in ``flux_widgets.mock.faults``.

The app and the server need starlette and uvicorn (the ``mock`` extra); they are imported on
first use, so the package itself, its configuration and its command line's install hint work
without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import MockConfig
from .faults import FaultConfig

if TYPE_CHECKING:
    from .app import create_app
    from .server import MockServer

__all__ = ["FaultConfig", "MockConfig", "MockServer", "create_app"]

_LAZY = {"create_app": "app", "MockServer": "server"}


def __getattr__(name: str) -> Any:
    # An ImportError naming starlette/uvicorn reaches the caller, who turns it into the hint.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
