"""Which provider, where, with which key: the registry and the environment, read in one place."""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import MissingAPIKeyError
from .base import Provider
from .cloudflare import CLOUDFLARE
from .fal import FAL
from .huggingface import HUGGINGFACE
from .openai_images import TOGETHER
from .replicate import COMETAPI, REPLICATE

logger = logging.getLogger("flux_widgets")

PROVIDERS: dict[str, Provider] = {p.name: p for p in (COMETAPI, REPLICATE, FAL, TOGETHER)}
PROVIDERS[HUGGINGFACE.name] = HUGGINGFACE
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
    key_source: str = ""
    """Where the key came from, for people ("HF_TOKEN (Colab secret)"); "" without a key."""

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
    ``Provider`` object (configured from the environment: ``FLUX_HF_ROUTE``). Its key comes
    from ``api_key``, else its own variables (``FAL_KEY`` for fal...) in the environment, else
    the provider's key file (Hugging Face's token file), else, in Google Colab, the same
    variables among the notebook's secrets (read once per session; ``Settings.key_source`` says
    which); a key meant for another provider is never picked up. ``FLUX_WIDGETS_MOCK=1`` asks
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
    chosen = chosen.configured(env)
    use_mock = base_url is None and api_key is None and _truthy(env.get("FLUX_WIDGETS_MOCK"))
    url = (base_url or env.get("FLUX_BASE_URL") or chosen.default_base_url).rstrip("/")
    if use_mock:  # the mock needs no key: no token file read, no Colab prompt
        return Settings(chosen.for_environment(env, own_host=False), url, None, use_mock=True)
    key, source = (api_key, "argument") if api_key else find_key(chosen, env)
    key = _clean_key(key)
    source = source if key else ""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
    if key is None and url == chosen.default_base_url:
        names = " or ".join(chosen.key_env_vars)
        path = chosen.key_file(env)
        login = f", log in with `hf auth login` (it writes {path})" if path is not None else ""
        raise MissingAPIKeyError(
            f"no API key for {chosen.name}: set {names} in the environment{login} (get a key "
            f"at {chosen.console}), add it as a Colab secret of that name, pass "
            "FluxClient(api_key=...), or use FluxClient.mock() to try everything offline with "
            "placeholder images"
        )
    # Settings beyond the key (Cloudflare's account id in its URL): base.Provider.for_environment,
    # looked up among Colab's secrets too, like the key.
    own_host = url == chosen.default_base_url
    chosen = chosen.for_environment(_with_colab_settings(chosen, env), own_host=own_host)
    return Settings(chosen, url, key, key_source=source)


def find_key(provider: Provider, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """The provider's key and where it came from: its variables in ``environ``, its key file,
    then Colab secrets of the same names (as huggingface_hub orders them: environment, file,
    Colab; the secrets last, so that a notebook that has a key elsewhere opens no Colab
    permission prompt). ``(None, "")`` when none holds one."""
    for name in provider.key_env_vars:
        if (environ.get(name) or "").strip():
            return environ[name], f"{name} (environment variable)"
    path = provider.key_file(environ)
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            text = ""
        if text:
            return text, f"token file {path}"
    for name in provider.key_env_vars:
        secret = colab_secret(name)
        if secret:
            return secret, f"{name} (Colab secret)"
    return None, ""


_colab_lock = threading.Lock()
_colab_secrets: dict[str, str | None] = {}
_colab_absent: list[bool] = []  # [True] once google.colab.userdata failed to import


def colab_secret(name: str) -> str | None:
    """The Colab secret ``name`` (``google.colab.userdata.get``), asked once per session.

    None outside Colab, and for any failure (no such secret, access not granted, a timeout):
    a missing secret is not an error, and the exception, which may quote the value, is never
    shown. ``userdata`` is not thread-safe (huggingface_hub issue 1952): one lookup at a time.
    """
    with _colab_lock:
        if name in _colab_secrets:
            return _colab_secrets[name]
        if _colab_absent:
            return None
        try:
            userdata = importlib.import_module("google.colab.userdata")
        except Exception:  # not Colab (ImportError), or a broken install: no secrets here
            _colab_absent.append(True)
            return None
        value: str | None = None
        try:
            found = userdata.get(name)
            value = found.strip() if isinstance(found, str) and found.strip() else None
        except Exception as error:  # SecretNotFoundError, NotebookAccessError, TimeoutException
            logger.info("no Colab secret %s (%s)", name, error.__class__.__name__)
        _colab_secrets[name] = value
        return value


def forget_colab_secrets() -> None:
    """Ask Colab again on the next lookup (after the user adds or grants a secret)."""
    with _colab_lock:
        _colab_secrets.clear()
        _colab_absent.clear()


def _with_colab_settings(provider: Provider, environ: Mapping[str, str]) -> Mapping[str, str]:
    """``environ``, plus the provider's other settings (``setting_env_vars``) that only a Colab
    secret holds (asked only for those missing)."""
    found = {
        name: secret
        for name in provider.setting_env_vars
        if not (environ.get(name) or "").strip() and (secret := colab_secret(name))
    }
    return {**environ, **found} if found else environ


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
