"""Fetching a job's output files: concurrently, size-capped, keeping whatever arrived.

The file host is public, so nothing here sends the API key, to any host, the API's own included.
A file host may redirect to the storage that holds the file (301/302/303/307/308): followed
here only, up to ``MAX_REDIRECTS`` hops and only to http(s); API calls never follow redirects.
Providers delete outputs about an hour after generation (and signed URLs expire), so 401, 403,
404 and 410 from the file host mean the file is gone, and a failed file never throws away the
ones that did download.

Only whole files are kept: a body shorter than its Content-Length, or an image whose format's
end is missing (``images.missing_end``), is a ``CutShortError``, fetched again like any failed
download. An output inside the answer (a ``data:`` URI: Replicate's short-lived predictions,
fal's ``sync_mode``) is decoded here, never sent anywhere, under the same checks and size cap.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import httpx

from ..errors import DownloadError, FluxError, ImageDecodeError, OutputExpiredError
from ..images import GeneratedImage, missing_end, probe_image
from ..providers import Output
from .http_errors import error_details, error_from_response
from .redaction import clip
from .retry import CutShortError

# The longest download we accept; a 1 MP PNG is ~2 MB, so this only stops a runaway server.
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
# Hops from the output URL to the file: a CDN or signed-URL redirect needs one or two.
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# The file host's "not there (any more)": expired, deleted, or a signed URL past its time.
_GONE = frozenset({401, 403, 404, 410})
# An error body is read only this far: enough for an S3 <Error> or a page title.
_MAX_ERROR_BODY = 16384
# RFC 2397: data:[<mediatype>][;base64],<data>; parameters (;charset=...) may sit between.
_DATA_URI = re.compile(r"data:([^,;]*)((?:;[^,;]*)*),", re.IGNORECASE)
_IMAGE_TYPES = {"image/webp": "webp", "image/jpeg": "jpg", "image/jpg": "jpg", "image/png": "png"}


async def read_output(
    http: httpx.AsyncClient, url: str, *, timeout: httpx.Timeout, prediction_id: str | None
) -> bytes:
    """The bytes of one output file, following the file host's redirects (never with auth).

    Raises ``OutputExpiredError`` (401/403/404/410), ``DownloadError`` (a redirect loop or one
    that leaves http(s)), ``CutShortError`` (a body cut short: retried by the caller, as are
    5xx and 429), ``ImageDecodeError`` (over ``MAX_DOWNLOAD_BYTES``), or the typed error of any
    other status.
    """
    current = httpx.URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        # auth=None: no key whatever the host, even one that redirects to the API's origin.
        async with _stream(http, current, timeout, url, prediction_id) as response:
            status = response.status_code
            if status in _REDIRECTS:
                current = _redirect_target(response, url, prediction_id)
                continue
            if status in _GONE:
                raise OutputExpiredError(
                    f"the output file is gone ({status}{await _said(response)}); providers "
                    "delete outputs about an hour after generation and signed links expire, "
                    "so generate it again",
                    urls=[url],
                    prediction_id=prediction_id,
                )
            if status >= 300:
                answer = await _read_some(response)
                raise error_from_response(answer, source="the file host")
            data = await _read_capped(response)
            _check_whole(response, data, url, prediction_id)
            return data
    raise DownloadError(
        f"the output file redirected more than {MAX_REDIRECTS} times; refused",
        urls=[url],
        prediction_id=prediction_id,
    )


@contextlib.asynccontextmanager
async def _stream(
    http: httpx.AsyncClient,
    current: httpx.URL,
    timeout: httpx.Timeout,
    url: str,
    prediction_id: str | None,
) -> AsyncIterator[httpx.Response]:
    try:
        async with http.stream("GET", current, timeout=timeout, auth=None) as response:
            yield response
    except httpx.InvalidURL:  # httpx reads a redirect's Location before we see the answer
        raise DownloadError(
            "the file host redirected to a URL that is not an http(s) URL; refused",
            urls=[url],
            prediction_id=prediction_id,
        ) from None


def _redirect_target(response: httpx.Response, url: str, prediction_id: str | None) -> httpx.URL:
    location = response.headers.get("location")
    try:
        target = response.url.join(location) if location else None
    except httpx.InvalidURL:
        target = None
    if target is None or target.scheme not in ("http", "https"):
        shown = clip(repr(location), 80)
        raise DownloadError(
            f"the file host redirected ({response.status_code}) to {shown}, which is not an "
            "http(s) URL; refused",
            urls=[url],
            prediction_id=prediction_id,
        )
    return target


async def _read_some(response: httpx.Response) -> httpx.Response:
    """The error answer with at most ``_MAX_ERROR_BODY`` bytes of its body read."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _MAX_ERROR_BODY:
            break
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=b"".join(chunks)[:_MAX_ERROR_BODY],
        request=response.request,
    )


async def _said(response: httpx.Response) -> str:
    """``": <what the body says>"`` for an error message, or nothing."""
    detail = error_details(await _read_some(response))[0]
    return f": {detail}" if detail else ""


async def _read_capped(response: httpx.Response) -> bytes:
    limit = MAX_DOWNLOAD_BYTES // 2**20
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_DOWNLOAD_BYTES:
        raise ImageDecodeError(f"the output file is over {limit} MB (Content-Length); refused")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_DOWNLOAD_BYTES:
            raise ImageDecodeError(f"the output file is over {limit} MB; refused")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_whole(
    response: httpx.Response, data: bytes, url: str, prediction_id: str | None
) -> None:
    """Raise ``CutShortError`` for a body shorter than declared or an image without its end."""
    declared = response.headers.get("content-length", "")
    # A compressed body's Content-Length counts the bytes on the wire, not the decoded ones.
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    arrived = len(data)
    if declared.isdigit() and encoding in ("", "identity") and arrived < int(declared):
        raise CutShortError(
            f"the output file was cut short: {arrived} of {declared} bytes arrived",
            urls=[url],
            prediction_id=prediction_id,
        )
    problem = missing_end(data)
    if problem is not None:
        raise CutShortError(
            f"the output file was cut short ({problem}; {len(data)} bytes arrived)",
            urls=[url],
            prediction_id=prediction_id,
        )


def inline_bytes(output: Output, prediction_id: str | None) -> bytes:
    """The bytes of an output the answer held (``data`` already decoded, as Together's
    ``b64_json``, or a ``data_uri``), checked as a downloaded file would be."""
    if output.data_uri is not None:
        return decode_data_uri(output.data_uri, prediction_id=prediction_id)
    assert output.data is not None, "an output without a URL holds its bytes"
    problem = missing_end(output.data)
    if problem is not None:
        raise CutShortError(
            f"an output inside the answer was cut short ({problem})", prediction_id=prediction_id
        )
    return output.data


def decode_data_uri(text: str, *, prediction_id: str | None) -> bytes:
    """The image bytes of a ``data:image/...;base64,...`` output (RFC 2397), checked as
    strictly as a download: ``ImageDecodeError`` for a URI that is not base64 image data, a
    MIME type the bytes disagree with, or more than ``MAX_DOWNLOAD_BYTES``; ``CutShortError``
    for an image without its end (an answer is not fetched again: it is the same answer)."""
    match = _DATA_URI.match(text)
    params = match.group(2).lower().split(";") if match else []
    if match is None or "base64" not in params:
        raise ImageDecodeError(
            f"an output inside the answer is a data URI that is not base64 ({clip(text, 40)!r})",
            prediction_id=prediction_id,
        )
    payload = text[match.end() :]
    limit = MAX_DOWNLOAD_BYTES // 2**20
    if len(payload) // 4 * 3 > MAX_DOWNLOAD_BYTES:
        raise ImageDecodeError(
            f"an output inside the answer is over {limit} MB; refused", prediction_id=prediction_id
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageDecodeError(
            "an output inside the answer is not valid base64; generate again",
            prediction_id=prediction_id,
        ) from None
    mime = match.group(1).lower()
    problem = missing_end(data)
    if problem is not None:
        raise CutShortError(
            f"an output inside the answer was cut short ({problem})", prediction_id=prediction_id
        )
    fmt = probe_image(data)[0]  # ImageDecodeError for bytes that are no image
    if mime and _IMAGE_TYPES.get(mime) != fmt:
        raise ImageDecodeError(
            f"an output inside the answer says {clip(mime, 40)!r} but holds {fmt} data; refused",
            prediction_id=prediction_id,
        )
    return data


def file_host(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what a connection error names instead of the file."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"


async def download_outputs(
    job_id: str | None,
    outputs: Sequence[Output],
    download: Callable[[int, Output], Awaitable[GeneratedImage]],
) -> list[GeneratedImage]:
    """Run ``download(index, output)`` for every output at once (an output whose bytes came
    with the answer needs no request); raise a ``DownloadError`` holding the images that
    arrived when any failed."""
    results = await asyncio.gather(
        *(download(index, output) for index, output in enumerate(outputs)),
        return_exceptions=True,
    )
    images = [r for r in results if isinstance(r, GeneratedImage)]
    failures = [
        (output.label, result)
        for output, result in zip(outputs, results, strict=True)
        if isinstance(result, BaseException)
    ]
    if not failures:
        return images
    first = failures[0][1]
    if not isinstance(first, FluxError):
        raise first
    if not images and all(isinstance(e, ImageDecodeError) for _, e in failures):
        raise first
    error_type = OutputExpiredError if isinstance(first, OutputExpiredError) else DownloadError
    raise error_type(
        f"{len(failures)} of {len(results)} images could not be downloaded ({first}); "
        f"the {len(images)} that did are in error.images",
        urls=[label for label, _ in failures],
        images=images,
        prediction_id=job_id,
    ) from first
