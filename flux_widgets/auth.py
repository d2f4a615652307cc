"""The API key on the wire: a Bearer token that only the API's own origin ever receives."""

from __future__ import annotations

import logging
from collections.abc import Generator

import httpx

from .errors import register_secret

logger = logging.getLogger("flux_widgets")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme))


class BearerAuth(httpx.Auth):
    """The API key as a Bearer token, attached only to requests for the API's own origin.

    The official client sends the key to the file host (PROTOCOL.md lessons): here a request
    to any other scheme, host or port goes out without it, whatever code path built it.
    """

    def __init__(self, api_key: str, base_url: str) -> None:
        register_secret(api_key, self)  # so that no error message or log line can hold it
        self._header = f"Bearer {api_key}"
        self._origin = _origin(httpx.URL(base_url))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) == self._origin:
            request.headers["Authorization"] = self._header
        else:
            logger.warning("not sending the API key to %s: not the API's origin", request.url.host)
        yield request

    def __repr__(self) -> str:
        return "<BearerAuth key=set>"
