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
 |    +-- OutputExpiredError     404/410: files are deleted about an hour after generation
 +-- ImageDecodeError            the bytes are not an image of the reported format, or too big
 +-- RecipeNotEmbeddedError      the recipe cannot go into the image file (too large for a JPEG)
```

No message, repr or attribute here ever holds the API key: messages are built from the server's
answer and our own text, and ``redact`` strips a key that a server might echo back.
"""

from __future__ import annotations

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
        super().__init__(message)
        self.prediction_id = prediction_id


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
        self.request_id = request_id
        self.detail = detail
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
        self.provider_message = provider_message


class ContentFilteredError(PredictionFailedError):
    """The provider's safety checker refused to return the image."""


class PredictionCanceledError(PredictionError):
    """Status ``canceled``: someone cancelled the prediction."""


class PredictionAbortedError(PredictionError):
    """Status ``aborted``: the provider's own deadline passed before it ran."""


class FluxTimeoutError(FluxError, TimeoutError):
    """The total deadline of one generation passed; a pending prediction was cancelled.

    When the deadline passed during the downloads, ``images`` holds the outputs that did
    arrive and ``urls`` the ones that did not (fetch them within the hour).
    """

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


class FluxConnectionError(FluxError, ConnectionError):
    """The API or file host could not be reached, or did not answer in time (after retries).

    A create that got no answer is never sent again (it may have started a paid prediction).
    """


class ClientClosedError(FluxError):
    """``FluxClient.aclose()`` was called while this generation was in flight (or starting).

    Its prediction, if one was created, was cancelled on the server first. The client reopens on
    its next use, so this error only ever ends generations that overlapped the close.
    """


class ProtocolError(FluxError):
    """The server's answer did not follow the protocol."""


class DownloadError(FluxError):
    """An output file could not be downloaded.

    ``images`` holds the outputs of the same prediction that did download, so nothing paid
    for is lost; ``urls`` the ones that failed (fetch them within the hour).
    """

    def __init__(
        self,
        message: str,
        *,
        urls: Sequence[str] = (),
        images: Sequence[GeneratedImage] = (),
        prediction_id: str | None = None,
    ) -> None:
        super().__init__(message, prediction_id=prediction_id)
        self.urls = tuple(urls)
        self.images = list(images)


class OutputExpiredError(DownloadError):
    """The output file is gone: providers delete outputs about an hour after generation."""


class ImageDecodeError(FluxError):
    """The downloaded bytes are not a usable image of the reported format."""


class RecipeNotEmbeddedError(FluxError, ValueError):
    """No copy of the recipe fits into the image file (a JPEG's metadata segments hold 64 KiB
    each), or the file cannot carry metadata; the image itself is unharmed: save it as .png
    or .webp, which have no such limit."""


def redact(text: str, secret: str | None) -> str:
    """Text with every occurrence of ``secret`` replaced, for errors built from server answers."""
    if secret and len(secret) >= 4 and secret in text:
        return text.replace(secret, "[redacted]")
    return text
