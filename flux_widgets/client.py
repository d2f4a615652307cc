"""FluxClient: one async httpx client that turns parameters into downloaded images.

The client holds the settings (provider, base URL, key), its resources per event loop, the
ledger (prices, the spending cap, usage) and the public calls. One generation's life (create,
hold or poll, download, cancel, the deadline) is ``generation/``'s; a batch's workers are
``batch.py``'s; how requests travel is ``transport/``'s; which protocol it speaks is the
provider's (``providers/``). Every paid image is kept where ``history=`` says
(``generation/keeper.py``). Never imports the widgets, the mock or the history.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import AsyncGenerator, Awaitable, Iterable, Mapping
from typing import Any

import httpx

from .batch import BatchResult, batch_results, run_calls
from .errors import ClientClosedError
from .generation import (
    DetailCallback,
    Generation,
    GenerationPolicy,
    HistorySetting,
    ImageKeeper,
    JobJournal,
    Progress,
    StatusCallback,
    UnclaimedOutputs,
    check_history,
    keep_failed,
    keep_finished,
    keeping,
    note_in_journal,
)
from .images import GeneratedImage
from .params import FluxParams, PromptOrigin, to_params
from .prompts.plans import BatchPlan
from .prompts.progress import BatchProgress
from .prompts.styles import Style
from .providers import Provider, Settings, resolve_settings
from .providers.base import Job
from .spending.allowance import session_allowance
from .spending.budget import SpendingCap
from .spending.ledger import Hold, Ledger
from .spending.prices import Price
from .spending.usage import (
    HistoryEntry,
    KeyQuota,
    UsageReport,
    default_history_entries,
    fetch_key_quota,
)
from .transport.in_process import InProcessMock, in_process_mock, shared_mock
from .transport.lifecycle import ClientState, LoopResources, close_resources, open_resources
from .transport.polling import DurationEstimate
from .transport.retry import Backoff
from .transport.sending import MockSighting, Sender, Timeouts

__all__ = [
    "BatchResult",
    "DetailCallback",
    "FluxClient",
    "ImageKeeper",
    "JobJournal",
    "StatusCallback",
    "to_params",
]


class FluxClient:
    """Async client for FLUX.1 [schnell] on CometAPI (default), Replicate, fal.ai or Together.

    ``provider`` is a name (``"cometapi"``, ``"replicate"``, ``"fal"``, ``"together"``; default
    ``FLUX_PROVIDER``, else cometapi) or a ``providers.Provider``. The key comes from ``api_key``,
    else the provider's own variable (``COMETAPI_KEY``/``FLUX_API_KEY``, ``REPLICATE_API_TOKEN``,
    ``FAL_KEY``, ``TOGETHER_API_KEY``); ``FLUX_BASE_URL`` points it at another server speaking the
    same protocol, and ``FLUX_WIDGETS_MOCK=1`` uses the in-package mock. ``timeout`` is the total
    deadline of one generation in seconds; ``max_concurrency`` bounds generations in flight
    across all calls; ``sync_wait`` lets the server hold the create's answer where the protocol
    allows it; ``max_retries`` bounds the retries of one request. ``transport`` (an
    ``httpx.AsyncBaseTransport``) replaces the network: ``httpx.MockTransport`` in tests, the
    mock's ASGI app in ``FluxClient.mock()``; without it, requests go out directly or through
    the environment's proxy (never for loopback, ``transport/network.py``). ``max_spend`` (US
    dollars, estimated from the price table; ``prices`` overrides entries) refuses before any
    request a generation that would pass it (``BudgetExceededError``). ``ValueError`` for a
    non-positive ``timeout`` or ``max_concurrency``, an unknown provider or a bad base URL;
    ``MissingAPIKeyError`` when the provider's own host is meant and no key is found.
    ``history`` keeps every paid image once, as it arrives (a failed write is a warning): True
    in the default folder (``History()``'s), an ``ImageKeeper`` (``History(path)``) there,
    False nowhere; a call's ``history=`` wins. Its journal notes each job id as it arrives, for
    ``History.recover`` in a new kernel; ``journal`` (``History(path).jobs``) notes elsewhere.
    ``key_source`` says where the key came from, for people (``"HF_TOKEN (Colab secret)"``,
    ``"COMETAPI_KEY (environment variable)"``, ``"argument"``; "" with none), never the key.
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
        journal: JobJournal | None = None,
        history: HistorySetting = True,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency!r}")
        check_history(history)
        settings = resolve_settings(api_key=api_key, base_url=base_url, provider=provider)
        # The in-package mock this client talks to, in this process (transport/in_process.py).
        self._mock_server: InProcessMock | None = None
        if settings.use_mock:
            self._mock_server = shared_mock()
            settings = Settings(settings.provider, self._mock_server.url, None)
            transport = transport or self._mock_server.transport()
        self._settings = settings
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.sync_wait = sync_wait
        self.max_retries = max_retries
        self._transport = transport
        # Tests shorten these (client._backoff = Backoff(base=0.01)); users have max_retries.
        self._backoff = Backoff()
        self._timeouts = Timeouts()
        self._auth: httpx.Auth = httpx.Auth()  # no key (a local server): send none
        if settings.api_key:
            # The provider's scheme (fal: "Key"), sent to the API's own origin only
            # (transport/auth.py).
            self._auth = settings.provider.auth(settings.api_key, settings.base_url)
        self._estimate = DurationEstimate()
        # (job id, outputs) of jobs that succeeded after their generation was given up (a
        # cancel or close during the create): paid for, so never silently dropped.
        self.unclaimed_outputs: UnclaimedOutputs = []
        self.journal = journal  # where each job id is written (None: the history's journal)
        self.history = history  # where each paid image is kept (generation/keeper.py)
        # Where the key came from, for people ("HF_TOKEN (Colab secret)"); "" with no key.
        self.key_source: str = settings.key_source
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopResources]
        self._per_loop = weakref.WeakKeyDictionary()
        self._state = ClientState.UNOPENED
        self._mock_sighting = MockSighting()  # a server that answers as the mock does
        # Prices, the spending cap and the usage records (spending/ledger.py): every generation
        # is held against the cap before its create and settled after.
        self._ledger = Ledger(settings.provider.name, max_spend=max_spend, prices=prices)
        self._ledger.allowance = session_allowance(settings.provider, settings.base_url)

    @classmethod
    def mock(cls, *, config: Any = None, **kwargs: Any) -> FluxClient:
        """A client wired to the in-package fake API, answered in this process through
        ``httpx.ASGITransport``: no key, no network, no server thread.

        ``config`` (a ``flux_widgets.mock.MockConfig``) gives this client a private mock;
        otherwise one mock shared by the process is used. ``kwargs`` are ``FluxClient``'s.
        ``FluxError`` with the install hint when the ``mock`` extra is missing.
        """
        mock = in_process_mock(config)
        kwargs.setdefault("transport", mock.transport())
        # The mock serves every provider's routes: provider= (or FLUX_PROVIDER) picks which.
        client = cls(base_url=mock.url, **kwargs)
        client._mock_server = mock
        return client

    def with_provider(self, provider: str | Provider) -> FluxClient:
        """A new client like this one (timeout, concurrency, retries) for another provider.

        On the mock (or another keyless server, such as ``FLUX_BASE_URL``'s), it stays on the
        same server, which serves every provider's routes; otherwise the key and base URL are
        that provider's own, from the environment (``MissingAPIKeyError`` if it has no key).
        Running generations keep their client. The price table, the session's usage and the
        spending cap (the same cap: what was spent counts) come along.
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
            journal=self.journal,
            history=self.history,
        )
        if self.spending_cap is not None:
            client.set_budget(self.spending_cap)  # the same cap: a switch does not reset it
        client.share_session(self)  # and the same session: its usage and prices
        client._mock_server = self._mock_server  # the same mock, through the same transport
        client._mock_sighting.seen = self._mock_sighting.seen
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
        return self._mock_server is not None or self._mock_sighting.seen

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

    def set_price(self, per_image: float) -> None:
        """Estimate this client's provider at ``per_image`` US dollars from now on (CometAPI
        publishes none: set yours so a spending cap can count it). Clients sharing this one's
        session (``with_provider``, ``share_session``) see it too. ``ValueError`` for zero,
        a negative amount or a non-number (a price of 0 would turn a spending cap off)."""
        self._ledger.set_price(per_image)

    def share_session(self, other: FluxClient) -> None:
        """Count this client's generations in ``other``'s session and use its price table, as
        ``with_provider`` does: a studio that switches provider keeps one session's usage."""
        self._ledger.share(other._ledger)

    def estimate_cost(self, params: FluxParams) -> float | None:
        """Estimated US dollars of one generation of ``params`` (all its images) on this
        client's provider; None when its price is unknown (``spending/prices.py``)."""
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
            history = default_history_entries()
        return self._ledger.report(history, mock=self.is_mock)

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
            resources = open_resources(loop, self._transport, self.max_concurrency, self._timeouts)
            self._per_loop[loop] = resources
        self._state = ClientState.OPENED
        return resources

    async def aclose(self) -> None:
        """Close the client: end generations in flight, then release what it holds.

        Each generation in flight (on any event loop) first has its prediction cancelled on the
        server, then raises ``ClientClosedError``; a create still open is given until its
        ``Prefer: wait`` hold plus 2 s to answer (so that what it started can be cancelled),
        at most 15 s. Connection pools close. The next use reopens the client. A second call
        while one runs returns at once.
        """
        if self._state is ClientState.CLOSING:
            return
        self._state = ClientState.CLOSING
        try:
            for resources in list(self._per_loop.values()):
                await close_resources(resources, self._timeouts.close)
            self._per_loop.clear()
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
        history: HistorySetting | None = None,
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
        ``on_status``/``on_detail``: see their types. The images come back as kept in the
        history (``history``: this call's, else the client's; a failure's paid images too).
        """
        provider = self._settings.provider
        # The parameters as they will be sent; ValueError before any request.
        flux_params = provider.prepare(to_params(prompt, params, provider.defaults()))
        keeper, journal = keeping(self.history, self.journal, history)  # TypeError here too
        hold = self._ledger.hold(flux_params)
        progress = Progress(on_status, on_detail)
        return await self._generate(flux_params, progress, hold, origin, keeper, journal)

    def generate_many(
        self,
        prompts: str | BatchPlan | Iterable[str | FluxParams],
        /,
        *,
        style: Style | str | None = None,
        random_count: int | None = None,
        seed_template: int | None = None,
        progress: bool | BatchProgress = False,
        history: HistorySetting | None = None,
        **params: Any,
    ) -> AsyncGenerator[BatchResult, None]:
        """Yield a ``BatchResult`` per generation as each completes, with at most
        ``max_concurrency`` in flight (a batch of 10,000 holds 10,000 small items, not tasks).

        ``prompts`` is a template (``"a {red|green} __animals__"``: every combination, or
        ``random_count`` random picks drawn with ``seed_template``), a ``BatchPlan``, or a list
        of prompts and FluxParams (each string a template too). ``style`` (a ``Style`` or a
        name) wraps every prompt; ``params`` apply to every item and win over the style's.
        Every item is validated, and the whole batch priced and held against the spending cap,
        before the first request (``ValueError``/``BudgetExceededError``, raised by the first
        iteration); one failure does not stop the rest. Each image's recipe keeps the template
        it came from. ``progress=True`` shows a ``tqdm.auto`` bar with done / failed / running
        counts; a ``BatchProgress`` is fed instead. Each item's images (a failed item's paid
        ones too) are kept in the history as they arrive (``history``: as ``generate``'s).
        """
        keeper, journal = keeping(self.history, self.journal, history)
        return batch_results(
            prompts,
            provider=self._settings.provider,
            ledger=self._ledger,
            generate=functools.partial(self._generate, keeper=keeper, journal=journal),
            concurrency=self.max_concurrency,
            style=style,
            random_count=random_count,
            seed_template=seed_template,
            progress=progress,
            params=params,
        )

    async def _generate(
        self,
        params: FluxParams,
        progress: Progress,
        hold: Hold,
        origin: PromptOrigin | None,
        keeper: ImageKeeper | None,
        journal: JobJournal | None,
    ) -> list[GeneratedImage]:
        """One generation, its hold settled however it ends (``spending/ledger.py``), its job
        id written to ``journal`` and its paid images kept once by ``keeper``."""
        progress.on_status = hold.watch(progress.on_status)
        if journal is not None:
            note_in_journal(progress, journal, self.provider, params)

        def run_one(part: FluxParams, part_progress: Progress) -> Awaitable[list[GeneratedImage]]:
            return _new_generation(self, part, part_progress).run()

        def start() -> Awaitable[list[GeneratedImage]]:
            # Inside the ledger's accounting: a client closing now refuses and releases the hold.
            # One call, or several where the provider makes fewer images per call than asked
            # (Hugging Face, Cloudflare: one), seeds seed, seed + 1, ... (Provider.calls).
            provider = self._settings.provider
            return run_calls(params, progress, provider, run_one, self.unclaimed_outputs)

        try:
            images = await self._ledger.accounted(hold, progress, start)
        except Exception as error:
            await keep_failed(keeper, error, origin)  # what arrived was paid for: kept too
            raise
        return await keep_finished(keeper, images, origin)

    async def resume(
        self, job_id: str, params: FluxParams, *, cancel_running: bool = False
    ) -> tuple[str, list[GeneratedImage]]:
        """Ask again about a job an earlier kernel started (``History.recover`` calls this):
        ``("succeeded", images)``, downloaded now; else its status (one still running is left
        so unless ``cancel_running``). ``ProtocolError`` where the provider has no query route
        (Together); a ``FluxError`` for an error answer (404: the job is unknown there)."""
        generation = _new_generation(self, params, Progress(None))
        return await generation.resume(Job(job_id, "starting"), cancel_running)


def _new_generation(client: FluxClient, params: FluxParams, progress: Progress) -> Generation:
    """A generation of ``params`` on this loop's resources, with the client's settings."""
    resources = client._resources()
    settings = client._settings
    sender = Sender(
        http=resources.http,
        provider=settings.provider,
        base_url=settings.base_url,
        api_key=settings.api_key,
        auth=client._auth,
        timeouts=client._timeouts,
        backoff=client._backoff,
        attempts=client.max_retries + 1,
        sighting=client._mock_sighting,
    )
    policy = GenerationPolicy(
        provider=settings.provider,
        base_url=settings.base_url,
        deadline=client.timeout,
        sync_wait=client.sync_wait,
        estimate=client._estimate,
        unclaimed_outputs=client.unclaimed_outputs,
        price=client.prices.get(settings.provider.name),
    )
    return Generation(params, progress, policy=policy, sender=sender, resources=resources)
