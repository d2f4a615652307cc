"""Which provider, where, with which key: the registry and the environment, read in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import MissingAPIKeyError
from .base import Provider
from .cloudflare import CLOUDFLARE
from .fal import FAL
from .openai_images import TOGETHER
from .replicate import COMETAPI, REPLICATE

PROVIDERS: dict[str, Provider] = {p.name: p for p in (COMETAPI, REPLICATE, FAL, TOGETHER)}
PROVIDERS[CLOUDFLARE.name] = CLOUDFLARE
"""Every provider ``FluxClient(provider=...)`` and ``FLUX_PROVIDER`` accept, by name."""

DEFAULT_PROVIDER = COMETAPI.name


def get_provider(name: str) -> Provider:
    """The registered provider called ``name`` (any case); ``ValueError`` lists the others."""
    key = name.strip().lower()
    if key not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(map(repr, PROVIDERS))}, got {name!r}")
    return PROVIDERS[key]


def provider_name(chosen: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The provider to use: ``chosen`` when given, else ``FLUX_PROVIDER``, else cometapi.

    The one place ``FLUX_PROVIDER`` is read (the client and ``%%flux`` both ask here).
    """
    env = os.environ if environ is None else environ
    return chosen or env.get("FLUX_PROVIDER") or DEFAULT_PROVIDER


@dataclass(frozen=True)
class Settings:
    """Where and how to reach the API, resolved once from arguments and the environment."""

    provider: Provider
    base_url: str
    api_key: str | None = None
    use_mock: bool = False

    def __repr__(self) -> str:
        key = "set" if self.api_key else "missing"
        return f"Settings(provider={self.provider.name!r}, base_url={self.base_url!r}, key={key})"


def resolve_settings(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    provider: str | Provider | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the environment in one place; explicit arguments always win.

    ``provider`` is a registered name (``FLUX_PROVIDER``, default ``cometapi``) or a
    ``Provider`` object. Its key comes from ``api_key`` or its own variables (``FAL_KEY`` for
    fal...); a key meant for another provider is never picked up. ``FLUX_WIDGETS_MOCK=1`` asks
    for the in-package mock (the caller starts it); a ``FLUX_BASE_URL`` without a key is
    allowed, since a local server (the mock under nbval, a proxy) may not need one. Raises
    ``ValueError`` for an unknown provider or a base URL that is not http(s), and
    ``MissingAPIKeyError`` when the provider's own host is meant and no key is found.
    """
    env = os.environ if environ is None else environ
    if isinstance(provider, Provider):
        chosen = provider
    else:
        chosen = get_provider(provider_name(provider, env))
    use_mock = base_url is None and api_key is None and _truthy(env.get("FLUX_WIDGETS_MOCK"))
    url = (base_url or env.get("FLUX_BASE_URL") or chosen.default_base_url).rstrip("/")
    key = api_key or next((env[v] for v in chosen.key_env_vars if env.get(v)), None)
    key = _clean_key(key)
    if use_mock:
        return Settings(chosen.for_environment(env, own_host=False), url, key, use_mock=True)
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
    if key is None and url == chosen.default_base_url:
        names = " or ".join(chosen.key_env_vars)
        raise MissingAPIKeyError(
            f"no API key for {chosen.name}: set {names} in the environment (get a key at "
            f"{chosen.console}), pass FluxClient(api_key=...), or use FluxClient.mock() "
            "to try everything offline with placeholder images"
        )
    # Settings beyond the key (Cloudflare's account id in its URL): base.Provider.for_environment.
    chosen = chosen.for_environment(env, own_host=url == chosen.default_base_url)
    return Settings(chosen, url, key)


def _clean_key(key: str | None) -> str | None:
    """The key without surrounding whitespace (a pasted newline); inner whitespace is refused.

    httpx refuses a header value with a newline and logs the whole value at DEBUG, so a bad key
    is refused here, before any request, without echoing it.
    """
    if key is None:
        return None
    key = key.strip()
    if not key:
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise ValueError(
            "the API key holds whitespace or control characters inside it; paste it again"
        )
    return key


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}
