"""Keeping API keys out of every message, attribute and log line the package writes.

Every key a client holds (``register_secret``) is stripped from text as errors are made and as
flux_widgets, httpx and httpcore log records are formatted, along with any 8-character slice of
it, so a key that a server echoes back, whole or cut, never reaches a user or a log.
"""

from __future__ import annotations

import logging
import threading
import weakref

REDACTED = "[redacted]"
# A slice this long of a key is a secret too: a server that echoes a key may cut it anywhere.
SLICE = 8
# Longer server text is cut to this before redaction (messages show a few hundred characters).
_MAX_SCANNED = 65536

# Owner (a BearerAuth) -> its key: a key is redacted for as long as something holds it.
_secrets: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()
_secrets_lock = threading.Lock()


def register_secret(secret: str, owner: object) -> None:
    """Remember a key, while ``owner`` lives, so that no FluxError message and no flux_widgets
    log line holds it. Called for every key a client is given (``auth.BearerAuth``)."""
    if len(secret) >= 4:
        with _secrets_lock:
            _secrets[owner] = secret


def redact(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` and every ``SLICE``-character slice of it replaced.

    Redact first, truncate after: a cut made before would leave a piece of the key behind.
    """
    if not secret or len(secret) < 4 or not text:
        return text
    text = text[:_MAX_SCANNED]
    size = min(SLICE, len(secret))
    slices = {secret[i : i + size] for i in range(len(secret) - size + 1)}
    covered = bytearray(len(text))
    found = False
    for start in range(len(text) - size + 1):
        if text[start : start + size] in slices:
            covered[start : start + size] = b"\x01" * size
            found = True
    if not found:
        return text
    parts: list[str] = []
    index = 0
    while index < len(text):
        if covered[index]:
            while index < len(text) and covered[index]:
                index += 1
            parts.append(REDACTED)
        else:
            begin = index
            while index < len(text) and not covered[index]:
                index += 1
            parts.append(text[begin:index])
    return "".join(parts)


def redact_secrets(text: str) -> str:
    """``text`` with every registered key (and its slices) replaced."""
    with _secrets_lock:
        secrets = sorted(set(_secrets.values()), key=len, reverse=True)
    for secret in secrets:
        text = redact(text, secret)
    return text


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut); redact before this."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class _RedactingFilter(logging.Filter):
    """Formats each flux_widgets log record itself, with the registered keys redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):  # a malformed call: logging reports it as usual
                return True
            record.msg, record.args = redact_secrets(message), None
        return True


# A logger's filter sees only records logged on that logger itself, not its children's, so each
# httpx/httpcore logger that can print a header, a reason phrase or a URL gets the filter too.
for _name in (
    "flux_widgets",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
):
    logging.getLogger(_name).addFilter(_RedactingFilter())
