"""The error taxonomy: every failure ends in one of these, with a message a user can act on.

```
FluxError
 +-- MissingAPIKeyError          no key in the argument or the environment
 +-- APIError                    the API answered with an error (status_code, request_id)
 |    +-- AuthenticationError    401/403: the key is wrong or revoked
 |    +-- InsufficientCreditError 402: the account needs credit
 |    |    +-- AllowanceExhaustedError  a free allowance is used up until it resets (never retried)
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
 +-- HistoryImportError          a file History.import_ refuses whole (not an export, unsafe)
```

No message, repr or attribute here ever holds the API key: messages are built from the server's
answer and our own text, and every key a client holds (``register_secret``) is stripped from
each message and server-text attribute as the error is made, along with any 8-character slice
of it, so a key that a server echoes back, whole or cut, never reaches a user or a log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from .transport.redaction import redact_secrets


class PaidImage(Protocol):
    """What an error that keeps paid outputs holds: a ``GeneratedImage`` (images.py).

    Declared here as a protocol so the error tree imports nothing above it.
    """

    @property
    def data(self) -> bytes: ...

    @property
    def seed(self) -> int | None: ...

    def save(self, path: Any) -> Any: ...


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
        images: Sequence[PaidImage] = (),
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


class AllowanceExhaustedError(InsufficientCreditError):
    """A provider's free allowance is used up until it resets (Cloudflare's 429 code 3036: the
    daily 10,000 neurons, reset at 00:00 UTC); never retried. ``resets_at`` is when (UTC)."""

    def __init__(self, message: str, *, resets_at: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.resets_at = resets_at


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


class HistoryImportError(FluxError, ValueError):
    """A file ``History.import_`` refuses as a whole, before writing anything: not a zip, a
    damaged one, not a flux-widgets export (no manifest) or one of a newer format, a path that
    would leave the history folder (zip slip), or sizes past the import's caps (a zip bomb).
    One bad image inside a good export is not this: the report lists it as refused."""
