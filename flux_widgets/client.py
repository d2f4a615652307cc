"""FluxClient: one async httpx client that turns parameters into downloaded images.

create -> wait (``Prefer: wait``) or poll on an adaptive schedule -> download every output
concurrently. Bounded concurrency across all calls, retries by the protocol's rules, a total
deadline per generation, and cancellation that reaches the server. Never imports widgets.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .auth import BearerAuth
from .downloads import download_outputs, file_host, read_output
from .errors import (
    ClientClosedError,
    DownloadError,
    FluxConnectionError,
    FluxError,
    FluxTimeoutError,
    ProtocolError,
)
from .http_errors import error_from_response
from .images import GeneratedImage, seed_from_logs
from .lifecycle import ClientState, LoopResources, close_resources
from .network import ProxyRoutes, RoutingTransport, proxy_of
from .params import FluxParams
from .polling import DurationEstimate, PollSchedule, RateLimiter
from .providers import (
    Prediction,
    Settings,
    final_status_error,
    parse_prediction,
    resolve_settings,
)
from .retry import Backoff, with_retries

logger = logging.getLogger("flux_widgets")

StatusCallback = Callable[[str], None]
"""Called with "queued", "starting", "processing", "downloading", then "succeeded",
"failed" or "canceled" as one generation moves along."""

_USER_AGENT = "flux-widgets/0.1 (+https://github.com/flux-widgets/flux-widgets)"
# Replicate accepts Prefer: wait=1..60 seconds. We ask for a short hold: schnell is done in about
# a second (PROTOCOL.md: predict_time 0.5-0.9 s), a longer generation is polled instead, and the
# prediction id arrives only with the answer, so a cancel pressed during a hold can reach the
# server no sooner than the hold ends.
_MAX_SYNC_WAIT = 60
_SYNC_HOLD = 5
# How long after its hold a create's answer is still worth waiting for, to cancel what it started.
_CREATE_GRACE = 2.0
# The running generation's deadline (time.monotonic()), so that no retry sleeps past it.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "flux_widgets_deadline", default=None
)


@dataclass(frozen=True)
class _Timeouts:
    """Seconds each request may take; the total deadline per generation bounds them all."""

    connect: float = 10.0
    create: float = 30.0  # plus the sync wait the server was asked to hold the answer for
    # PROTOCOL.md: a query may take over 45 s to answer.
    query: float = 60.0
    download: float = 30.0
    cancel: float = 5.0
    # aclose(): how long in-flight cancels (and creates still open) may take before it gives up.
    close: float = 15.0

    def for_read(self, read: float) -> httpx.Timeout:
        return httpx.Timeout(read, connect=min(self.connect, read))


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
class _Progress:
    """What a running generation knows about itself, for cancel-on-timeout and status."""

    on_status: StatusCallback | None
    prediction_id: str | None = None
    status: str = "queued"
    # Set once the prediction succeeded: what to download, and what has been so far.
    outputs: tuple[str, ...] = ()
    images: dict[int, GeneratedImage] = field(default_factory=dict)
    # The create request while it is open: if the generation ends first, it is finished in the
    # background and its prediction cancelled (the id only comes with the answer).
    create: asyncio.Future[Prediction] | None = None
    create_due: float = 0.0  # loop time by which a server should have answered it

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
        self._owns_mock = False  # a private mock (FluxClient.mock(config=...)) stops with us
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
            self._auth = BearerAuth(settings.api_key, settings.base_url)
        self._estimate = DurationEstimate()
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopResources]
        self._per_loop = weakref.WeakKeyDictionary()
        self._state = ClientState.UNOPENED
        self._server_says_mock = False

    @classmethod
    def mock(cls, *, config: Any = None, **kwargs: Any) -> FluxClient:
        """A client wired to the in-package fake API over loopback HTTP: no key, no network.

        ``config`` (a ``flux_widgets.mock.MockConfig``) starts a private server with it, which
        ``aclose()`` stops (and the next use restarts); otherwise one shared server per process
        is used, which outlives the client.
        """
        server = _start_mock(config)
        kwargs.setdefault("provider", "cometapi")
        client = cls(base_url=server.url, **kwargs)
        client._mock_server = server
        client._owns_mock = config is not None
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

    @property
    def is_closed(self) -> bool:
        """True after ``aclose()``, until the next use reopens the client."""
        return self._state is ClientState.CLOSED

    def __repr__(self) -> str:
        key = "set" if self.has_api_key else "none"
        mock = ", mock" if self.is_mock else ""
        return f"<FluxClient {self.provider} {self.base_url} key={key}{mock}>"

    # -- lifecycle ---------------------------------------------------------------------

    def _resources(self) -> LoopResources:
        """This loop's pool and primitives, opening (or reopening) the client on first use.

        Raises ``ClientClosedError`` while ``aclose()`` runs.
        """
        if self._state is ClientState.CLOSING:
            raise ClientClosedError("the client is closing (aclose() is running); try again after")
        # An httpx.AsyncClient is bound to the loop it first ran on (PROTOCOL.md lessons).
        loop = asyncio.get_running_loop()
        resources = self._per_loop.get(loop)
        if resources is None:
            if self._owns_mock and not self._mock_server.running:
                self._mock_server.start()  # reopening after aclose() stopped it
            connections = max(10, self.max_concurrency * 5)
            limits = httpx.Limits(
                max_connections=connections, max_keepalive_connections=connections
            )
            transport = self._transport
            if transport is None:
                # Proxies from the environment, but never for loopback or NO_PROXY (network.py).
                transport = RoutingTransport(ProxyRoutes(), limits=limits)
            resources = LoopResources(
                loop=weakref.ref(loop),
                http=httpx.AsyncClient(
                    transport=transport,
                    trust_env=False,  # RoutingTransport reads the proxy variables itself
                    follow_redirects=False,
                    headers={"User-Agent": _USER_AGENT},
                    limits=limits,
                    timeout=self._timeouts.for_read(self._timeouts.create),
                ),
                slots=asyncio.Semaphore(self.max_concurrency),
                queries=RateLimiter(),
            )
            self._per_loop[loop] = resources
        self._state = ClientState.OPENED
        return resources

    async def aclose(self) -> None:
        """Close the client: end generations in flight, then release what it holds.

        Each generation in flight (on any event loop) first has its prediction cancelled on the
        server (a create still open is awaited, then cancelled, for up to 15 s), then raises
        ``ClientClosedError``. Connection pools close, and a private mock server stops. The
        next use reopens the client. Calling it twice is harmless.
        """
        if self._state is ClientState.CLOSING:
            return
        self._state = ClientState.CLOSING
        try:
            for resources in list(self._per_loop.values()):
                await close_resources(resources, self._timeouts.close)
            self._per_loop.clear()
            if self._owns_mock and self._mock_server.running:
                await asyncio.to_thread(self._mock_server.stop)
        finally:
            self._state = ClientState.CLOSED

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
        # Its own task, owned by the client, so that aclose() can end it (lifecycle.py).
        run = asyncio.ensure_future(self._run(params, progress, resources))
        resources.track_run(run)
        try:
            return await run
        except asyncio.CancelledError:
            if not resources.closing or _being_cancelled():
                raise  # the caller's own cancel (or deadline) goes on as it came
            raise ClientClosedError(
                "the client was closed (aclose()) during this generation"
                + ("; its prediction was cancelled" if progress.prediction_id else ""),
                prediction_id=progress.prediction_id,
            ) from None

    async def _run(
        self, params: FluxParams, progress: _Progress, resources: LoopResources
    ) -> list[GeneratedImage]:
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
                await self._cancel_quietly(progress, resources)
                progress.report("failed")
                raise self._deadline_error(progress) from None
            except asyncio.CancelledError:
                await self._cancel_quietly(progress, resources)
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
        self, params: FluxParams, progress: _Progress, resources: LoopResources
    ) -> list[GeneratedImage]:
        started = time.monotonic()
        _DEADLINE.set(started + self.timeout)
        progress.report("starting")
        # Shielded: a cancel or the deadline arriving now must not drop the answer, which holds
        # the only handle on a prediction that may have started (_cancel_quietly finishes it).
        progress.create = asyncio.ensure_future(self._create(params, resources))
        progress.create_due = asyncio.get_running_loop().time() + self._sync_hold() + _CREATE_GRACE
        prediction = await asyncio.shield(progress.create)
        progress.create = None
        progress.prediction_id = prediction.id
        if not _ready(prediction, params):
            prediction = await self._poll(prediction, params, started, progress, resources)
        if prediction.is_final and prediction.status != "succeeded":
            raise final_status_error(prediction)
        if not prediction.output:
            raise ProtocolError(f"prediction {prediction.id} succeeded but lists no output files")
        prediction = _within_bounds(prediction, params, time.monotonic() - started)
        if prediction.duration is not None:
            self._estimate.observe(prediction.duration)
        progress.outputs = prediction.output
        progress.report("downloading")
        images = await self._download_all(prediction, params, progress, resources)
        progress.report("succeeded")
        return images

    # -- the three requests ------------------------------------------------------------

    def _sync_hold(self) -> int:
        """Seconds the server is asked to hold the create's answer (0: no ``Prefer: wait``)."""
        if not self.sync_wait:
            return 0
        return max(1, min(_MAX_SYNC_WAIT, _SYNC_HOLD, int(self.timeout) - 5))

    async def _create(self, params: FluxParams, resources: LoopResources) -> Prediction:
        settings = self._settings
        headers: dict[str, str] = {}
        read = self._timeouts.create
        wait = self._sync_hold()
        if wait:
            headers["Prefer"] = f"wait={wait}"
            # The server holds the answer up to `wait` s; a read timeout on a create is never
            # retried (it would pay twice), so never let it fire first.
            read += wait
        timeout = self._timeouts.for_read(read)
        url = settings.provider.create_url(settings.base_url)
        body = {"input": params.to_input()}

        async def send() -> httpx.Response:
            try:
                response = await resources.http.post(
                    url, json=body, headers=headers, timeout=timeout, auth=self._auth
                )
            except httpx.ReadTimeout:  # never retried (retry.py), so say why here
                raise FluxConnectionError(
                    f"{settings.base_url} did not answer the create request within {read:g} s. "
                    "It was not sent again: the server may have started a prediction, and a "
                    "second create would be paid twice. Check the provider's dashboard, then "
                    "retry"
                ) from None
            return self._check(response)

        return parse_prediction(await self._send(send, create=True, target=settings.base_url))

    async def _poll(
        self,
        prediction: Prediction,
        params: FluxParams,
        started: float,
        progress: _Progress,
        resources: LoopResources,
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
        resources: LoopResources,
    ) -> list[GeneratedImage]:
        seed = params.seed if params.seed is not None else seed_from_logs(prediction.logs)
        timeout = self._timeouts.for_read(self._timeouts.download)

        async def download(index: int, url: str) -> GeneratedImage:
            began = time.monotonic()
            data = await self._send(
                lambda: read_output(
                    resources.http, url, timeout=timeout, prediction_id=prediction.id
                ),
                create=False,
                target=file_host(url),
            )
            image = GeneratedImage.from_bytes(
                data,
                params,
                seed=seed,
                prediction_id=prediction.id,
                index=index,
                url=url,
                predict_time=prediction.predict_time,
                download_time=time.monotonic() - began,
            )
            progress.images[index] = image  # kept even if the deadline passes meanwhile
            return image

        return await download_outputs(prediction, download)

    async def _cancel_quietly(self, progress: _Progress, resources: LoopResources) -> None:
        """Ask the server to cancel a prediction that has not succeeded (one that has is paid
        for and downloading); tolerate anything (CometAPI may not have the route).

        A create still open has its answer awaited by a background task the client owns
        (bounded by the create's own timeouts), which then cancels the prediction it started.
        """
        create, progress.create = progress.create, None
        if create is not None and progress.prediction_id is None:
            if not create.done():
                resources.spawn(
                    self._cancel_once_created(create, resources), due=progress.create_due
                )
                return
            if create.cancelled() or create.exception() is not None:
                return  # no prediction was created (or its answer was lost: nothing to name)
            progress.prediction_id = create.result().id
        prediction_id = progress.prediction_id
        if prediction_id is None or progress.outputs:
            return
        await self._post_cancel(prediction_id, resources)

    async def _cancel_once_created(
        self, create: asyncio.Future[Prediction], resources: LoopResources
    ) -> None:
        """Wait (bounded) for a create whose generation already ended, then cancel what it
        started, unless it had already finished."""
        bound = self._timeouts.create + _MAX_SYNC_WAIT + self._timeouts.connect
        try:
            prediction = await asyncio.wait_for(create, bound)
        except (Exception, asyncio.CancelledError) as error:
            create.cancel()
            logger.info(
                "a cancelled generation's create ended without a prediction id (%s)",
                error.__class__.__name__,
            )
            return
        if prediction.is_final:
            logger.info(
                "prediction %s of a cancelled generation had already ended (%s)",
                prediction.id,
                prediction.status,
            )
            return
        await self._post_cancel(prediction.id, resources)

    async def _post_cancel(self, prediction_id: str, resources: LoopResources) -> None:
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
                send,
                create=create,
                attempts=self.max_retries + 1,
                backoff=self._backoff,
                deadline=_DEADLINE.get(),
            )
        except httpx.TimeoutException as error:
            raise FluxConnectionError(
                f"{target} did not answer in time ({error.__class__.__name__}); "
                "check your connection and try again"
            ) from None
        except httpx.TransportError as error:
            proxy = proxy_of(error)
            if proxy is not None:
                raise FluxConnectionError(
                    f"could not reach {target} through the proxy {proxy} set in the environment "
                    f"({error.__class__.__name__}); check the proxy, or list the host in NO_PROXY"
                ) from None
            hint = "base_url" if target == self._settings.base_url else "network"
            raise FluxConnectionError(
                f"could not reach {target} ({error.__class__.__name__}); "
                f"check your connection and {hint}"
            ) from None
        except RuntimeError as error:
            # httpx: "Cannot send a request, as the client has been closed."
            if "closed" not in str(error):
                raise
            raise ClientClosedError(
                "the client was closed (aclose()) during this request"
            ) from None


def _being_cancelled() -> bool:
    """Whether the running task itself has a cancel pending (3.11+; on 3.10 we cannot tell)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


# Longer than any flux-schnell generation could take: a bound on what a server's clock may claim.
_MAX_PLAUSIBLE_SECONDS = 3600.0


def _within_bounds(prediction: Prediction, params: FluxParams, measured: float) -> Prediction:
    """The prediction with server values held to what the client asked for and measured.

    A server clock that claims more time than passed here (clock skew, a bad timestamp, a
    ``predict_time`` of a year) would teach the poll schedule to sleep that long on every later
    generation, and more outputs than requested would be downloaded and held in memory.
    """
    duration, predict_time = prediction.duration, prediction.predict_time
    if duration is not None and not 0 <= duration <= measured:
        duration = None  # nothing to learn from a clock that disagrees with ours
    if predict_time is not None and not 0 <= predict_time <= min(measured, _MAX_PLAUSIBLE_SECONDS):
        predict_time = None
    output = prediction.output
    if len(output) > params.num_outputs:
        logger.warning(
            "prediction %s lists %d outputs for %d requested; downloading the first %d",
            prediction.id,
            len(output),
            params.num_outputs,
            params.num_outputs,
        )
        output = output[: params.num_outputs]
    return dataclasses.replace(
        prediction, duration=duration, predict_time=predict_time, output=output
    )


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
