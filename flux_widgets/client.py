"""FluxClient: one async httpx client that turns parameters into downloaded images.

create -> wait (where the protocol holds the answer) or poll on an adaptive schedule -> download
every output concurrently. Bounded concurrency across all calls, retries by the protocol's rules,
a total deadline per generation, and cancellation that reaches the server. Which protocol it
speaks is the provider's business (``providers/``): the client sends what the provider builds and
hands it the answers. Never imports widgets.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import (
    ClientClosedError,
    DownloadError,
    FluxConnectionError,
    FluxError,
    FluxTimeoutError,
    ProtocolError,
)
from .images import GeneratedImage, kept_images
from .params import FluxParams, PromptOrigin
from .prompts.plans import BatchPlan, batch_items
from .prompts.progress import BatchProgress
from .prompts.styles import Style
from .providers import Job, Output, Provider, Request, Settings, resolve_settings
from .spending.budget import SpendingCap
from .spending.ledger import Hold, Ledger
from .spending.prices import Price
from .spending.usage import HistoryEntry, KeyQuota, UsageReport, fetch_key_quota
from .transport.downloads import download_outputs, file_host, read_output
from .transport.lifecycle import ClientState, LoopResources, close_resources
from .transport.network import ProxyRoutes, RoutingTransport, proxy_of
from .transport.polling import DurationEstimate, PollSchedule, RateLimiter
from .transport.retry import Backoff, with_retries

logger = logging.getLogger("flux_widgets")

StatusCallback = Callable[[str], None]
"""Called with "queued", "starting", "processing", "downloading", then "succeeded",
"failed" or "canceled" as one generation moves along."""
DetailCallback = Callable[[str], None]
"""Called with what the provider says about progress, when it changes: fal's queue position
("in queue, position 2") or the runner's last log line; "" when there is nothing to say."""

_USER_AGENT = "flux-widgets/0.1 (+https://github.com/flux-widgets/flux-widgets)"
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
    create: float = 30.0  # plus what the provider asked the server to hold the answer for
    # docs/protocol.md: a query may take over 45 s to answer.
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


class _CreateAttempt:
    """Whether a create request is on the wire now, and whether its generation was given up.

    A generation given up (cancelled, deadline, closed) between two tries of its create, e.g.
    while waiting out a 429's Retry-After, must not send another: no job can have started, so
    nothing needs finishing. One given up while a request is on the wire has that request's
    answer awaited, its job then cancelled; it too sends no further try.
    """

    def __init__(self) -> None:
        self.on_the_wire = False
        self.abandoned = False


@dataclass
class _Progress:
    """What a running generation knows about itself, for cancel-on-timeout and status."""

    on_status: StatusCallback | None
    on_detail: DetailCallback | None = None
    prediction_id: str | None = None
    status: str = "queued"
    detail: str = ""
    # The provider's latest word on the job (what a cancel needs to name it).
    job: Job | None = None
    # Set once the job succeeded: what to download, and what has been so far.
    outputs: tuple[Output, ...] = ()
    images: dict[int, GeneratedImage] = field(default_factory=dict)
    # The create request while it is open: if the generation ends first, it is finished in the
    # background and its job cancelled (the id only comes with the answer).
    create: asyncio.Future[Job] | None = None
    create_due: float = 0.0  # loop time by which a server should have answered it
    create_hold: float = 0.0  # seconds the provider let the server hold that answer
    create_attempt: _CreateAttempt | None = None  # whether a create request is on the wire
    requested: int = 1  # num_outputs: no more outputs than this are kept from any answer

    def report(self, status: str) -> None:
        if status == self.status:
            return
        self.status = status
        if self.on_status is not None:
            try:
                self.on_status(status)
            except Exception:  # a broken UI callback must not break the generation
                logger.exception("status callback failed")

    def follow(self, job: Job) -> None:
        """Report a pending job's status and the provider's detail, as they change."""
        self.job = job
        if job.status in ("starting", "processing"):
            self.report(job.status)
        if job.detail != self.detail:
            self.detail = job.detail
            if self.on_detail is not None:
                try:
                    self.on_detail(job.detail)
                except Exception:  # as for on_status
                    logger.exception("detail callback failed")


class FluxClient:
    """Async client for FLUX.1 [schnell] on CometAPI (default), Replicate, fal.ai or Together.

    ``provider`` is a name (``"cometapi"``, ``"replicate"``, ``"fal"``, ``"together"``; default
    ``FLUX_PROVIDER``, else cometapi) or a ``providers.Provider``. The key comes from ``api_key``,
    else the provider's own variable (``COMETAPI_KEY``/``FLUX_API_KEY``, ``REPLICATE_API_TOKEN``,
    ``FAL_KEY``, ``TOGETHER_API_KEY``); ``FLUX_BASE_URL`` points it at another server speaking the
    same protocol, and ``FLUX_WIDGETS_MOCK=1`` uses the in-package mock. ``timeout`` is the total
    deadline of one generation; ``max_concurrency`` bounds generations in flight across all
    calls; ``sync_wait`` lets the server hold the create's answer where the protocol allows it.
    ``max_spend`` (US dollars, estimated from the price table; ``prices`` overrides entries)
    refuses before any request a generation that would pass it (``BudgetExceededError``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        provider: str | Provider | None = None,
        timeout: float = 180.0,
        max_concurrency: int = 4,
        sync_wait: bool = True,
        max_retries: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        max_spend: float | None = None,
        prices: Mapping[str, Price] | None = None,
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
            # The provider's scheme (fal: "Key"), sent to the API's own origin only (auth.py).
            self._auth = settings.provider.auth(settings.api_key, settings.base_url)
        self._estimate = DurationEstimate()
        # (job id, outputs) of jobs that succeeded after their generation was given up (a
        # cancel or close during the create): paid for, so never silently dropped.
        self.unclaimed_outputs: list[tuple[str | None, tuple[Output, ...]]] = []
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopResources]
        self._per_loop = weakref.WeakKeyDictionary()
        self._state = ClientState.UNOPENED
        self._server_says_mock = False
        # Prices, the spending cap and the usage records (accounting.py): every generation is
        # held against the cap before its create and settled after.
        self._ledger = Ledger(settings.provider.name, max_spend=max_spend, prices=prices)

    @classmethod
    def mock(cls, *, config: Any = None, **kwargs: Any) -> FluxClient:
        """A client wired to the in-package fake API over loopback HTTP: no key, no network.

        ``config`` (a ``flux_widgets.mock.MockConfig``) starts a private server with it, which
        ``aclose()`` stops (and the next use restarts); otherwise one shared server per process
        is used, which outlives the client.
        """
        server = _start_mock(config)
        # The mock serves every provider's routes: provider= (or FLUX_PROVIDER) picks which.
        client = cls(base_url=server.url, **kwargs)
        client._mock_server = server
        client._owns_mock = config is not None
        return client

    def with_provider(self, provider: str | Provider) -> FluxClient:
        """A new client like this one (timeout, concurrency, retries) for another provider.

        On the mock (or another keyless server, such as ``FLUX_BASE_URL``'s), it stays on the
        same server, which serves every provider's routes; otherwise the key and base URL are
        that provider's own, from the environment (``MissingAPIKeyError`` if it has no key).
        Running generations keep their client. The price table and the spending cap (the same
        cap: what was spent counts) come along.
        """
        settings = self._settings
        local = self.is_mock or (
            settings.api_key is None and settings.base_url != settings.provider.default_base_url
        )
        client = FluxClient(
            base_url=settings.base_url if local else None,
            provider=provider,
            timeout=self.timeout,
            max_concurrency=self.max_concurrency,
            sync_wait=self.sync_wait,
            max_retries=self.max_retries,
            transport=self._transport,
            prices=self.prices,
        )
        if self.spending_cap is not None:
            client.set_budget(self.spending_cap)  # the same cap: a switch does not reset it
        if self._mock_server is not None:
            client._mock_server = self._mock_server  # shared, never owned: it stops with us
        client._server_says_mock = self._server_says_mock
        return client

    # -- public properties -------------------------------------------------------------

    @property
    def provider(self) -> str:
        """The provider's name, e.g. ``"fal"``."""
        return self._settings.provider.name

    @property
    def provider_info(self) -> Provider:
        """The provider itself: its capabilities, what cancel means there, its key variables."""
        return self._settings.provider

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
    def prices(self) -> dict[str, Price]:
        """The price table this client estimates with (defaults, ``FLUX_PRICES``, ``prices=``)."""
        return self._ledger.prices

    @property
    def spending_cap(self) -> SpendingCap | None:
        """The cap set by ``max_spend`` or ``set_budget`` (None without one)."""
        return self._ledger.cap

    def set_budget(self, max_spend: float | SpendingCap | None) -> None:
        """Set (None: remove) the spending cap in US dollars, counting what this client has
        already spent; or share a ``SpendingCap`` with other clients. ``ValueError`` for a
        negative amount or a non-number."""
        self._ledger.set_cap(max_spend)

    def estimate_cost(self, params: FluxParams) -> float | None:
        """Estimated US dollars of one generation of ``params`` (all its images) on this
        client's provider; None when its price is unknown (``prices.py``)."""
        return self._ledger.estimate(params)

    @property
    def usage(self) -> UsageReport:
        """This session's generations, images, estimated spend, latency p50/p95 and failures
        by type, plus today and the whole history folder (``History()``'s default), the cap
        and the key's quota once ``key_quota()`` read it. Estimates, not a bill."""
        return self.usage_report()

    def usage_report(self, history: Iterable[HistoryEntry] | None = None) -> UsageReport:
        """``usage`` with today and whole-history counts taken from ``history`` (entries such
        as ``History.page(...)`` records or ``GeneratedImage``s; default: the default history
        folder's index, when it exists)."""
        if history is None:
            history = _default_history_entries()
        return self._ledger.report(history)

    async def key_quota(self) -> KeyQuota | None:
        """The key's quota as the provider reports it: CometAPI's ``GET /api/usage/token``
        (docs/protocol.md; the mock serves it too), in the provider's own units. None for other
        providers, or when the route answers 404/401 or is unreachable. ``usage`` shows it."""
        if self._settings.provider.quota_request(self.base_url) is None:
            return None
        resources = self._resources()
        quota = await fetch_key_quota(
            resources.http, self.base_url, auth=self._auth, provider=self._settings.provider
        )
        self._ledger.quota = quota
        return quota

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
        # An httpx.AsyncClient is bound to the loop it first ran on (docs/protocol.md lessons).
        loop = asyncio.get_running_loop()
        resources = self._per_loop.get(loop)
        if resources is None:
            if self._owns_mock and not self._mock_server.running:
                try:
                    self._mock_server.start()  # reopening after aclose() stopped it
                except (OSError, RuntimeError) as error:
                    raise FluxConnectionError(
                        f"could not restart this client's private mock on {self.base_url} "
                        f"({error}); create a new FluxClient.mock(config=...)"
                    ) from None
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
        server, then raises ``ClientClosedError``; a create still open is given until its
        ``Prefer: wait`` hold plus 2 s to answer (so that what it started can be cancelled),
        at most 15 s. Connection pools close, and a private mock server stops. The next use
        reopens the client. A second call while one runs returns at once.
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
        on_detail: DetailCallback | None = None,
        origin: PromptOrigin | None = None,
        **params: Any,
    ) -> list[GeneratedImage]:
        """Generate images for a prompt plus keyword parameters, or for a ``FluxParams``.

        Parameters left out take the provider's defaults (fal and Together: jpg). The prompt
        is sent as written (``generate_many`` expands templates); ``origin`` (the template and
        style it came from) goes into each image's recipe. Invalid parameters, and values the
        provider cannot honour, raise ``ValueError`` (naming the field, or the provider), and a
        generation that would pass the spending cap ``BudgetExceededError``, before any request.
        Failures raise a ``FluxError`` subclass. Cancelling the awaiting task cancels the job on
        the server too, where the provider has a cancel (Together has none).
        ``on_status``/``on_detail``: see their types.
        """
        flux_params = self._prepare(prompt, params)
        hold = self._ledger.hold(flux_params)
        images = await self._accounted(flux_params, _Progress(on_status, on_detail), hold)
        return _with_origin(images, origin)

    async def generate_many(
        self,
        prompts: str | BatchPlan | Iterable[str | FluxParams],
        /,
        *,
        style: Style | str | None = None,
        random_count: int | None = None,
        seed_template: int | None = None,
        progress: bool | BatchProgress = False,
        **params: Any,
    ) -> AsyncIterator[BatchResult]:
        """Yield a ``BatchResult`` per generation as each completes, with at most
        ``max_concurrency`` in flight (a batch of 10,000 holds 10,000 small items, not tasks).

        ``prompts`` is a template (``"a {red|green} __animals__"``: every combination, or
        ``random_count`` random picks drawn with ``seed_template``), a ``BatchPlan``, or a list
        of prompts and FluxParams (each string a template too). ``style`` (a ``Style`` or a
        name) wraps every prompt; ``params`` apply to every item and win over the style's.
        Every item is validated, and the whole batch priced and held against the spending cap,
        before the first request (``ValueError``/``BudgetExceededError``); one failure does not
        stop the rest. Each image's recipe keeps the template it came from.
        ``progress=True`` shows a ``tqdm.auto`` bar with done / failed / running counts; a
        ``BatchProgress`` is fed instead.
        """
        provider = self._settings.provider
        items = [
            (provider.prepare(item), origin)
            for item, origin in batch_items(
                prompts,
                provider=self.provider,
                style=style,
                random_count=random_count,
                seed_template=seed_template,
                prices=self.prices,
                params=params,
                defaults=provider.defaults(),
            )
        ]
        holds = self._ledger.hold_batch([item for item, _ in items])
        counts = progress if isinstance(progress, BatchProgress) else None
        if counts is None and progress:
            counts = BatchProgress(len(items))
        queue: asyncio.Queue[BatchResult | Exception] = asyncio.Queue()
        pending = iter(enumerate(zip(items, holds, strict=True)))

        async def worker() -> None:
            # Workers share one iterator: each item is taken once, when a worker is free.
            for index, ((item, origin), hold) in pending:
                try:
                    queue.put_nowait(await self._batch_item(index, item, origin, hold, counts))
                except Exception as error:  # a bug: raise it to the caller instead of hanging
                    queue.put_nowait(error)
                    return

        workers = [
            asyncio.create_task(worker()) for _ in range(min(len(items), self.max_concurrency))
        ]
        try:
            for _ in items:
                result = await queue.get()
                if isinstance(result, Exception):
                    raise result
                yield result
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for hold in holds:  # items never started hold nothing any more
                self._ledger.settle(hold, images=0, status="queued", prediction_id=None, error=None)
            if counts is not None and counts is not progress:
                counts.close()

    async def _batch_item(
        self,
        index: int,
        item: FluxParams,
        origin: PromptOrigin | None,
        hold: Hold,
        counts: BatchProgress | None,
    ) -> BatchResult:
        result = BatchResult(index, item)
        report = None if counts is None else (lambda status: counts.status(index, status))
        try:
            result.images = await self._accounted(item, _Progress(report), hold)
        except FluxError as error:
            result.error = error
            if isinstance(error, DownloadError | FluxTimeoutError):
                result.images = kept_images(error)
        result.images = _with_origin(result.images, origin)
        if counts is not None:
            counts.finish(index, ok=result.error is None)
        return result

    async def _accounted(
        self, params: FluxParams, progress: _Progress, hold: Hold
    ) -> list[GeneratedImage]:
        """``_generate`` with its hold settled, however it ends (accounting.py)."""
        report = progress.on_status

        def on_status(status: str) -> None:
            if status == "starting":
                hold.start()  # left the queue: latency and "may have run" count from here
            if report is not None:
                report(status)

        progress.on_status = on_status
        images: list[GeneratedImage] = []
        error: BaseException | None = None
        try:
            images = await self._generate(params, progress)
            return images
        except BaseException as caught:
            error = caught
            raise
        finally:
            kept = images or list(getattr(error, "images", None) or [])
            self._ledger.settle(
                hold,
                images=len(kept),
                status="queued" if hold.started is None else progress.status,
                prediction_id=progress.prediction_id,
                error=error,
            )

    def _prepare(self, prompt: str | FluxParams | None, params: Mapping[str, Any]) -> FluxParams:
        """The parameters as they will be sent; ``ValueError`` before any request."""
        provider = self._settings.provider
        return provider.prepare(to_params(prompt, params, provider.defaults()))

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
            raise _closed_error(progress) from None

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
        missing = _missing_urls(progress)
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
        progress.requested = params.num_outputs
        progress.report("starting")
        settings = self._settings
        request = settings.provider.create_request(
            params, settings.base_url, deadline=self.timeout, sync_wait=self.sync_wait
        )
        # Shielded: a cancel or the deadline arriving now must not drop the answer, which holds
        # the only handle on a job that may have started (_cancel_quietly finishes it).
        attempt = progress.create_attempt = _CreateAttempt()
        progress.create = asyncio.ensure_future(self._create(request, params, resources, attempt))
        progress.create_hold = request.hold
        progress.create_due = asyncio.get_running_loop().time() + request.hold + _CREATE_GRACE
        job = await asyncio.shield(progress.create)
        progress.create = None
        progress.prediction_id = job.id
        progress.follow(job)
        if not job.ready:
            job = await self._poll(job, params, started, progress, resources)
        if job.is_final and job.status != "succeeded":
            raise job.failure()
        if not job.outputs:
            raise ProtocolError(f"job {job.id} succeeded but lists no output files")
        job = _within_bounds(job, params, time.monotonic() - started)
        if job.duration is not None:
            self._estimate.observe(job.duration)
        progress.job = job
        progress.outputs = job.outputs
        progress.report("downloading")
        images = await self._download_all(job, params, progress, resources)
        progress.report("succeeded")
        return images

    # -- the requests ------------------------------------------------------------------

    async def _request(
        self,
        request: Request,
        resources: LoopResources,
        timeout: httpx.Timeout,
    ) -> httpx.Response:
        return await resources.http.request(
            request.method,
            request.url,
            json=request.json,
            params=request.params,
            headers=dict(request.headers),
            timeout=timeout,
            auth=self._auth,
        )

    async def _create(
        self,
        request: Request,
        params: FluxParams,
        resources: LoopResources,
        attempt: _CreateAttempt | None = None,
    ) -> Job:
        settings = self._settings
        # The server may hold the answer `hold` s on purpose (a sync wait; Together: the whole
        # generation); a read timeout on a create is never retried (it would pay twice), so
        # never let it fire first.
        read = self._timeouts.create + request.hold
        timeout = self._timeouts.for_read(read)

        async def send() -> httpx.Response:
            if attempt is not None and attempt.abandoned:
                raise ClientClosedError("the generation was given up before its create was sent")
            try:
                if attempt is not None:
                    attempt.on_the_wire = True
                response = await self._request(request, resources, timeout)
            except httpx.ReadTimeout as error:  # never retried (retry.py), so say why here
                proxy = proxy_of(error)
                via = f" (through the proxy {proxy} set in the environment)" if proxy else ""
                raise FluxConnectionError(
                    f"{settings.base_url}{via} did not answer the create request within "
                    f"{read:g} s. "
                    "It was not sent again: the server may have started a generation, and a "
                    "second create would be paid twice. Check the provider's dashboard, then "
                    "retry"
                ) from None
            finally:
                if attempt is not None:
                    attempt.on_the_wire = False
            return self._check(response, None)

        response = await self._send(send, create=True, target=settings.base_url)
        return settings.provider.read_created(response, params)

    async def _poll(
        self,
        job: Job,
        params: FluxParams,
        started: float,
        progress: _Progress,
        resources: LoopResources,
    ) -> Job:
        settings = self._settings
        schedule = PollSchedule(self._estimate.seconds)
        timeout = self._timeouts.for_read(self._timeouts.query)
        while not job.ready:
            # Unknown statuses count as pending; the deadline bounds the wait.
            progress.follow(job)
            if not job.fetch_result:  # a result known to be ready is fetched at once (fal)
                await asyncio.sleep(schedule.next_delay(time.monotonic() - started))
            request = settings.provider.poll_request(job, settings.base_url)
            send = functools.partial(self._query, request, job, resources, timeout)
            response = await self._send(send, create=False, target=settings.base_url)
            job = settings.provider.read_polled(response, job, params)
        return job

    async def _query(
        self, request: Request, job: Job, resources: LoopResources, timeout: httpx.Timeout
    ) -> httpx.Response:
        """One poll: under the client's query-rate cap, shared by every generation."""
        await resources.queries.acquire()
        response = await self._request(request, resources, timeout)
        return self._check(response, job)

    async def _download_all(
        self,
        job: Job,
        params: FluxParams,
        progress: _Progress,
        resources: LoopResources,
    ) -> list[GeneratedImage]:
        timeout = self._timeouts.for_read(self._timeouts.download)

        async def download(index: int, output: Output) -> GeneratedImage:
            began = time.monotonic()
            url = output.url
            if output.data is not None:
                data = output.data  # the answer held the image (Together's base64): no request
            else:
                assert url is not None
                data = await self._send(
                    lambda: read_output(resources.http, url, timeout=timeout, prediction_id=job.id),
                    create=False,
                    target=file_host(url),
                )
            image = GeneratedImage.from_bytes(
                data,
                params,
                seed=job.seed,
                prediction_id=job.id,
                index=index,
                url=url,
                predict_time=job.predict_time,
                download_time=time.monotonic() - began,
            )
            progress.images[index] = image  # kept even if the deadline passes meanwhile
            return image

        return await download_outputs(job.id, job.outputs, download)

    async def _cancel_quietly(self, progress: _Progress, resources: LoopResources) -> None:
        """Ask the server to cancel a job that has not succeeded (one that has is paid for and
        downloading); tolerate anything (CometAPI may not have the route; Together has none).

        A create still open has its answer awaited by a background task the client owns
        (bounded by the create's own timeouts), which then cancels the job it started.
        """
        provider = self._settings.provider
        create, progress.create = progress.create, None
        attempt = progress.create_attempt
        if create is not None and progress.job is None:
            if attempt is not None:
                attempt.abandoned = True  # no further try of the create is sent
            if not create.done() and attempt is not None and not attempt.on_the_wire:
                # Between tries (a backoff): no request is open, so no job can have started.
                create.cancel()
                return
            if not create.done():
                if not provider.can_cancel:
                    # Nothing could cancel what it started: stop waiting for the answer.
                    create.cancel()
                    logger.info(
                        "%s has no server-side cancel; the generation may still run", provider.name
                    )
                    return
                finisher = self._cancel_once_created(create, progress.create_hold, resources)
                if resources.closing:
                    # aclose() waits for this generation anyway: finish here, so that a loop
                    # that ends right after it (asyncio.run in a thread) cannot drop the cancel.
                    await finisher
                else:
                    resources.spawn(finisher, due=progress.create_due)
                return
            if create.cancelled() or create.exception() is not None:
                return  # no job was created (or its answer was lost: nothing to name)
            progress.job = create.result()
        job = progress.job
        if job is None or progress.outputs or job.ready:
            return
        answer = await self._post_cancel(job, resources)
        if answer is not None and answer.status == "succeeded" and answer.outputs:
            # It succeeded before the cancel arrived: paid for, so its URLs go in the error.
            progress.outputs = answer.outputs[: progress.requested]

    async def _cancel_once_created(
        self, create: asyncio.Future[Job], hold: float, resources: LoopResources
    ) -> None:
        """Wait (bounded) for a create whose generation already ended, then cancel what it
        started, unless it had already finished."""
        # The create's own read timeout already bounds it; this only backs that up.
        bound = self._timeouts.connect + self._timeouts.create + hold
        try:
            job = await asyncio.wait_for(create, bound)
        except (Exception, asyncio.CancelledError) as error:
            create.cancel()
            logger.info(
                "a cancelled generation's create ended without a job id (%s)",
                error.__class__.__name__,
            )
            return
        if job.ready:
            if job.status == "succeeded" and job.outputs:
                self._keep_unclaimed(job)
            else:
                logger.info(
                    "job %s of a cancelled generation had already ended (%s)", job.id, job.status
                )
            return
        answer = await self._post_cancel(job, resources)
        if answer is not None and answer.status == "succeeded" and answer.outputs:
            self._keep_unclaimed(answer)

    def _keep_unclaimed(self, job: Job) -> None:
        """A job that succeeded after its generation was given up is paid for: keep its
        outputs where the user can still fetch them (``unclaimed_outputs``) and say so."""
        self.unclaimed_outputs.append((job.id, job.outputs))
        logger.warning(
            "job %s succeeded after its generation was cancelled: its %d output(s) are paid "
            "for and kept in client.unclaimed_outputs (%s); providers delete files after "
            "about an hour",
            job.id,
            len(job.outputs),
            ", ".join(output.label for output in job.outputs),
        )

    async def _post_cancel(self, job: Job, resources: LoopResources) -> Job | None:
        """Send the provider's cancel; the job as the answer shows it, when it says (one that
        succeeded meanwhile lists its outputs, which are paid for)."""
        settings = self._settings
        request = settings.provider.cancel_request(job, settings.base_url)
        if request is None:
            logger.info(
                "%s has no server-side cancel; job %s may still run", settings.provider.name, job.id
            )
            return None
        timeout = self._timeouts.for_read(self._timeouts.cancel)
        try:
            response = await asyncio.shield(self._request(request, resources, timeout))
        except (httpx.HTTPError, asyncio.CancelledError):
            logger.info("could not cancel job %s on the server", job.id)
            return None
        if not response.is_success:
            # docs/protocol.md: CometAPI may lack the cancel route (404); fal answers 400 for a
            # request already completed. Nothing more to do.
            logger.info("the server answered %s to cancelling job %s", response.status_code, job.id)
            return None
        try:
            return settings.provider.read_canceled(response, job)
        except FluxError:
            return None

    # -- shared request plumbing -------------------------------------------------------

    def _check(self, response: httpx.Response, job: Job | None) -> httpx.Response:
        """The response if it is a success; else the provider's typed error for it (``job``:
        what the request was about, None for a create)."""
        if response.headers.get("x-flux-mock"):
            self._server_says_mock = True
        if response.is_success:
            return response
        raise self._settings.provider.error_for(response, job, self._settings.api_key)

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
        except httpx.TransportError as error:
            proxy = proxy_of(error)
            if proxy is not None:
                verb = "got no answer in time from" if _timed_out(error) else "could not reach"
                raise FluxConnectionError(
                    f"{verb} {target} through the proxy {proxy} set in the environment "
                    f"({error.__class__.__name__}); check the proxy, or list the host in NO_PROXY"
                ) from None
            if _timed_out(error):
                raise FluxConnectionError(
                    f"{target} did not answer in time ({error.__class__.__name__}); "
                    "check your connection and try again"
                ) from None
            hint = "base_url" if target == self._settings.base_url else "network"
            raise FluxConnectionError(
                f"could not reach {target} ({error.__class__.__name__}); "
                f"check your connection and {hint}"
            ) from None
        except httpx.InvalidURL:
            # httpx reads a redirect's Location even when not following it; a malformed one
            # is the server's fault, not a bug here.
            raise ProtocolError(
                f"{target} answered with a redirect to a malformed URL; redirects are not "
                "followed (it usually means a wrong base_url or path)"
            ) from None
        except RuntimeError as error:
            # httpx: "Cannot send a request, as the client has been closed."
            if "closed" not in str(error):
                raise
            raise ClientClosedError(
                "the client was closed (aclose()) during this request"
            ) from None


def _closed_error(progress: _Progress) -> ClientClosedError:
    """What a generation that ``aclose()`` ended raises: paid-for images are kept in it."""
    if not progress.outputs:
        cancelled = "; its prediction was cancelled" if progress.prediction_id else ""
        return ClientClosedError(
            f"the client was closed (aclose()) during this generation{cancelled}",
            prediction_id=progress.prediction_id,
        )
    images = [progress.images[i] for i in sorted(progress.images)]
    missing = _missing_urls(progress)
    return ClientClosedError(
        f"the client was closed (aclose()) after prediction {progress.prediction_id} "
        f"succeeded: {len(images)} of "
        f"{len(progress.outputs)} images arrived (in error.images); the others are in "
        "error.urls, downloadable for about an hour after generation",
        prediction_id=progress.prediction_id,
        urls=missing,
        images=images,
    )


def _missing_urls(progress: _Progress) -> list[str]:
    """URLs of the outputs that did not arrive (inline ones always arrive: they need none)."""
    return [o.url for i, o in enumerate(progress.outputs) if i not in progress.images and o.url]


def _timed_out(error: httpx.TransportError) -> bool:
    return isinstance(error, httpx.TimeoutException)


def _being_cancelled() -> bool:
    """Whether the running task itself has a cancel pending (3.11+; on 3.10 we cannot tell)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


# Longer than any flux-schnell generation could take: a bound on what a server's clock may claim.
_MAX_PLAUSIBLE_SECONDS = 3600.0


def _within_bounds(job: Job, params: FluxParams, measured: float) -> Job:
    """The job with server values held to what the client asked for and measured.

    A server clock that claims more time than passed here (clock skew, a bad timestamp, a
    ``predict_time`` of a year) would teach the poll schedule to sleep that long on every later
    generation, and more outputs than requested would be downloaded and held in memory.
    """
    duration, predict_time = job.duration, job.predict_time
    if duration is not None and not 0 <= duration <= measured:
        duration = None  # nothing to learn from a clock that disagrees with ours
    if predict_time is not None and not 0 <= predict_time <= min(measured, _MAX_PLAUSIBLE_SECONDS):
        predict_time = None
    outputs = job.outputs
    if len(outputs) > params.num_outputs:
        logger.warning(
            "job %s lists %d outputs for %d requested; downloading the first %d",
            job.id,
            len(outputs),
            params.num_outputs,
            params.num_outputs,
        )
        outputs = outputs[: params.num_outputs]
    return dataclasses.replace(job, duration=duration, predict_time=predict_time, outputs=outputs)


def _with_origin(images: list[GeneratedImage], origin: PromptOrigin | None) -> list[GeneratedImage]:
    if origin is None:
        return images
    return [dataclasses.replace(image, origin=origin) for image in images]


def _default_history_entries() -> list[Any]:
    """Every record of the default history folder's index (no image is read), or [] when
    there is no such folder: what ``client.usage`` counts for today and the whole history."""
    from .history.store import History, default_directory

    if not default_directory().is_dir():
        return []
    history = History()
    return list(history.page(0, max(1, len(history))))


def to_params(
    prompt: str | FluxParams | None,
    params: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
) -> FluxParams:
    """A ``FluxParams`` from a prompt plus keywords, or from a ``FluxParams`` plus overrides.

    ``defaults`` (a provider's own, e.g. fal's jpg) fill the fields the keywords leave out; a
    ``FluxParams`` is taken as it is, since its every field is already chosen.
    """
    if isinstance(prompt, FluxParams):
        return prompt.replace(**params) if params else prompt
    values = {**(defaults or {}), **params}
    if prompt is not None:
        return FluxParams(prompt=prompt, **values)
    if "prompt" not in values:
        raise ValueError("prompt is required: describe the image you want")
    return FluxParams(**values)


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
