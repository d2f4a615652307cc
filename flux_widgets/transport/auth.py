"""The API key on the wire: sent only to the API's own origin, in the provider's auth scheme."""

from __future__ import annotations

import logging
from collections.abc import Generator

import httpx

from .redaction import register_secret

logger = logging.getLogger("flux_widgets")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme))


class OriginAuth(httpx.Auth):
    """``Authorization: <scheme> <key>``, attached only to requests for the API's own origin.

    ``scheme`` is ``Bearer`` (CometAPI, Replicate, Together, Hugging Face) or ``Key`` (fal).
    ``also`` lists further API origins of the same provider (Hugging Face: the Hub's model API
    beside the router). The official Replicate client sends the key to the file host
    (docs/protocol.md lessons): here a request to any other scheme, host or port goes out
    without it, whatever code path built it.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        scheme: str = "Bearer",
        also: tuple[str, ...] = (),
    ) -> None:
        register_secret(api_key, self)  # so that no error message or log line can hold it
        self._header = f"{scheme} {api_key}"
        self._origins = frozenset(_origin(httpx.URL(url)) for url in (base_url, *also))
        self.scheme = scheme

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) in self._origins:
            request.headers["Authorization"] = self._header
        else:
            logger.warning("not sending the API key to %s: not the API's origin", request.url.host)
        yield request

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.scheme} key=set>"


class BearerAuth(OriginAuth):
    """The key as a Bearer token, for the API's origin only (``OriginAuth`` with ``Bearer``)."""

    def __init__(self, api_key: str, base_url: str) -> None:
        super().__init__(api_key, base_url, scheme="Bearer")
