"""Serve the mock API from a shell: ``python -m flux_widgets.mock --port 8787``.

Point a client at the printed URL: ``FLUX_BASE_URL=<url>`` for ``FluxClient`` with any provider
(it adds CometAPI's ``/replicate`` prefix itself; fal's queue and Together's images endpoint are
served at their own paths); the official ``replicate`` client takes
``<url>/replicate`` for the CometAPI routes and ``<url>`` for the Replicate ones.
Every fault of ``flux_widgets.mock.faults`` has a flag of the same name (``--query-errors 3``).
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .config import MockConfig
from .faults import FaultConfig

MOCK_EXTRA_HINT = "the mock API needs the mock extra: pip install 'flux-widgets[mock]'"
"""What ``FluxClient.mock()`` says too when starlette or uvicorn is missing."""


def build_parser() -> argparse.ArgumentParser:
    """The command line: server settings, then one flag per fault field."""
    parser = argparse.ArgumentParser(
        prog="python -m flux_widgets.mock",
        description=(
            "Serve a fake FLUX.1 [schnell] API (CometAPI, Replicate, fal queue and Together "
            "images routes)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (%(default)s)")
    parser.add_argument("--port", type=int, default=8787, help="0: a free port (%(default)s)")
    parser.add_argument("--generation-time", type=float, default=0.8, help="seconds to succeeded")
    parser.add_argument("--start-delay", type=float, default=None, help="seconds in 'starting'")
    parser.add_argument("--api-key", default=None, help="demand the key (Bearer; fal: 'Key KEY')")
    parser.add_argument(
        "--sync-wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="honour 'Prefer: wait' on the Replicate routes (/v1)",
    )
    parser.add_argument(
        "--cometapi-sync-wait",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="honour 'Prefer: wait' on the CometAPI routes",
    )
    parser.add_argument("--files-base-url", default=None, help="base of output file URLs")
    parser.add_argument(
        "--urls-base-url",
        default="https://api.replicate.com",
        help="base of the prediction's urls.* (default: %(default)s)",
    )
    parser.add_argument("--file-ttl", type=float, default=3600.0, help="seconds files are kept")
    parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="log every request",
    )
    faults = parser.add_argument_group("faults (see flux_widgets.mock.faults)")
    for field in dataclasses.fields(FaultConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.type == "bool":
            faults.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default)
        else:
            kind = int if field.type == "int" else float
            faults.add_argument(flag, type=kind, default=field.default, metavar=field.type.upper())
    return parser


def config_from_args(args: argparse.Namespace) -> MockConfig:
    """The MockConfig the parsed flags describe."""
    faults = FaultConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(FaultConfig)})
    return MockConfig(
        generation_time=args.generation_time,
        start_delay=args.start_delay,
        api_key=args.api_key,
        sync_wait_replicate=args.sync_wait,
        sync_wait_cometapi=args.cometapi_sync_wait,
        files_base_url=args.files_base_url,
        urls_base_url=args.urls_base_url,
        file_ttl=args.file_ttl,
        faults=faults,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C or SIGTERM."""
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        from .server import MockServer
    except ImportError as error:  # starlette/uvicorn live in the [mock] extra
        print(f"error: {MOCK_EXTRA_HINT} ({error.name} is missing)", file=sys.stderr)
        return 1
    server = MockServer(config, host=args.host, port=args.port, access_log=args.access_log)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server.start()
    print(f"flux-widgets mock API on {server.url}", flush=True)
    print(f"  FluxClient, FLUX_BASE_URL (either provider): {server.url}", flush=True)
    print(f"  replicate.Client, CometAPI routes:           {server.url}/replicate", flush=True)
    print(f"  replicate.Client, Replicate routes:          {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
