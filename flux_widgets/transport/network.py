"""How requests reach a host: directly, or through the proxy the environment names.

JupyterHubs and CI runners often set ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``. httpx obeys
them for every host, loopback included, so a mock on 127.0.0.1 would be asked for through a
proxy that cannot reach it. Here the route is decided per request: loopback hosts (127.0.0.0/8,
::1, ``localhost``) and hosts matched by ``NO_PROXY`` (names, ``.suffix``, IPs, CIDR ranges,
``host:port``, ``*``) always go direct; the rest use the proxy for their scheme (or ``ALL_PROXY``).
A proxy is named to users as ``scheme://host:port`` only: a proxy URL's credentials never reach a
message.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from collections.abc import Mapping

import httpx

from ..errors import FluxConnectionError

_PROXY_ATTRIBUTE = "flux_widgets_proxy"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SOCKS_SCHEMES = frozenset({"socks5", "socks5h"})
_PROXY_SCHEMES = frozenset({"http", "https"}) | _SOCKS_SCHEMES
_INVALID_PROXY = (
    "a proxy URL set in the environment (HTTP_PROXY, HTTPS_PROXY or ALL_PROXY) is not a valid "
    "URL; fix it, or list the host in NO_PROXY"
)


def environment_proxies(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{"http"|"https"|"all"|"no": value}`` from the environment (lower case wins, as curl)."""
    if environ is None:
        found = urllib.request.getproxies()
    else:
        found = {}
        # Upper case first, then lower case over it (urllib.request.getproxies_environment).
        for name in sorted(environ, key=lambda n: n == n.lower()):
            if name.lower().endswith("_proxy") and environ[name]:
                found[name.lower()[:-6]] = environ[name]
    return {k: v for k, v in found.items() if k in ("http", "https", "all", "no") and v}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP, IPv6 with or without brackets) is this machine."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 (3.13 knows; 3.10 not)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def proxy_label(proxy_url: str | httpx.URL) -> str:
    """``scheme://host:port`` of a proxy URL: no user name, no password, no path."""
    try:
        url = httpx.URL(proxy_url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "(a proxy URL that is not valid)"
    port = url.port or _DEFAULT_PORTS.get(url.scheme, 1080)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}:{port}"


def _no_proxy_matches(entry: str, host: str, port: int | None) -> bool:
    entry = entry.strip().lower()
    if not entry:
        return False
    if entry == "*":
        return True
    if "://" in entry:
        entry = entry.split("://", 1)[1]
    entry_port: int | None = None
    if entry.startswith("["):  # [::1]:8080
        address, _, rest = entry[1:].partition("]")
        entry, entry_port = address, int(rest[1:]) if rest[1:].isdigit() else None
    elif entry.count(":") == 1:
        name, _, text = entry.partition(":")
        if text.isdigit():
            entry, entry_port = name, int(text)
    if entry_port is not None and entry_port != port:
        return False
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        network = None
    if network is not None:
        try:
            return ipaddress.ip_address(host) in network
        except ValueError:
            return False
    entry = entry.lstrip("*").lstrip(".")
    return host == entry or host.endswith("." + entry)


class ProxyRoutes:
    """Which proxy (if any) a URL goes through, from the environment read once."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        found = environment_proxies(environ)
        self._no_proxy = [e for e in found.get("no", "").split(",") if e.strip()]
        self._proxies: dict[str, str] = {}
        for scheme in ("http", "https"):
            value = found.get(scheme) or found.get("all")
            if value:
                self._proxies[scheme] = value if "://" in value else f"http://{value}"

    def proxy_for(self, url: httpx.URL) -> str | None:
        """The proxy URL for a request to ``url``, or None to connect directly."""
        proxy = self._proxies.get(url.scheme)
        if proxy is None:
            return None
        host = url.host.lower().rstrip(".")
        if is_loopback(host):
            return None
        port = url.port or _DEFAULT_PORTS.get(url.scheme)
        if any(_no_proxy_matches(entry, host, port) for entry in self._no_proxy):
            return None
        return proxy


class RoutingTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request directly or through its proxy.

    One connection pool per route, made on first use (so a SOCKS proxy needs ``httpx[socks]``
    only when it is really used). A transport error on a proxied request is tagged with the proxy
    (``proxy_of``) for the client's message, since "connection refused" alone sends users
    looking at the wrong host.
    """

    def __init__(self, routes: ProxyRoutes, *, limits: httpx.Limits) -> None:
        self._routes = routes
        self._limits = limits
        self._direct = httpx.AsyncHTTPTransport(limits=limits)
        self._proxied: dict[str, httpx.AsyncHTTPTransport] = {}

    def _transport(self, proxy: str) -> httpx.AsyncHTTPTransport:
        transport = self._proxied.get(proxy)
        if transport is None:
            try:
                scheme = httpx.URL(proxy).scheme
            except (httpx.InvalidURL, TypeError, ValueError):
                raise FluxConnectionError(_INVALID_PROXY) from None
            if scheme not in _PROXY_SCHEMES:
                raise FluxConnectionError(
                    f"the proxy {proxy_label(proxy)} from the environment has an unsupported "
                    f"scheme {scheme!r}; use http, https or socks5, or list the host in NO_PROXY"
                )
            try:
                transport = httpx.AsyncHTTPTransport(proxy=proxy, limits=self._limits)
            except (httpx.InvalidURL, ValueError):
                raise FluxConnectionError(_INVALID_PROXY) from None
            except ImportError:
                raise FluxConnectionError(
                    f"the proxy {proxy_label(proxy)} needs SOCKS support: "
                    "pip install 'httpx[socks]'"
                ) from None
            self._proxied[proxy] = transport
        return transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self._routes.proxy_for(request.url)
        if proxy is None:
            return await self._direct.handle_async_request(request)
        try:
            return await self._transport(proxy).handle_async_request(request)
        except httpx.TransportError as error:
            setattr(error, _PROXY_ATTRIBUTE, proxy_label(proxy))
            raise

    async def aclose(self) -> None:
        for transport in (self._direct, *self._proxied.values()):
            await transport.aclose()


def proxy_of(error: BaseException) -> str | None:
    """``scheme://host:port`` of the proxy a failed request went through, or None (direct)."""
    label = getattr(error, _PROXY_ATTRIBUTE, None)
    return label if isinstance(label, str) else None
