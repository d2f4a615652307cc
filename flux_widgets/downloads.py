"""Fetching a job's output files: concurrently, size-capped, keeping whatever arrived.

The file host is public, so nothing here sends the API key (and the client's auth sends it to
the API's own origin only). Providers delete outputs about an hour after generation, so a
failed file never throws away the ones that did download.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import httpx

from .errors import DownloadError, FluxError, ImageDecodeError, OutputExpiredError
from .http_errors import error_from_response
from .images import GeneratedImage
from .providers import Output

# The longest download we accept; a 1 MP PNG is ~2 MB, so this only stops a runaway server.
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024


async def read_output(
    http: httpx.AsyncClient, url: str, *, timeout: httpx.Timeout, prediction_id: str | None
) -> bytes:
    """The bytes of one output file (no auth: the file host must never see the key)."""
    async with http.stream("GET", url, timeout=timeout) as response:
        if response.status_code in (404, 410):
            raise OutputExpiredError(
                f"the output file is gone ({response.status_code}); providers delete "
                "outputs about an hour after generation, so generate it again",
                urls=[url],
                prediction_id=prediction_id,
            )
        if response.status_code >= 300:
            await response.aread()
            raise error_from_response(response, source="the file host")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_DOWNLOAD_BYTES:
                raise ImageDecodeError(
                    f"the output file is over {MAX_DOWNLOAD_BYTES // 2**20} MB; refused"
                )
            chunks.append(chunk)
        return b"".join(chunks)


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
