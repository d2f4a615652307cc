"""The fake FLUX.1 [schnell] API: offline demos, tests and benchmarks without a key or a bill.

``create_app(config)`` is the ASGI app; ``MockServer(config)`` serves it over real HTTP in a
background thread; ``python -m flux_widgets.mock`` serves it from the command line. Faults are
described in ``flux_widgets.mock.faults``.
"""

from .app import create_app
from .config import MockConfig
from .faults import FaultConfig
from .server import MockServer

__all__ = ["FaultConfig", "MockConfig", "MockServer", "create_app"]
