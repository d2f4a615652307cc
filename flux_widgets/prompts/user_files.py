"""Text files that users write (wildcard lists, saved styles), read as their authors wrote them.

Editors save text in more than one way: UTF-8 with or without a byte-order mark (Notepad adds
one), UTF-16 (Windows "Unicode", PowerShell's ``>``), sometimes a legacy code page. A mark or a
UTF-16 pattern says the encoding for certain, so such files are decoded; any other file must be
UTF-8. Bytes that are neither are refused with the file, the line and what to do, because a
guess could send ``caf crme`` (or ``café crčme``) to a paid model without anyone noticing.
"""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

from ..errors import FluxError, TemplateError

# UTF-32's little-endian mark begins with UTF-16's: the longer marks are tried first.
_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Control characters that no prompt holds (tab, newline and carriage return aside): a NUL is
# the sign of a file read in the wrong encoding.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def read_user_text(
    path: str | os.PathLike[str],
    *,
    kind: str = "wildcard file",
    error: type[FluxError] = TemplateError,
) -> str:
    """The text of ``path``, without its byte-order mark, decoded as its author saved it.

    UTF-8 (with or without a mark), UTF-16 and UTF-32 with a mark, and UTF-16 without one
    (recognised by its zero bytes) are decoded. Raises ``error`` (naming ``kind``, the file and
    the line) for any other bytes, or for control characters such as NUL in the text.
    ``OSError`` passes through.
    """
    file = Path(path)
    data = file.read_bytes()
    encoding, start = _encoding_of(data)
    try:
        text = data[start:].decode(encoding)
    except UnicodeDecodeError as problem:
        raise _refusal(file, kind, error, data, start, problem) from None
    control = _CONTROL.search(text)
    if control is not None:
        line = text.count("\n", 0, control.start()) + 1
        raise error(
            f"{kind} {file}, line {line}: holds the control character "
            f"U+{ord(control.group()):04X}, which no prompt contains; the file is not text "
            "(or not saved as UTF-8): save it as UTF-8 text"
        )
    return text


def _encoding_of(data: bytes) -> tuple[str, int]:
    """The encoding ``data`` announces or shows, and where its text starts (after the mark)."""
    for mark, encoding in _MARKS:
        if data.startswith(mark):
            return encoding, len(mark)
    if b"\x00" in data and len(data) % 2 == 0:
        # UTF-16 without a mark: the text's ASCII characters put a zero byte in every pair, on
        # the second byte (little-endian) or the first (big-endian); UTF-8 text has none.
        zeros_first = data[0::2].count(0)
        zeros_second = data[1::2].count(0)
        if zeros_second > 2 * zeros_first:
            return "utf-16-le", 0
        if zeros_first > 2 * zeros_second:
            return "utf-16-be", 0
    return "utf-8", 0


def _refusal(
    file: Path,
    kind: str,
    error: type[FluxError],
    data: bytes,
    start: int,
    problem: UnicodeDecodeError,
) -> FluxError:
    where = start + problem.start
    # Everything before the first bad byte decoded: it gives the line and what precedes it.
    read = data[start:where].decode(problem.encoding)
    line = read.count("\n") + 1
    before = read[read.rfind("\n") + 1 :]
    bad = data[where : start + problem.end].hex(" ").upper()
    return error(
        f"{kind} {file}, line {line}: byte(s) {bad} after {before[-30:]!r} are not "
        f"{problem.encoding.upper()} text; the file was saved in another encoding (e.g. "
        "Windows-1252 or Latin-1): save it as UTF-8 and try again"
    )
