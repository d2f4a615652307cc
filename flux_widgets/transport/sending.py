"""Sending what a provider built: timeouts, the key, the answer checked, retries, errors named.

A ``Sender`` belongs to one client on one event loop (its pool is ``LoopResources.http``). It
sends a provider's ``Request`` with the client's auth (the key goes to the API's origin only,
``auth.py``), turns an unsuccessful answer into the provider's typed error, and retries by the
protocol's rules (``retry.py``); a network failure becomes a ``FluxConnectionError`` naming the
host, never the key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx

from ..errors import ClientClosedError, FluxConnectionError, ProtocolError
from ..providers.base import Job, Provider, Request
from .http_errors import CHECK_ADDRESS
from .network import proxy_of
from .retry import Backoff, with_retries

T = TypeVar("T")

MOCK_HEADER = "x-flux-mock"
"""Every answer of the in-package mock carries it (``mock/app.py``): images are placeholders."""


@dataclass(frozen=True)
class Timeouts:
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
        """An httpx timeout of ``read`` seconds, whose connect part is never longer."""
        return httpx.Timeout(read, connect=min(self.connect, read))


class CreateAttempt:
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
class MockSighting:
    """Whether a server answered with the mock's header: a client pointed at the mock by
    ``FLUX_BASE_URL`` then tells its users plainly that the images are placeholders."""

    seen: bool = False


@dataclass(frozen=True)
class Sender:
    """Sends one client's requests over one loop's pool, by the protocol's retry rules."""

    http: httpx.AsyncClient
    provider: Provider
    base_url: str
    api_key: str | None
    auth: httpx.Auth
    timeouts: Timeouts
    backoff: Backoff
    attempts: int
    sighting: MockSighting

    async def request(self, request: Request, timeout: httpx.Timeout) -> httpx.Response:
        """Send ``request`` once, with the client's auth; the answer whatever it is."""
        return await self.http.request(
            request.method,
            request.url,
            json=request.json,
            params=request.params,
            headers=dict(request.headers),
            timeout=timeout,
            auth=self.auth,
        )

    def check(self, response: httpx.Response, job: Job | None) -> httpx.Response:
        """The response if it is a success; else the provider's typed error for it (``job``:
        what the request was about, None for a create)."""
        if response.headers.get(MOCK_HEADER):
            self.sighting.seen = True
        if response.is_success:
            return response
        raise self.provider.error_for(response, job, self.api_key)

    async def create(
        self, request: Request, attempt: CreateAttempt, *, read: float, deadline: float | None
    ) -> httpx.Response:
        """Send a create, retried only where no job can have started; a read timeout after
        ``read`` seconds is never retried (a second create would be paid twice) and says so.
        ``attempt`` tells the generation whether the request is on the wire; one abandoned
        sends no further try (``ClientClosedError``)."""
        timeout = self.timeouts.for_read(read)

        async def send() -> httpx.Response:
            if attempt.abandoned:
                raise ClientClosedError("the generation was given up before its create was sent")
            try:
                attempt.on_the_wire = True
                response = await self.request(request, timeout)
            except httpx.ReadTimeout as error:  # never retried (retry.py), so say why here
                proxy = proxy_of(error)
                via = f" (through the proxy {proxy} set in the environment)" if proxy else ""
                raise FluxConnectionError(
                    f"{self.base_url}{via} did not answer the create request within "
                    f"{read:g} s. "
                    "It was not sent again: the server may have started a generation, and a "
                    "second create would be paid twice. Check the provider's dashboard, then "
                    "retry"
                ) from None
            finally:
                attempt.on_the_wire = False
            return self.check(response, None)

        return await self.send(send, create=True, target=self.base_url, deadline=deadline)

    async def send(
        self,
        send: Callable[[], Awaitable[T]],
        *,
        create: bool,
        target: str,
        deadline: float | None,
    ) -> T:
        """Retry ``send`` by the rules, no retry sleeping past ``deadline`` (``time.monotonic()``);
        network failures become a FluxConnectionError naming ``target`` (the base URL, or the
        file host), never the key."""
        try:
            return await with_retries(
                send,
                create=create,
                attempts=self.attempts,
                backoff=self.backoff,
                deadline=deadline,
            )
        except httpx.TransportError as error:
            proxy = proxy_of(error)
            if proxy is not None:
                verb = "got no answer in time from" if timed_out(error) else "could not reach"
                raise FluxConnectionError(
                    f"{verb} {target} through the proxy {proxy} set in the environment "
                    f"({what_failed(error)}); check the proxy, or list the host in NO_PROXY"
                ) from None
            if timed_out(error):
                raise FluxConnectionError(
                    f"{target} did not answer in time ({what_failed(error)}); "
                    "check your connection and try again"
                ) from None
            hint = CHECK_ADDRESS if target == self.base_url else "the network"
            raise FluxConnectionError(
                f"could not reach {target} ({what_failed(error)}); check your connection and {hint}"
            ) from None
        except httpx.InvalidURL:
            # httpx reads a redirect's Location even when not following it; a malformed one
            # is the server's fault, not a bug here.
            raise ProtocolError(
                f"{target} answered with a redirect to a malformed URL; redirects are not "
                f"followed (it usually means a wrong path or {CHECK_ADDRESS})"
            ) from None
        except RuntimeError as error:
            # httpx: "Cannot send a request, as the client has been closed."
            if "closed" not in str(error):
                raise
            raise ClientClosedError(
                "the client was closed (aclose()) during this request"
            ) from None


# httpx's transport errors in words (the class names meant nothing to a person).
_FAILURES: tuple[tuple[type[httpx.TransportError], str], ...] = (
    (httpx.ConnectTimeout, "no connection in time"),
    (httpx.ReadTimeout, "no answer in time"),
    (httpx.WriteTimeout, "the request could not be sent in time"),
    (httpx.PoolTimeout, "no free connection in time"),
    (httpx.ConnectError, "the connection failed"),
    (httpx.ReadError, "the connection broke while reading the answer"),
    (httpx.WriteError, "the connection broke while sending"),
    (httpx.RemoteProtocolError, "the server closed the connection or broke the HTTP protocol"),
    (httpx.ProxyError, "the proxy refused"),
    (httpx.UnsupportedProtocol, "the address is not http:// or https://"),
)


def what_failed(error: httpx.TransportError) -> str:
    """What went wrong on the network, in words: ``"the connection failed"``."""
    for kind, words in _FAILURES:
        if isinstance(error, kind):
            return words
    return "a network error"


def timed_out(error: httpx.TransportError) -> bool:
    """Whether a transport error was a timeout (connect, read, write or pool)."""
    return isinstance(error, httpx.TimeoutException)
