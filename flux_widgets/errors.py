"""The error taxonomy: every failure ends in one of these, with a message a user can act on.

```
FluxError
 +-- MissingAPIKeyError          no key in the argument or the environment
 +-- APIError                    the API answered with an error (status_code, request_id)
 |    +-- AuthenticationError    401/403: the key is wrong or revoked
 |    +-- InsufficientCreditError 402: the account needs credit
 |    +-- RateLimitError         429: too many requests (retry_after)
 |    +-- InvalidRequestError    400/404/422, or a 500 whose code is invalid_request
 |    +-- ServerError            5xx that outlasted the retries
 +-- PredictionError             the prediction ended without images (prediction_id)
 |    +-- PredictionFailedError  status "failed", with the provider's message
 |    |    +-- ContentFilteredError  the safety checker refused the image (NSFW)
 |    +-- PredictionCanceledError    status "canceled"
 |    +-- PredictionAbortedError     status "aborted" (the provider's deadline passed)
 +-- FluxTimeoutError            our own total deadline per generation passed (images so far)
 +-- FluxConnectionError         a host could not be reached or did not answer (after retries)
 +-- ClientClosedError           FluxClient.aclose() ended the generation (prediction cancelled)
 +-- ProtocolError               an answer that is not the protocol (HTML, redirect, bad JSON)
 +-- DownloadError               an output file could not be fetched (after retries)
 |    +-- OutputExpiredError     file host 401/403/404/410: deleted (after ~1 h) or link expired
 +-- ImageDecodeError            the bytes are not an image of the reported format, or too big
 +-- RecipeNotEmbeddedError      the recipe cannot go into the image file (too large for a JPEG)
 +-- TemplateError               a prompt template cannot be expanded (syntax, missing wildcard)
 +-- StyleError                  a style cannot be used or saved (no {prompt} slot, bad field)
 +-- BudgetExceededError         the spending cap refused a generation before any request
```

No message, repr or attribute here ever holds the API key: messages are built from the server's
answer and our own text, and every key a client holds (``register_secret``) is stripped from
each message and server-text attribute as the error is made, along with any 8-character slice
of it, so a key that a server echoes back, whole or cut, never reaches a user or a log.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .images import GeneratedImage


class FluxError(Exception):
    """Base class of every error flux-widgets raises on purpose.

    ``prediction_id`` names the prediction the failure happened to, once one was created (the
    client fills it in for any error after the create), so it can be looked up or reported.
    """

    def __init__(self, message: str, *, prediction_id: str | None = None) -> None:
        super().__init__(redact_secrets(message))
        self.prediction_id = prediction_id

    @property
    def prediction_id(self) -> str | None:
        return self._prediction_id

    @prediction_id.setter
    def prediction_id(self, value: str | None) -> None:
        # Server text too: a server that echoes the key as an id must not put it here.
        self._prediction_id = redact_secrets(value) if value else value


class _KeepsOutputs(FluxError):
    """An error that may end a generation whose prediction was paid for: ``images`` holds the
    outputs that arrived, ``urls`` the others (downloadable for about an hour)."""

    def __init__(
        self,
        message: str,
        *,
        prediction_id: str | None = None,
        urls: Sequence[str] = (),
        images: Sequence[GeneratedImage] = (),
    ) -> None:
        super().__init__(message, prediction_id=prediction_id)
        self.urls = tuple(urls)
        self.images = list(images)


class MissingAPIKeyError(FluxError):
    """No API key was given and none is in the environment."""


class APIError(FluxError):
    """The API answered a request with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = redact_secrets(request_id) if request_id else request_id
        self.detail = redact_secrets(detail) if detail else detail
        # The server's Retry-After in seconds (429, and 503 where a server sends one).
        self.retry_after = retry_after


class AuthenticationError(APIError):
    """The key was rejected (401/403)."""


class InsufficientCreditError(APIError):
    """The account has no credit left (402)."""


class RateLimitError(APIError):
    """Too many requests (429); ``retry_after`` is the server's hint in seconds, if any."""


class InvalidRequestError(APIError):
    """The server refused the request as malformed; retrying the same request cannot help."""

    def __init__(self, message: str, *, invalid_fields: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.invalid_fields = tuple(invalid_fields)


class ServerError(APIError):
    """The API kept failing with 5xx answers."""


class PredictionError(FluxError):
    """The prediction reached a final status without images."""


class PredictionFailedError(PredictionError):
    """Status ``failed``; ``provider_message`` is the provider's own text."""

    def __init__(
        self, message: str, *, provider_message: str = "", prediction_id: str | None = None
    ) -> None:
        super().__init__(message, prediction_id=prediction_id)
        self.provider_message = redact_secrets(provider_message)


class ContentFilteredError(PredictionFailedError):
    """The provider's safety checker refused to return the image."""


class PredictionCanceledError(PredictionError):
    """Status ``canceled``: someone cancelled the prediction."""


class PredictionAbortedError(PredictionError):
    """Status ``aborted``: the provider's own deadline passed before it ran."""


class FluxTimeoutError(_KeepsOutputs, TimeoutError):
    """The total deadline of one generation passed; a pending prediction was cancelled.

    When the deadline passed during the downloads, ``images`` holds the outputs that did
    arrive and ``urls`` the ones that did not (fetch them within the hour).
    """


class FluxConnectionError(FluxError, ConnectionError):
    """The API or file host could not be reached, or did not answer in time (after retries).

    A create that got no answer is never sent again (it may have started a paid prediction).
    """


class ClientClosedError(_KeepsOutputs):
    """``FluxClient.aclose()`` was called while this generation was in flight (or starting).

    Its prediction, if one was created and had not succeeded, was cancelled on the server first.
    One that had succeeded is paid for: ``images`` holds the outputs downloaded before the
    close, ``urls`` the others (fetch them within the hour). The client reopens on its next
    use, so this error only ever ends generations that overlapped the close.
    """


class ProtocolError(FluxError):
    """The server's answer did not follow the protocol."""


class DownloadError(_KeepsOutputs):
    """An output file could not be downloaded.

    ``images`` holds the outputs of the same prediction that did download, so nothing paid
    for is lost; ``urls`` the ones that failed (fetch them within the hour).
    """


class OutputExpiredError(DownloadError):
    """The output file is gone: deleted (providers do so about an hour after generation), or
    its signed link expired. The file host answered 401, 403, 404 or 410 (it never gets a key).
    """


class ImageDecodeError(FluxError):
    """The downloaded bytes are not a usable image of the reported format."""


class RecipeNotEmbeddedError(FluxError, ValueError):
    """No copy of the recipe fits into the image file (a JPEG's metadata segments hold 64 KiB
    each), or the file cannot carry metadata; the image itself is unharmed: save it as .png
    or .webp, which have no such limit."""


class TemplateError(FluxError, ValueError):
    """A prompt template that cannot be expanded: bad syntax, a missing wildcard, an empty
    prompt among its expansions, or more combinations than allowed. Raised before any request."""


class StyleError(FluxError, ValueError):
    """A style that cannot be used or saved: no ``{prompt}`` slot, a bad parameter, a bad name."""


class BudgetExceededError(FluxError):
    """The spending cap refused a generation before any request was sent.

    ``estimate`` is the refused generation's estimated cost in US dollars (None when its price is
    unknown), ``max_spend`` the cap, ``spent`` what was charged so far, ``reserved`` what running
    generations hold.
    """

    def __init__(
        self,
        message: str,
        *,
        estimate: float | None,
        max_spend: float,
        spent: float,
        reserved: float,
    ) -> None:
        super().__init__(message)
        self.estimate = estimate
        self.max_spend = max_spend
        self.spent = spent
        self.reserved = reserved


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
