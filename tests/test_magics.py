"""%%flux: options become parameters, generation runs off the kernel's loop, errors are short."""

from __future__ import annotations

import _thread
import asyncio
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import flux_widgets
from flux_widgets import FluxParams
from flux_widgets.history.store import History, StoredImage
from flux_widgets.magics import parse_magic, run_in_worker_thread
from flux_widgets.mock import MockConfig, MockServer


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig(generation_time=0.05)) as server:
        yield server


@pytest.fixture
def shell(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    for name in ("COMETAPI_KEY", "FLUX_API_KEY", "FLUX_PROVIDER", "FLUX_WIDGETS_MOCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLUX_BASE_URL", server.url)
    shell = InteractiveShell.instance()
    # `%load_ext flux_widgets` once the package delegates to flux_widgets.magics.
    extension = "flux_widgets" if hasattr(flux_widgets, "load_ipython_extension") else None
    shell.run_line_magic("load_ext", extension or "flux_widgets.magics")
    yield shell
    InteractiveShell.clear_instance()


def test_cell_magic_returns_images_made_with_the_given_options(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    images = shell.run_cell_magic(
        "flux",
        "--seed 7 --aspect-ratio 16:9 -n 2 --steps 3 --format png --megapixels 0.25 --no-go-fast",
        "a paper boat\non calm water\n",
    )

    # Kept in the history (the default folder) as they arrived: the stored copies.
    assert [type(image) for image in images] == [StoredImage, StoredImage]
    assert images[0].params == FluxParams(
        prompt="a paper boat\non calm water",
        seed=7,
        aspect_ratio="16:9",
        num_outputs=2,
        num_inference_steps=3,
        output_format="png",
        megapixels="0.25",
        go_fast=False,
    )
    assert (images[0].width, images[0].height, images[0].format) == (672, 384, "png")
    out = capsys.readouterr().out
    assert "2 images in" in out and "seed 7" in out


async def test_runs_while_the_calling_threads_event_loop_is_running(
    shell: InteractiveShell,
) -> None:
    asyncio.get_running_loop()  # as in a kernel: a loop is running on this very thread
    images = shell.run_cell_magic("flux", "--quality 90 --disable-safety-checker", "a crane")
    assert images[0].params.output_quality == 90
    assert images[0].params.disable_safety_checker is True


def test_mock_option_and_missing_key_fall_back_to_the_mock(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    images = shell.run_cell_magic("flux", "--mock --megapixels 0.25", "a fox")
    assert len(images) == 1
    monkeypatch.delenv("FLUX_BASE_URL")
    images = shell.run_cell_magic("flux", "--megapixels 0.25", "a fox")
    assert len(images) == 1
    assert "no API key configured" in capsys.readouterr().out


def test_a_save_folder_that_cannot_be_made_is_said_in_words_and_the_images_still_come_back(
    shell: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the folder should be")
    images = shell.run_cell_magic("flux", f"--megapixels 0.25 --save {blocker}", "a fox")
    assert len(images) == 1  # paid for: returned (and shown) even though saving failed
    err = capsys.readouterr().err
    assert err == (
        f"flux: could not save into {blocker}: {blocker} is a file, not a folder; choose "
        "another folder, or move the file away\n"
    )


def test_load_ext_through_the_shell_registers_the_magic(shell: InteractiveShell) -> None:
    result = shell.run_cell("%%flux --megapixels 0.25 --seed 3\na lantern")
    assert result.success
    assert result.result[0].seed == 3


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("--sed 7", "--sed"),
        ("--steps 9", "num_inference_steps"),
        ("--aspect-ratio 5:3", "--aspect-ratio"),
        ("--seed seven", "--seed"),
        ("-n 5", "num_outputs"),
        ("--quality 101", "output_quality"),
        ("--seed 'unclosed", "cannot parse"),
    ],
)
def test_a_bad_option_is_a_usage_error_that_names_it(
    shell: InteractiveShell, line: str, named: str
) -> None:
    with pytest.raises(UsageError, match=named):
        shell.run_cell_magic("flux", line, "a boat")


def test_an_empty_cell_asks_for_a_prompt() -> None:
    with pytest.raises(UsageError, match="prompt"):
        parse_magic("--seed 1", "  \n")


def test_an_api_error_is_one_line_on_stderr(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockServer(MockConfig(api_key="sk-the-right-key")) as guarded:
        monkeypatch.setenv("FLUX_BASE_URL", guarded.url)
        monkeypatch.setenv("COMETAPI_KEY", "sk-a-wrong-key")
        result = shell.run_cell_magic("flux", "", "a boat")
    assert result is None
    err = capsys.readouterr().err
    assert err.startswith("flux: the API rejected the key (401") and err.count("\n") == 1
    assert "AuthenticationError" not in err  # words for people, no class name
    assert "sk-a-wrong-key" not in err


def test_worker_thread_propagates_results_and_errors() -> None:
    async def ok() -> int:
        return 41 + 1

    async def fail() -> int:
        raise KeyError("x")

    assert run_in_worker_thread(ok) == 42
    with pytest.raises(KeyError):
        run_in_worker_thread(fail)


@pytest.fixture
def sigint_raises_keyboard_interrupt() -> Iterator[None]:
    """SIGINT handled as a kernel handles it (KeyboardInterrupt), for the test's duration.

    A process started in the background (``make test &``, ``nohup``, a CI runner without a
    terminal) inherits SIGINT ignored, and ``_thread.interrupt_main`` then does nothing
    (Python 3.10+): the interrupt the test sends would be lost."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("sigint_raises_keyboard_interrupt")
def test_an_interrupt_cancels_the_generation_in_its_thread() -> None:
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    timer = threading.Timer(0.2, _thread.interrupt_main)  # the kernel's stop button
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_in_worker_thread(slow)
    assert cancelled.wait(2)


def test_every_image_of_the_magic_is_kept_in_the_history_once_unless_no_history(
    shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_WIDGETS_HISTORY_DIR", str(tmp_path))
    small = "--seed 7 --megapixels 0.25 --provider replicate"  # answers at once: fast
    compare = "--seed 7 --provider replicate,together"
    made = [
        *shell.run_cell_magic("flux", small, "a kept boat\n"),
        *shell.run_cell_magic("flux", small, "a {red|blue} kept boat\n"),  # a batch
        *shell.run_cell_magic("flux", compare, "a compared boat\n"),
    ]
    assert len(shell.run_cell_magic("flux", f"{small} --no-history", "an unkept boat\n")) == 1
    shell.run_cell_magic("flux", f"{compare} --no-history", "unkept\n")

    stored = History(tmp_path).load()
    assert sorted((i.prediction_id, i.index) for i in stored) == sorted(
        (i.prediction_id, i.index) for i in made
    )
    assert sorted({i.params.prompt for i in stored}) == [
        "a blue kept boat",
        "a compared boat",
        "a kept boat",
        "a red kept boat",
    ]
    assert list((tmp_path / ".jobs").glob("*.json")) == []  # journaled, then closed
