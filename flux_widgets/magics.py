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

``--provider fal`` picks one provider; ``--provider cometapi,fal,together`` runs the same prompt
on each, side by side (``_compare``), with the captions ``PromptGrid`` gives a provider axis
(``prompts/grid_compare.py``): latency, price, and what each provider did not honour.
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
from .images import GeneratedImage, file_name
from .params import FluxParams, random_seed
from .prompts.grid_compare import (
    Ended,
    ProviderClients,
    cell_text,
    price_parts,
    run_cells,
    side_by_side_html,
)
from .prompts.grid_plan import Cell, GridPlan, plan_grid
from .prompts.plans import CONFIRM_ABOVE_GENERATIONS, BatchPlan, plain_fields, plan_batch
from .prompts.progress import BatchProgress
from .prompts.styles import resolve_style
from .prompts.templates import PromptTemplate
from .providers import DEFAULT_PROVIDER, PROVIDERS, Provider, get_provider
from .providers.settings import provider_name
from .schema import SCHEMA, Field
from .wording import error_text, plural

T = TypeVar("T")

_MOCK_NOTE = (
    "flux: no API key configured (set {keys}), so these are placeholder images from the "
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
    for field in SCHEMA:
        _add_option(parser, field)
    parser.add_argument(
        "--provider",
        type=_provider_names,
        metavar="NAME[,NAME...]",
        help=(
            f"which provider to use (default: FLUX_PROVIDER, else {DEFAULT_PROVIDER}); several, "
            f"comma-separated, run the prompt on each side by side ({', '.join(PROVIDERS)})"
        ),
    )
    parser.add_argument(
        "--random",
        dest="random_count",
        type=int,
        metavar="N",
        help="a template: N random picks instead of every combination",
    )
    parser.add_argument("--style", metavar="NAME", help="wrap the prompt in a saved style")
    parser.add_argument(
        "--yes",
        action="store_true",
        help=f"send a template of more than {CONFIRM_ABOVE_GENERATIONS} generations",
    )
    parser.add_argument("--mock", action="store_true", help="use the built-in mock API")
    parser.add_argument("--save", metavar="DIR", help="also save the images (recipe embedded)")
    parser.add_argument(
        "--no-history",
        dest="history",
        action="store_false",
        help="keep these images out of the history (by default every image is kept there)",
    )
    return parser


_PARAM_OPTIONS = tuple(field.name for field in SCHEMA if field.cli_flags)


def _provider_names(text: str) -> list[str]:
    """``--provider``'s value: registered names (any case), separated by commas."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    try:
        resolved = [get_provider(name).name for name in names]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not resolved:
        raise argparse.ArgumentTypeError("give a provider name, or several separated by commas")
    if len(set(resolved)) != len(resolved):
        raise argparse.ArgumentTypeError(f"a provider is named twice in {text!r}")
    return resolved


def _add_option(parser: argparse.ArgumentParser, field: Field) -> None:
    """One ``%%flux`` option for a schema field (the prompt is the cell body: no option)."""
    if not field.cli_flags:
        return
    if field.kind == "bool":
        # The flag flips the default: --no-go-fast, --disable-safety-checker.
        action = "store_false" if field.default else "store_true"
        switch = "off" if field.default else "on"
        parser.add_argument(
            *field.cli_flags,
            dest=field.name,
            action=action,
            default=None,
            help=f"turns {field.name} {switch}: {field.help}",
        )
    elif field.kind == "choice":
        parser.add_argument(
            *field.cli_flags,
            dest=field.name,
            choices=field.choices,
            metavar=field.cli_metavar,
            help=field.help,
        )
    else:
        # --help shows a short range as the value (0-100), a long one as N.
        low_high = f"{field.bounds[0]}-{field.bounds[1]}" if field.bounds else "N"
        metavar = "N" if field.kind == "seed" or len(low_high) > 8 else low_high
        parser.add_argument(
            *field.cli_flags,
            dest=field.name,
            type=int,
            metavar=field.cli_metavar or metavar,
            help=field.help,
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
    if len(options.providers) > 1:
        return _compare(params, options)
    client = _client(force_mock=options.mock, provider=options.provider, history=options.history)
    try:
        plan = _plan(client, params, options)
    except ValueError as error:  # TemplateError, StyleError: before anything is sent
        raise _usage_error(f"%%flux: {error_text(error)}") from None
    started = time.monotonic()
    try:
        if plan is None:
            images = run_in_worker_thread(lambda: _generate(client, params))
        else:
            images = _run_plan(client, plan)
    except FluxError as error:
        print(f"flux: {error_text(error)}", file=sys.stderr)
        return None
    elapsed = time.monotonic() - started
    if client.is_mock and not options.mock:
        print(_MOCK_NOTE.format(keys=" or ".join(_provider(options).key_env_vars)))
    seeds = ", ".join(str(image.seed) for image in images)
    print(f"{plural(len(images), 'image')} in {elapsed:.1f} s · seed {seeds}")
    _save(images, options.save)
    from IPython.display import display

    display(*images)  # type: ignore[no-untyped-call,unused-ignore]
    return images


def parse_magic(line: str, cell: str) -> tuple[FluxParams, argparse.Namespace]:
    """Validated parameters and the other options of one ``%%flux`` call."""
    try:
        arguments = shlex.split(line)
    except ValueError as error:
        raise _usage_error(f"%%flux: cannot parse the options ({error_text(error)})") from None
    options = _parser().parse_args(arguments)
    # One provider: options.provider is its name, as it always was; several: see _compare.
    options.providers = options.provider or []
    options.provider = options.providers[0] if len(options.providers) == 1 else None
    prompt = cell.strip()
    if not prompt:
        raise _usage_error("%%flux: the cell is empty: write the prompt in the cell body")
    given = {name: getattr(options, name) for name in _PARAM_OPTIONS}
    try:
        values = {k: v for k, v in given.items() if v is not None}
        if len(options.providers) > 1:  # each provider's defaults and limits: _compare
            return FluxParams(prompt=prompt, **values), options
        provider = _provider(options)
        # What the user left out takes the provider's default (fal and Together: jpg, not webp).
        params = FluxParams(prompt=prompt, **{**provider.defaults(), **values})
        provider.check(params)
    except ValueError as error:
        raise _usage_error(f"%%flux: {error_text(error)}") from None
    return params, options


def _provider(options: argparse.Namespace) -> Provider:
    """The provider ``--provider`` names, else ``FLUX_PROVIDER``'s, else the default."""
    return get_provider(provider_name(options.provider))


def _client(*, force_mock: bool, provider: str | None = None, history: bool = True) -> FluxClient:
    # Every image kept in the default history folder, as the studio's (--no-history: none).
    if force_mock:
        return FluxClient.mock(provider=provider_name(provider), history=history)
    try:
        return FluxClient(provider=provider, history=history)
    except MissingAPIKeyError:
        return FluxClient.mock(provider=provider_name(provider), history=history)


async def _generate(client: FluxClient, params: FluxParams) -> list[GeneratedImage]:
    async with client:
        return await client.generate(params)


def _plan(client: FluxClient, params: FluxParams, options: argparse.Namespace) -> BatchPlan | None:
    """The batch a templated or styled cell makes (None for a plain prompt, sent as written).

    Prints its count and cost; above ``CONFIRM_ABOVE_GENERATIONS`` generations it needs
    ``--yes``. Raises ``ValueError`` for a bad template, style or count.
    """
    style = resolve_style(options.style)
    plain = style is None and options.random_count is None
    if plain and not PromptTemplate(params.prompt).is_dynamic:
        return None
    given = {name for name in _PARAM_OPTIONS if getattr(options, name) is not None}
    # Options the user typed win over the style's parameters; the style's win over defaults.
    fields = {
        name: value
        for name, value in plain_fields(params).items()
        if name in given or style is None or name not in style.params
    }
    plan = plan_batch(
        params.prompt,
        provider=client.provider,
        style=style,
        random_count=options.random_count,
        prices=client.prices,
        **fields,
    )
    if plan.needs_confirmation() and not options.yes:
        raise ValueError(
            f"{plan.summary()}: add --yes to send more than {CONFIRM_ABOVE_GENERATIONS} generations"
        )
    print(plan.summary())
    return plan


def _run_plan(client: FluxClient, plan: BatchPlan) -> list[GeneratedImage]:
    """Send a batch from the worker thread, with a progress bar made here (the kernel's
    thread, where it displays); failed items are printed, the rest returned in order."""
    counts = BatchProgress(plan.generations, description="%%flux")

    async def run() -> list[tuple[int, list[GeneratedImage]]]:
        done = []
        batch = client.generate_many(plan, progress=counts)
        async with client, contextlib.aclosing(batch):  # a stop sends nothing more
            async for result in batch:
                done.append((result.index, result.images))
                if result.error is not None:
                    error = result.error
                    print(
                        f"flux: {result.params.prompt!r}: {error_text(error)}",
                        file=sys.stderr,
                    )
        return done

    try:
        done = run_in_worker_thread(run)
    finally:
        counts.close()
    return [image for _, images in sorted(done, key=lambda item: item[0]) for image in images]


def _compare(params: FluxParams, options: argparse.Namespace) -> list[GeneratedImage] | None:
    """``--provider a,b,c``: the prompt on each provider at once, shown side by side, one row
    per image (``-n 2``: seeds s and s+1 on every provider); returns the images, row by row.

    A provider without a key says so in its column (the others run); without any key it is the
    mock for all. A template, ``--random`` or ``--style`` is refused (a UsageError): compare
    one prompt as written, or run the template on one provider at a time.
    """
    if (
        options.style is not None
        or options.random_count is not None
        or PromptTemplate(params.prompt).is_dynamic
    ):
        raise _usage_error(
            "%%flux: several providers compare one prompt as written: a template, --random or "
            "--style runs on one provider at a time"
        )
    names: list[str] = options.providers
    plan = _compare_plan(params, options)
    client = _compare_client(options.mock, names)
    client.history = options.history  # and the clients made from it (with_provider)
    clients = ProviderClients(client, names)
    keys = list(plan.cells)

    def cost(cell: Cell) -> float | None:
        return clients.cost(plan.providers[cell], plan.cells[cell])

    print(
        " · ".join(
            [
                f"{plural(len(keys), 'image')} on {plural(len(names), 'provider')}",
                *price_parts(plan, clients, cost),
            ]
        )
    )
    ended: Ended = {}

    async def show(
        cell: Cell, images: list[GeneratedImage], error: FluxError | None, seconds: float | None
    ) -> None:
        ended[cell] = (images, error, seconds)

    async def run() -> None:
        try:
            await run_cells(plan, keys, client, clients, counts, show)
        finally:
            await client.aclose()

    counts = BatchProgress(len(keys), description="%%flux")
    try:
        run_in_worker_thread(run)
    finally:
        counts.close()
    if client.is_mock and not options.mock:
        print(_MOCK_NOTE.format(keys=", ".join(_key_names(names))))
    for cell in keys:
        failure = ended.get(cell, ([], None, None))[1]
        if failure is not None:
            name = plan.providers[cell]
            print(f"flux: {name}: {error_text(failure)}", file=sys.stderr)
    print("\n".join(cell_text(plan, cell, ended, cost) for cell in keys))
    images = [image for cell in keys for image in ended.get(cell, ([], None, None))[0]]
    _save(images, options.save)
    from IPython.display import HTML, display

    display(HTML(side_by_side_html(plan, ended, cost)))  # type: ignore[no-untyped-call,unused-ignore]
    return images


def _compare_plan(params: FluxParams, options: argparse.Namespace) -> GridPlan:
    """A row per image (seeds s, s+1, ...), a column per provider; the options typed (not
    seed, not -n) are the recipe, each provider's defaults fill the rest."""
    seed = params.seed if params.seed is not None else random_seed()
    given = {
        name: getattr(options, name)
        for name in _PARAM_OPTIONS
        if getattr(options, name) is not None and name not in ("seed", "num_outputs")
    }
    try:
        return plan_grid(
            rows=("seed", [seed + n for n in range(params.num_outputs)]),
            columns=("provider", options.providers),
            pages=None,
            matrix=None,
            base={"prompt": params.prompt, **given},
        )
    except ValueError as error:
        raise _usage_error(f"%%flux: {error_text(error)}") from None


def _compare_client(force_mock: bool, names: list[str]) -> FluxClient:
    """The first named provider with a key (the others come from it: ``with_provider``);
    the mock when none has one, or with ``--mock``."""
    if not force_mock:
        for name in names:
            with contextlib.suppress(MissingAPIKeyError):
                return FluxClient(provider=name)
    return FluxClient.mock(provider=names[0])


def _key_names(names: list[str]) -> list[str]:
    return [" or ".join(get_provider(name).key_env_vars) for name in names]


def _save(images: list[GeneratedImage], folder_name: str | None) -> None:
    if not folder_name:
        return
    folder = Path(folder_name).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for image in images:
            print(f"saved {image.save(folder / file_name(image))}")
    except OSError as error:  # said, and the paid images are still shown below
        print(f"flux: {error_text(error, f'could not save into {folder}')}", file=sys.stderr)


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
