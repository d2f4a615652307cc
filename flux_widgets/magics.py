"""``%%flux``: the cell body is the prompt, the line holds the options, the images show below.

```
%load_ext flux_widgets
%%flux --seed 7 --aspect-ratio 16:9 -n 2
a paper boat on calm water at sunrise
```
A cell magic is synchronous, yet the kernel's event loop is already running on this thread:
``asyncio.run`` here would fail and ``nest_asyncio`` would break other libraries. So the
generation runs on a worker thread with its own loop, and an interrupt (the kernel's stop
button) cancels it there, which cancels the prediction on the server too.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import shlex
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from .client import FluxClient
from .errors import FluxError, MissingAPIKeyError
from .images import GeneratedImage
from .params import ASPECT_RATIOS, MEGAPIXELS, OUTPUT_FORMATS, FluxParams
from .recipes import file_name

T = TypeVar("T")

_MOCK_NOTE = (
    "flux: no API key configured (set COMETAPI_KEY), so these are placeholder images from the "
    "built-in mock API"
)
# How long an interrupted generation gets to cancel its prediction on the server.
_CANCEL_GRACE = 5.0


class _HelpShown(Exception):
    """``--help`` printed the usage: the magic ends quietly."""


class _UsageError(Exception):
    """Stands in for IPython's UsageError when IPython is not importable (type checking)."""


def _usage_error(message: str) -> Exception:
    try:
        from IPython.core.error import UsageError
    except ImportError:  # pragma: no cover - the magic only runs inside IPython
        return _UsageError(message)
    error: Exception = UsageError(message)
    return error


class _ArgumentParser(argparse.ArgumentParser):
    # argparse would print usage and call sys.exit, which IPython shows as a SystemExit wall.
    def error(self, message: str) -> NoReturn:
        raise _usage_error(f"%%flux: {message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status == 0:
            raise _HelpShown  # --help: the usage has been printed
        raise _usage_error(message or "%%flux: invalid options")


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="%%flux",
        description="Generate images with FLUX.1 [schnell]; the cell body is the prompt.",
        allow_abbrev=False,
    )
    parser.add_argument("--seed", type=int, help="seed for reproducible images (default: random)")
    parser.add_argument(
        "--aspect-ratio", "--ar", dest="aspect_ratio", choices=ASPECT_RATIOS, metavar="W:H"
    )
    parser.add_argument("-n", "--num-outputs", dest="num_outputs", type=int, metavar="N")
    parser.add_argument("--steps", dest="num_inference_steps", type=int, metavar="N")
    parser.add_argument("--format", dest="output_format", choices=OUTPUT_FORMATS)
    parser.add_argument("--quality", dest="output_quality", type=int, metavar="0-100")
    parser.add_argument("--megapixels", choices=MEGAPIXELS)
    parser.add_argument(
        "--no-go-fast", dest="go_fast", action="store_false", default=None, help="exact bf16"
    )
    parser.add_argument(
        "--disable-safety-checker", dest="disable_safety_checker", action="store_true", default=None
    )
    parser.add_argument("--mock", action="store_true", help="use the built-in mock API")
    parser.add_argument("--save", metavar="DIR", help="also save the images (recipe embedded)")
    return parser


_PARAM_OPTIONS = (
    "seed",
    "aspect_ratio",
    "num_outputs",
    "num_inference_steps",
    "output_format",
    "output_quality",
    "megapixels",
    "go_fast",
    "disable_safety_checker",
)


def flux(line: str, cell: str) -> list[GeneratedImage] | None:
    """The ``%%flux`` cell magic: generate, show, and return the images (None on an API error).

    Bad options or parameters raise a UsageError naming them (no traceback); errors from the
    API are printed to stderr as one line.
    """
    try:
        params, options = parse_magic(line, cell)
    except _HelpShown:
        return None
    client = _client(force_mock=options.mock)
    started = time.monotonic()
    try:
        images = run_in_worker_thread(lambda: _generate(client, params))
    except FluxError as error:
        print(f"flux: {type(error).__name__}: {error}", file=sys.stderr)
        return None
    elapsed = time.monotonic() - started
    if client.is_mock and not options.mock:
        print(_MOCK_NOTE)
    seeds = ", ".join(str(image.seed) for image in images)
    print(f"{len(images)} image(s) in {elapsed:.1f} s · seed {seeds}")
    if options.save:
        folder = Path(options.save).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        for image in images:
            path = image.save(folder / file_name(image))
            print(f"saved {path}")
    from IPython.display import display

    display(*images)  # type: ignore[no-untyped-call,unused-ignore]
    return images


def parse_magic(line: str, cell: str) -> tuple[FluxParams, argparse.Namespace]:
    """Validated parameters and the other options of one ``%%flux`` call."""
    try:
        arguments = shlex.split(line)
    except ValueError as error:
        raise _usage_error(f"%%flux: cannot parse the options ({error})") from None
    options = _parser().parse_args(arguments)
    prompt = cell.strip()
    if not prompt:
        raise _usage_error("%%flux: the cell is empty: write the prompt in the cell body")
    values = {name: getattr(options, name) for name in _PARAM_OPTIONS}
    try:
        params = FluxParams(prompt=prompt, **{k: v for k, v in values.items() if v is not None})
    except ValueError as error:
        raise _usage_error(f"%%flux: {error}") from None
    return params, options


def _client(*, force_mock: bool) -> FluxClient:
    if force_mock:
        return FluxClient.mock()
    try:
        return FluxClient()
    except MissingAPIKeyError:
        return FluxClient.mock()


async def _generate(client: FluxClient, params: FluxParams) -> list[GeneratedImage]:
    async with client:
        return await client.generate(params)


def run_in_worker_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh thread with its own event loop, blocking.

    Safe on a thread whose loop is already running (the kernel's). On KeyboardInterrupt the
    coroutine is cancelled in its thread, given a moment to clean up, and the interrupt goes on.
    """
    done: concurrent.futures.Future[T] = concurrent.futures.Future()
    started = threading.Event()
    handles: dict[str, Any] = {}

    async def main() -> T:
        handles["loop"] = asyncio.get_running_loop()
        handles["task"] = asyncio.current_task()
        started.set()
        return await make()

    def target() -> None:
        try:
            done.set_result(asyncio.run(main()))
        except BaseException as error:  # handed to the waiting thread, which re-raises it
            done.set_exception(error)
        finally:
            started.set()

    thread = threading.Thread(target=target, name="flux-magic", daemon=True)
    thread.start()
    try:
        while True:
            # Short waits: a blocked lock acquire is not interruptible everywhere (Windows).
            try:
                return done.result(timeout=0.2)
            except concurrent.futures.TimeoutError:
                continue
    except KeyboardInterrupt:
        started.wait(_CANCEL_GRACE)
        loop, task = handles.get("loop"), handles.get("task")
        if loop is not None and task is not None:
            # RuntimeError: it finished meanwhile and closed its loop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
            thread.join(_CANCEL_GRACE)
        raise


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%flux`` (``%load_ext flux_widgets`` calls this)."""
    ipython.register_magic_function(flux, magic_kind="cell", magic_name="flux")
