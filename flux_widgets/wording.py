"""The words a person reads: counts with their plurals, and any error as a sentence.

Every place the studio (``widgets/``) or the ``%%flux`` magic shows a failure goes through
``describe_error``, so none shows a Python class name, an ``[Errno 2]`` or a traceback: a
``FluxError`` already carries text written for people (``errors.py``); an ``OSError`` is said
as what happened to which file and what to do; a ``ValueError`` (refused input) is its own
message; anything else is a plain sentence. The technical detail (class name, raw OS text)
goes into ``Words.detail``, for a tooltip or the log, never into the sentence.

It sits at the root, beside ``errors.py``, because the magic (a root module) and the widgets
both use it, and the widgets may not be imported by the magic.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from typing import NamedTuple

from .errors import FluxError
from .transport.redaction import redact_secrets


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``"0 images"``, ``"1 image"``, ``"1,234 images"``: a count and its noun, agreeing.

    ``plural_noun`` for a noun that does not just take an ``s`` (``"entry"``, ``"entries"``).
    """
    word = noun if count == 1 else (plural_noun or f"{noun}s")
    return f"{count:,} {word}"


def setting(value: object) -> str:
    """A setting's value as people read it: ``"on"``/``"off"`` for a switch (go fast), else
    the value as typed (``"16:9"``, ``28``), never Python's ``True``/``False``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


class Words(NamedTuple):
    """An error as people read it: ``text`` (one sentence, no class names) and ``detail``
    (the technical form, for a tooltip or the log; the key redacted; "" when the text is all
    there is, as for refused input)."""

    text: str
    detail: str


# errno -> (what happened, with {file}; what to do). The common ones a notebook user meets
# when a history, style or export folder is wrong; others fall back to the OS's own words.
_OS_WORDS: dict[int, tuple[str, str]] = {
    errno.ENOENT: ("{file} does not exist", "check the path, or create the folder first"),
    errno.EACCES: (
        "no permission to use {file}",
        "choose a folder you can write to, or change its permissions",
    ),
    errno.EPERM: (
        "the system did not allow using {file}",
        "choose a folder you can write to, or change its permissions",
    ),
    errno.ENOSPC: ("the disk holding {file} is full", "free some space, then try again"),
    errno.EDQUOT: ("the disk quota is used up ({file})", "free some space, then try again"),
    errno.EROFS: ("{file} is on a read-only disk", "choose a folder on a writable disk"),
    errno.EISDIR: ("{file} is a folder, not a file", "give the path of a file"),
    errno.ENOTDIR: ("part of the path {file} is a file, not a folder", "check the path"),
    errno.EEXIST: ("{file} already exists", "choose another name, or move the old one away"),
    errno.ENAMETOOLONG: ("the name {file} is too long", "choose a shorter name or folder"),
    errno.EMFILE: ("too many files are open", "close other programs or kernels, then try again"),
    errno.EIO: ("the disk could not read or write {file}", "check the disk, then try again"),
}


def describe_error(error: BaseException, doing: str = "") -> Words:
    """``error`` in words for a person, after ``doing`` (what failed: ``"could not read the
    history"``) when given. Never raises; the text holds no class name, no ``[Errno n]``."""
    detail = redact_secrets(f"{type(error).__name__}: {error}")
    if isinstance(error, ValueError) and str(error):
        # Refused input (TemplateError and StyleError are ValueErrors too) says what was
        # wrong, in words; its type would add nothing but a class name: no detail to hover.
        said, detail = str(error), ""
    elif isinstance(error, FluxError):  # its message is already written for people
        said = str(error)
        # What a provider's support asks for: which prediction, which request.
        ids = (("prediction", error.prediction_id), ("request", getattr(error, "request_id", None)))
        detail += "".join(f" ({kind} {value})" for kind, value in ids if value)
    elif isinstance(error, OSError):
        said = _os_words(error)
    elif isinstance(error, RuntimeError) and str(error):  # a widget used outside a kernel
        said, detail = str(error), ""
    elif isinstance(error, sqlite3.Error):
        said = f"the history's index failed ({error}); try again, or reopen the history"
    else:
        said = (
            "something unexpected went wrong; try again, and if it happens again, report it "
            "with the details"
        )
    text = f"{doing}: {said}" if doing else said
    return Words(redact_secrets(text), detail)


def error_text(error: BaseException, doing: str = "") -> str:
    """The sentence of ``describe_error``: for a status line or the magic's output."""
    return describe_error(error, doing).text


# A failure's kind in a word or two, by its error type's name (what the usage ledger records,
# spending/ledger.py): the usage table says "key refused 2", not "AuthenticationError 2".
_FAILURE_WORDS = {
    "FluxError": "failed",
    "MissingAPIKeyError": "no key",
    "APIError": "API error",
    "AuthenticationError": "key refused",
    "InsufficientCreditError": "no credit",
    "AllowanceExhaustedError": "free allowance used up",
    "RateLimitError": "too many requests",
    "InvalidRequestError": "request refused",
    "ServerError": "server error",
    "PredictionError": "ended without images",
    "PredictionFailedError": "failed on the server",
    "ContentFilteredError": "refused by the safety filter",
    "PredictionCanceledError": "cancelled",
    "PredictionAbortedError": "expired in the queue",
    "FluxTimeoutError": "timed out",
    "FluxConnectionError": "no connection",
    "ClientClosedError": "client closed",
    "ProtocolError": "unexpected answer",
    "DownloadError": "download failed",
    "OutputExpiredError": "output expired",
    "ImageDecodeError": "damaged image",
    "RecipeNotEmbeddedError": "recipe not embedded",
    "TemplateError": "bad template",
    "StyleError": "bad style",
    "HistoryImportError": "import refused",
    "BudgetExceededError": "over the spending cap",
    "cancelled": "cancelled",
}


def failure_words(kind: str) -> str:
    """The words for a failure recorded by its error type's name (``"AuthenticationError"`` ->
    ``"key refused"``); ``"other failure"`` for a type not in the error tree."""
    return _FAILURE_WORDS.get(kind, "other failure")


def _os_words(error: OSError) -> str:
    name = error.filename if error.filename is not None else error.filename2
    file = os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else ""
    if error.errno == errno.EEXIST and file and os.path.isfile(file):
        # mkdir(exist_ok=True) says "exists" when a file stands where a folder should be.
        return f"{file} is a file, not a folder; choose another folder, or move the file away"
    if error.errno in _OS_WORDS:
        what, todo = _OS_WORDS[error.errno]
        return f"{what.format(file=file or 'the file').strip()}; {todo}"
    reason = (error.strerror or "").strip()
    if error.errno is None and error.args and not reason:
        # An OSError raised with a message of its own (Pillow's "cannot identify image file").
        reason = str(error)
    if isinstance(error, TimeoutError):
        reason = reason or "it took too long"
    reason = reason[:1].lower() + reason[1:] if reason else "the system refused"
    where = f" ({file})" if file else ""
    return f"{reason}{where}; check the path and try again"
