"""Words for people: every error of the tree, file errors, refused input and surprises said
without a class name or an ``[Errno n]``; counts with their plurals; failures in the usage table
in words. The studio's and the magic's entry points are tested where they live (tests/widgets/,
tests/test_magics*.py)."""

from __future__ import annotations

import errno
import inspect
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from html_text import hover_text, visible_text

from flux_widgets import errors
from flux_widgets.transport.redaction import register_secret
from flux_widgets.widgets._html import error_html
from flux_widgets.wording import describe_error, error_text, failure_words, plural

ERROR_CLASSES = sorted(
    (
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.FluxError) and cls.__module__ == errors.__name__
    ),
    key=lambda cls: cls.__name__,
)
# Extra arguments some errors require (the rest take a message alone).
_REQUIRED: dict[type[Exception], dict[str, Any]] = {
    errors.BudgetExceededError: {"estimate": 0.5, "max_spend": 1.0, "spent": 0.7, "reserved": 0.0},
    errors.AllowanceExhaustedError: {"resets_at": datetime(2026, 12, 5, tzinfo=timezone.utc)},
}
# Names a person must never read: the error tree's, Python's own, httpx's.
CLASS_NAMES = {cls.__name__ for cls in ERROR_CLASSES} | {
    "Exception",
    "OSError",
    "ValueError",
    "FileNotFoundError",
    "PermissionError",
    "FileExistsError",
    "NotADirectoryError",
    "RuntimeError",
    "KeyError",
    "OperationalError",
    "ConnectError",
    "ReadTimeout",
}


def _error(cls: type[Exception]) -> Exception:
    return cls("the server said no", **_REQUIRED.get(cls, {}))


def assert_for_people(text: str) -> None:
    assert text.strip(), "an error must say something"
    named = [name for name in CLASS_NAMES if name in text]
    assert not named, f"class names in {text!r}: {named}"
    assert "[Errno" not in text and "Traceback" not in text, text


def test_the_walk_covers_the_whole_error_tree() -> None:
    assert len(ERROR_CLASSES) >= 25
    assert errors.StyleError in ERROR_CLASSES and errors.FluxError in ERROR_CLASSES


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_of_the_tree_is_said_by_its_message_without_its_class_name(
    cls: type[Exception],
) -> None:
    words = describe_error(_error(cls), "could not generate")
    assert words.text == "could not generate: the server said no"
    assert_for_people(words.text)
    # Refused input (the ValueErrors: a template, a style, an import) is its message alone;
    # the others keep their type for the hover text (a bug report's detail).
    detail = "" if issubclass(cls, ValueError) else f"{cls.__name__}: the server said no"
    assert words.detail == detail
    html = error_html(_error(cls))
    assert visible_text(html) == "the server said no"
    assert hover_text(html) == ([detail] if detail else [])


@pytest.mark.parametrize(
    "cls",
    [cls for cls in ERROR_CLASSES if not cls.__name__.startswith("_")],  # raised as themselves
    ids=lambda cls: cls.__name__,
)
def test_every_error_of_the_tree_has_words_in_the_usage_table(cls: type[Exception]) -> None:
    said = failure_words(cls.__name__)
    assert said != "other failure"
    assert_for_people(said)


def test_an_unknown_failure_in_the_usage_table_is_other() -> None:
    assert failure_words("KeyError") == "other failure"
    assert failure_words("cancelled") == "cancelled"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/history"),
            "could not read: /data/history does not exist; check the path, or create the folder",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/data/styles/x.json"),
            "could not read: no permission to use /data/styles/x.json; choose a folder you can "
            "write to, or change its permissions",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "/data/a.png"),
            "could not read: the disk holding /data/a.png is full; free some space, then try again",
        ),
        (
            OSError(errno.EROFS, "Read-only file system", "/mnt/cd"),
            "could not read: /mnt/cd is on a read-only disk; choose a folder on a writable disk",
        ),
        (
            OSError(errno.ENOTDIR, "Not a directory", "/data/file/x"),
            "could not read: part of the path /data/file/x is a file, not a folder; check the path",
        ),
        (
            OSError(errno.ENOENT, "No such file or directory"),  # no file name
            "could not read: the file does not exist; check the path, or create the folder first",
        ),
        (
            OSError(errno.EBADF, "Bad file descriptor", "/data/a"),  # not in the table
            "could not read: bad file descriptor (/data/a); check the path and try again",
        ),
        (
            OSError("cannot identify image file"),  # Pillow's: a message, no errno
            "could not read: cannot identify image file; check the path and try again",
        ),
    ],
    ids=[
        "missing",
        "permission",
        "disk-full",
        "read-only",
        "not-a-folder",
        "no-name",
        "other",
        "message",
    ],
)
def test_file_errors_say_what_happened_to_which_file_and_what_to_do(
    error: OSError, expected: str
) -> None:
    text = error_text(error, "could not read")
    assert text.replace(" first", "") == expected.replace(" first", "")
    assert_for_people(text)
    assert "[Errno" in describe_error(error).detail or error.errno is None  # kept for the tooltip


def test_a_file_where_a_folder_should_be_is_said_so(tmp_path: Path) -> None:
    blocker = tmp_path / "history"
    blocker.write_text("not a folder")
    with pytest.raises(FileExistsError) as caught:
        blocker.mkdir(parents=True, exist_ok=True)
    text = error_text(caught.value, "not saved to the history")
    assert text == (
        f"not saved to the history: {blocker} is a file, not a folder; choose another folder, "
        "or move the file away"
    )


def test_the_hover_text_of_an_api_error_names_its_prediction_and_request() -> None:
    error = errors.ServerError("the API failed with 502", request_id="req-9")
    error.prediction_id = "p-42"
    words = describe_error(error)
    assert words.text == "the API failed with 502"
    assert words.detail == "ServerError: the API failed with 502 (prediction p-42) (request req-9)"


def test_refused_input_is_its_own_message() -> None:
    error = ValueError("cloudflare cannot give output_format='webp': it supports 'jpg'")
    assert error_text(error) == "cloudflare cannot give output_format='webp': it supports 'jpg'"
    assert visible_text(error_html(error)) == error_text(error)
    assert hover_text(error_html(error)) == []  # its type would only add a class name
    assert error_text(RuntimeError("no running asyncio event loop")).startswith("no running")


@pytest.mark.parametrize(
    "error",
    [
        Exception("boom"),
        KeyError("seed"),
        AttributeError("'NoneType' object has no attribute 'x'"),
        ValueError(""),
        TypeError("unsupported operand type(s)"),
    ],
    ids=["Exception", "KeyError", "AttributeError", "empty-ValueError", "TypeError"],
)
def test_a_surprise_is_a_plain_sentence_with_the_detail_in_the_hover_text(
    error: Exception,
) -> None:
    words = describe_error(error, "could not open the image")
    assert words.text.startswith("could not open the image: something unexpected went wrong;")
    assert "report it" in words.text
    assert_for_people(words.text)
    assert "NoneType" not in words.text
    assert words.detail.startswith(type(error).__name__)
    assert hover_text(error_html(error)) == [words.detail]


def test_a_history_index_error_names_the_index() -> None:
    text = error_text(sqlite3.OperationalError("database is locked"), "could not read the history")
    assert text.startswith("could not read the history: the history's index failed (database")
    assert_for_people(text)


def test_no_key_reaches_the_text_or_the_hover_text() -> None:
    key = "sk-words-secret-123456789"

    class Owner:  # the secret lives as long as its owner (a weak reference)
        pass

    owner = Owner()
    register_secret(key, owner)
    error = ValueError(f"bad header value {key}")
    words = describe_error(error)
    html = error_html(error)
    assert key not in words.text and key not in words.detail and key not in html
    assert key[:8] not in html


def test_the_html_is_escaped_text_and_attribute() -> None:
    html = error_html(errors.PredictionFailedError("a <b>bold</b> 'claim'"), "x & y")
    assert "<b>" not in html and visible_text(html) == "x & y: a <b>bold</b> 'claim'"
    assert hover_text(html) == ["PredictionFailedError: a <b>bold</b> 'claim'"]


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 images"), (1, "1 image"), (2, "2 images"), (1234, "1,234 images")],
)
def test_a_count_and_its_noun_agree(count: int, expected: str) -> None:
    assert plural(count, "image") == expected


def test_a_noun_with_its_own_plural() -> None:
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(0, "entry", "entries") == "0 entries"
    assert plural(2, "generation") == "2 generations"
