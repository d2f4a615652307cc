"""FluxClient: one async httpx client that turns parameters into downloaded images.

create -> wait (``Prefer: wait``) or poll on an adaptive schedule -> download every output
concurrently. Bounded concurrency across all calls, retries by the protocol's rules, a total
deadline per generation, and cancellation that reaches the server. Never imports widgets.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import (
    DownloadError,
    FluxConnectionError,
    FluxError,
    FluxTimeoutError,
    ImageDecodeError,
    OutputExpiredError,
    ProtocolError,
)
from .images import GeneratedImage, seed_from_logs
from .params import FluxParams
from .polling import DurationEstimate, PollSchedule, RateLimiter
from .providers import (
    Prediction,
    Settings,
    error_from_response,
    final_status_error,
    parse_prediction,
    resolve_settings,
)
from .retry import Backoff, with_retries

logger = logging.getLogger("flux_widgets")

StatusCallback = Callable[[str], None]
"""Called with "queued", "starting", "processing", "downloading", then "succeeded",
"failed" or "canceled" as one generation moves along."""

# The longest download we accept; a 1 MP PNG is ~2 MB, so this only stops a runaway server.
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
_USER_AGENT = "flux-widgets/0.1 (+https://github.com/flux-widgets/flux-widgets)"
# Replicate accepts Prefer: wait=1..60 seconds.
_MAX_SYNC_WAIT = 60
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class _Timeouts:
    """Seconds each request may take; the total deadline per generation bounds them all."""

    connect: float = 10.0
    create: float = 30.0  # plus the sync wait the server was asked to hold the answer for
    # PROTOCOL.md: a query may take over 45 s to answer.
    query: float = 60.0
    download: float = 30.0
    cancel: float = 5.0

    def for_read(self, read: float) -> httpx.Timeout:
        return httpx.Timeout(read, connect=min(self.connect, read))


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme))


class _BearerAuth(httpx.Auth):
    """The API key as a Bearer token, attached only to requests for the API's own origin.

    The official client sends the key to the file host (PROTOCOL.md lessons): here a request
    to any other scheme, host or port goes out without it, whatever code path built it.
    """

    def __init__(self, api_key: str, base_url: str) -> None:
        self._header = f"Bearer {api_key}"
        self._origin = _origin(httpx.URL(base_url))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) == self._origin:
            request.headers["Authorization"] = self._header
        else:
            logger.warning("not sending the API key to %s: not the API's origin", request.url.host)
        yield request

    def __repr__(self) -> str:
        return "<_BearerAuth key=set>"


@dataclass
class BatchResult:
    """One finished item of ``generate_many``: its position, inputs, and images or error."""

    index: int
    params: FluxParams
    images: list[GeneratedImage] = field(default_factory=list)
    error: FluxError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _LoopResources:
    """What must belong to a single event loop: the connection pool and the async primitives."""

    http: httpx.AsyncClient
    slots: asyncio.Semaphore
    queries: RateLimiter


@dataclass
class _Progress:
    """What a running generation knows about itself, for cancel-on-timeout and status."""

    on_status: StatusCallback | None
    prediction_id: str | None = None
    status: str = "queued"
    # Set once the prediction succeeded: what to download, and what has been so far.
    outputs: tuple[str, ...] = ()
    images: dict[int, GeneratedImage] = field(default_factory=dict)

    def report(self, status: str) -> None:
        if status == self.status:
            return
        self.status = status
        if self.on_status is not None:
            try:
                self.on_status(status)
            except Exception:  # a broken UI callback must not break the generation
                logger.exception("status callback failed")


class FluxClient:
    """Async client for FLUX.1 [schnell] on CometAPI (default) or Replicate.

    The key comes from ``api_key``, else ``COMETAPI_KEY``/``FLUX_API_KEY`` (CometAPI) or
    ``REPLICATE_API_TOKEN``; ``FLUX_BASE_URL`` and ``FLUX_PROVIDER`` point it elsewhere, and
    ``FLUX_WIDGETS_MOCK=1`` uses the in-package mock. ``timeout`` is the total deadline of one
    generation; ``max_concurrency`` bounds generations in flight across all calls.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        provider: str | None = None,
        timeout: float = 180.0,
        max_concurrency: int = 4,
        sync_wait: bool = True,
        max_retries: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency!r}")
        settings = resolve_settings(api_key=api_key, base_url=base_url, provider=provider)
        self._mock_server: Any = None
        if settings.use_mock:
            self._mock_server = _start_mock()
            settings = Settings(settings.provider, self._mock_server.url, None)
        self._settings = settings
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.sync_wait = sync_wait
        self.max_retries = max_retries
        self._transport = transport
        # Tests shorten these (client._backoff = Backoff(base=0.01)); users have max_retries.
        self._backoff = Backoff()
        self._timeouts = _Timeouts()
        self._auth: httpx.Auth = httpx.Auth()  # no key (a local server): send none
        if settings.api_key:
            self._auth = _BearerAuth(settings.api_key, settings.base_url)
        self._estimate = DurationEstimate()
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopResources]
        self._per_loop = weakref.WeakKeyDictionary()
        self._server_says_mock = False

    @classmethod
    def mock(cls, *, config: Any = None, **kwargs: Any) -> FluxClient:
        """A client wired to the in-package fake API over loopback HTTP: no key, no network.

        ``config`` (a ``flux_widgets.mock.MockConfig``) starts a private server with it;
        otherwise one shared server per process is used.
        """
        server = _start_mock(config)
        kwargs.setdefault("provider", "cometapi")
        client = cls(base_url=server.url, **kwargs)
        client._mock_server = server
        return client

    # -- public properties -------------------------------------------------------------

    @property
    def provider(self) -> str:
        return self._settings.provider.name

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def is_mock(self) -> bool:
        """True when images come from the mock: they are placeholders, not FLUX output."""
        return self._mock_server is not None or self._server_says_mock

    @property
    def has_api_key(self) -> bool:
        return self._settings.api_key is not None

    def __repr__(self) -> str:
        key = "set" if self.has_api_key else "none"
        mock = ", mock" if self.is_mock else ""
        return f"<FluxClient {self.provider} {self.base_url} key={key}{mock}>"

    # -- lifecycle ---------------------------------------------------------------------

    def _resources(self) -> _LoopResources:
        # An httpx.AsyncClient is bound to the loop it first ran on (PROTOCOL.md lessons).
        loop = asyncio.get_running_loop()
        resources = self._per_loop.get(loop)
        if resources is None:
            connections = max(10, self.max_concurrency * 5)
            resources = _LoopResources(
                http=httpx.AsyncClient(
                    transport=self._transport,
                    follow_redirects=False,
                    headers={"User-Agent": _USER_AGENT},
                    limits=httpx.Limits(
                        max_connections=connections, max_keepalive_connections=connections
                    ),
                    timeout=self._timeouts.for_read(self._timeouts.create),
                ),
                slots=asyncio.Semaphore(self.max_concurrency),
                queries=RateLimiter(),
            )
            self._per_loop[loop] = resources
        return resources

    async def aclose(self) -> None:
        """Close the connection pool of the running loop (others close with their loops)."""
        loop = asyncio.get_running_loop()
        resources = self._per_loop.pop(loop, None)
        if resources is not None:
            await resources.http.aclose()

    async def __aenter__(self) -> FluxClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- generation --------------------------------------------------------------------

    async def generate(
        self,
        prompt: str | FluxParams | None = None,
        /,
        *,
        on_status: StatusCallback | None = None,
        **params: Any,
    ) -> list[GeneratedImage]:
        """Generate images for a prompt plus keyword parameters, or for a ``FluxParams``.

        Invalid parameters raise ``ValueError`` before any request. Failures raise a
        ``FluxError`` subclass. Cancelling the awaiting task cancels the prediction too.
        """
        flux_params = to_params(prompt, params)
        return await self._generate(flux_params, _Progress(on_status))

    async def generate_many(
        self, prompts: Iterable[str | FluxParams], /, **params: Any
    ) -> AsyncIterator[BatchResult]:
        """Yield a ``BatchResult`` per prompt as each completes (bounded by max_concurrency).

        Every item is validated before the first request; one failure does not stop the rest.
        """
        items = [to_params(p, params) for p in prompts]
        queue: asyncio.Queue[BatchResult | Exception] = asyncio.Queue()

        async def run(index: int, item: FluxParams) -> None:
            result = BatchResult(index, item)
            try:
                result.images = await self._generate(item, _Progress(None))
            except FluxError as error:
                result.error = error
                if isinstance(error, DownloadError | FluxTimeoutError):
                    result.images = error.images
            except Exception as error:  # a bug: raise it to the caller instead of hanging
                queue.put_nowait(error)
                return
            queue.put_nowait(result)

        tasks = [asyncio.create_task(run(i, item)) for i, item in enumerate(items)]
        try:
            for _ in tasks:
                item = await queue.get()
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _generate(self, params: FluxParams, progress: _Progress) -> list[GeneratedImage]:
        resources = self._resources()
        progress.report("queued")
        async with resources.slots:
            try:
                return await asyncio.wait_for(
                    self._create_wait_download(params, progress, resources), self.timeout
                )
            except FluxError as error:  # before TimeoutError: FluxTimeoutError is one
                if error.prediction_id is None:
                    error.prediction_id = progress.prediction_id
                progress.report("failed")
                raise
            except asyncio.TimeoutError:  # wait_for: the total deadline (3.10: not builtin)
                if not progress.outputs:
                    await self._cancel_quietly(progress.prediction_id, resources)
                progress.report("failed")
                raise self._deadline_error(progress) from None
            except asyncio.CancelledError:
                if not progress.outputs:
                    await self._cancel_quietly(progress.prediction_id, resources)
                progress.report("canceled")
                raise

    def _deadline_error(self, progress: _Progress) -> FluxTimeoutError:
        deadline = f"{self.timeout:g} s deadline"
        if not progress.outputs:
            cancelled = "; the prediction was cancelled" if progress.prediction_id else ""
            return FluxTimeoutError(
                f"no images within the {deadline}{cancelled}. The service may be busy: try "
                "again, or raise FluxClient(timeout=)",
                prediction_id=progress.prediction_id,
            )
        # The prediction succeeded (and is paid for): keep what arrived, name what did not.
        images = [progress.images[i] for i in sorted(progress.images)]
        missing = [u for i, u in enumerate(progress.outputs) if i not in progress.images]
        return FluxTimeoutError(
            f"the {deadline} passed while downloading: {len(images)} of "
            f"{len(progress.outputs)} images arrived (in error.images); the others are in "
            "error.urls, downloadable for about an hour after generation",
            prediction_id=progress.prediction_id,
            urls=missing,
            images=images,
        )

    async def _create_wait_download(
        self, params: FluxParams, progress: _Progress, resources: _LoopResources
    ) -> list[GeneratedImage]:
        started = time.monotonic()
        progress.report("starting")
        prediction = await self._create(params, resources)
        progress.prediction_id = prediction.id
        if not _ready(prediction, params):
            prediction = await self._poll(prediction, params, started, progress, resources)
        if prediction.is_final and prediction.status != "succeeded":
            raise final_status_error(prediction)
        if not prediction.output:
            raise ProtocolError(f"prediction {prediction.id} succeeded but lists no output files")
        if prediction.duration is not None:
            self._estimate.observe(prediction.duration)
        progress.outputs = prediction.output
        progress.report("downloading")
        images = await self._download_all(prediction, params, progress, resources)
        progress.report("succeeded")
        return images

    # -- the three requests ------------------------------------------------------------

    async def _create(self, params: FluxParams, resources: _LoopResources) -> Prediction:
        settings = self._settings
        headers: dict[str, str] = {}
        read = self._timeouts.create
        if self.sync_wait:
            wait = max(1, min(_MAX_SYNC_WAIT, int(self.timeout) - 5))
            headers["Prefer"] = f"wait={wait}"
            # The server holds the answer up to `wait` s; a read timeout on a create is never
            # retried (it would pay twice), so never let it fire first.
            read += wait
        timeout = self._timeouts.for_read(read)
        url = settings.provider.create_url(settings.base_url)
        body = {"input": params.to_input()}

        async def send() -> httpx.Response:
            response = await resources.http.post(
                url, json=body, headers=headers, timeout=timeout, auth=self._auth
            )
            return self._check(response)

        try:
            response = await self._send(send, create=True, target=settings.base_url)
        except FluxConnectionError as error:
            if not isinstance(error.__context__, httpx.ReadTimeout):
                raise
            raise FluxConnectionError(
                f"{settings.base_url} did not answer the create request within {read:g} s. "
                "It was not sent again: the server may have started a prediction, and a "
                "second create would be paid twice. Check the provider's dashboard, then retry"
            ) from None
        return parse_prediction(response)

    async def _poll(
        self,
        prediction: Prediction,
        params: FluxParams,
        started: float,
        progress: _Progress,
        resources: _LoopResources,
    ) -> Prediction:
        settings = self._settings
        url = settings.provider.query_url(settings.base_url, prediction.id)
        schedule = PollSchedule(self._estimate.seconds)
        timeout = self._timeouts.for_read(self._timeouts.query)

        async def send() -> httpx.Response:
            await resources.queries.acquire()
            response = await resources.http.get(url, timeout=timeout, auth=self._auth)
            return self._check(response)

        while not _ready(prediction, params):
            # Unknown statuses count as pending; the deadline bounds the wait.
            if prediction.status in ("starting", "processing"):
                progress.report(prediction.status)
            await asyncio.sleep(schedule.next_delay(time.monotonic() - started))
            prediction = parse_prediction(
                await self._send(send, create=False, target=settings.base_url)
            )
        return prediction

    async def _download_all(
        self,
        prediction: Prediction,
        params: FluxParams,
        progress: _Progress,
        resources: _LoopResources,
    ) -> list[GeneratedImage]:
        seed = params.seed if params.seed is not None else seed_from_logs(prediction.logs)

        async def download(index: int, url: str) -> GeneratedImage:
            image = await self._download(url, index, prediction, params, seed, resources)
            progress.images[index] = image  # kept even if the deadline passes meanwhile
            return image

        results = await asyncio.gather(
            *(download(index, url) for index, url in enumerate(prediction.output)),
            return_exceptions=True,
        )
        images = [r for r in results if isinstance(r, GeneratedImage)]
        failures = [
            (url, result)
            for url, result in zip(prediction.output, results, strict=True)
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
            urls=[u for u, _ in failures],
            images=images,
            prediction_id=prediction.id,
        ) from first

    async def _download(
        self,
        url: str,
        index: int,
        prediction: Prediction,
        params: FluxParams,
        seed: int | None,
        resources: _LoopResources,
    ) -> GeneratedImage:
        began = time.monotonic()
        timeout = self._timeouts.for_read(self._timeouts.download)

        async def send() -> bytes:
            # No auth here: the file host is public and must never see the key.
            async with resources.http.stream("GET", url, timeout=timeout) as response:
                if response.status_code in (404, 410):
                    raise OutputExpiredError(
                        f"the output file is gone ({response.status_code}); providers delete "
                        "outputs about an hour after generation, so generate it again",
                        urls=[url],
                        prediction_id=prediction.id,
                    )
                if response.status_code >= 300:
                    await response.aread()
                    raise error_from_response(response, source="the file host")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise ImageDecodeError("the output file is over 50 MB; refused")
                    chunks.append(chunk)
                return b"".join(chunks)

        file_host = str(httpx.URL(url).copy_with(path="/", query=None, fragment=None))
        data = await self._send(send, create=False, target=file_host.rstrip("/"))
        return GeneratedImage.from_bytes(
            data,
            params,
            seed=seed,
            prediction_id=prediction.id,
            index=index,
            url=url,
            predict_time=prediction.predict_time,
            download_time=time.monotonic() - began,
        )

    async def _cancel_quietly(self, prediction_id: str | None, resources: _LoopResources) -> None:
        """Ask the server to cancel; tolerate anything (CometAPI may not have the route)."""
        if prediction_id is None:
            return
        settings = self._settings
        url = settings.provider.cancel_url(settings.base_url, prediction_id)
        timeout = self._timeouts.for_read(self._timeouts.cancel)
        try:
            response = await asyncio.shield(
                resources.http.post(url, timeout=timeout, auth=self._auth)
            )
        except (httpx.HTTPError, asyncio.CancelledError):
            logger.info("could not cancel prediction %s on the server", prediction_id)
            return
        if not response.is_success:
            # PROTOCOL.md: CometAPI may lack the cancel route (404); nothing more to do.
            logger.info(
                "the server answered %s to cancelling prediction %s",
                response.status_code,
                prediction_id,
            )

    # -- shared request plumbing -------------------------------------------------------

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.headers.get("x-flux-mock"):
            self._server_says_mock = True
        if response.is_success:
            return response
        raise error_from_response(response, self._settings.api_key)

    async def _send(self, send: Callable[[], Any], *, create: bool, target: str) -> Any:
        """Retry ``send`` by the rules; network failures become a FluxConnectionError naming
        ``target`` (the base URL, or the file host), never the key."""
        try:
            return await with_retries(
                send, create=create, attempts=self.max_retries + 1, backoff=self._backoff
            )
        except httpx.TimeoutException as error:
            raise FluxConnectionError(
                f"{target} did not answer in time ({error.__class__.__name__}); "
                "check your connection and try again"
            ) from None
        except httpx.TransportError as error:
            hint = "base_url" if target == self._settings.base_url else "network"
            raise FluxConnectionError(
                f"could not reach {target} ({error.__class__.__name__}); "
                f"check your connection and {hint}"
            ) from None


def _ready(prediction: Prediction, params: FluxParams) -> bool:
    """Final, or (a sync answer) every requested output already listed while "processing"."""
    return prediction.is_final or len(prediction.output) >= params.num_outputs


def to_params(prompt: str | FluxParams | None, params: Mapping[str, Any]) -> FluxParams:
    """A ``FluxParams`` from a prompt plus keywords, or from a ``FluxParams`` plus overrides."""
    if isinstance(prompt, FluxParams):
        return prompt.replace(**params) if params else prompt
    if prompt is not None:
        return FluxParams(prompt=prompt, **params)
    if "prompt" not in params:
        raise ValueError("prompt is required: describe the image you want")
    return FluxParams(**params)


def _start_mock(config: Any = None) -> Any:
    try:
        from .mock import MockServer
        from .mock.server import shared_server
    except ImportError as error:  # starlette/uvicorn live in the [mock] extra
        raise FluxError(
            "the mock API needs the mock extra: pip install 'flux-widgets[mock]' "
            f"({error.name} is missing)"
        ) from None
    if config is None:
        return shared_server()
    return MockServer(config).start()
