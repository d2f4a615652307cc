"""Every registered provider, checked the same way: a new one is covered by registering it.

What each provider says of itself (title, key variables, console, cancel note, price), what it
cannot honour (exactly the fields its request does not carry), that every value it can honour
reaches its request, and that the mock fakes its family. Family-specific behaviour has its own
tests (test_families.py, test_providers.py).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from flux_widgets.mock.families import BY_NAME
from flux_widgets.params import FluxParams
from flux_widgets.providers import COMETAPI, PROVIDERS, Provider, resolve_settings
from flux_widgets.schema import FIELDS, SCHEMA, Field
from flux_widgets.spending.prices import DEFAULT_PRICES, price_table

EVERY_PROVIDER = pytest.mark.parametrize("provider", list(PROVIDERS.values()), ids=list(PROVIDERS))


def another_value(field: Field, allowed: tuple[str, ...] = ()) -> Any:
    """A value of ``field`` other than its default (out of ``allowed`` for a choice)."""
    if field.kind == "text":
        return "a lighthouse at dusk"
    if field.kind == "bool":
        return not field.default
    if field.kind == "seed":
        return 1234
    if field.kind == "choice":
        return next(c for c in allowed or field.choices if c != field.default)
    assert field.bounds is not None
    low, high = field.bounds
    return low if field.default != low else high


def honoured_defaults(provider: Provider, **values: Any) -> FluxParams:
    """Parameters the provider honours (its defaults where the schema's are not) + ``values``."""
    return FluxParams(**{"prompt": "a paper boat", **provider.defaults(), **values})


@EVERY_PROVIDER
def test_a_provider_describes_itself(provider: Provider) -> None:
    assert provider.title and provider.name == provider.name.strip().lower()
    assert provider.default_base_url.startswith("https://")
    assert provider.key_env_vars and all(v == v.upper() for v in provider.key_env_vars)
    assert provider.console.startswith("https://")
    assert provider.cancel_note
    assert provider.price.source, "every price names its source"
    assert provider.price.as_of or not provider.price.known


@EVERY_PROVIDER
def test_a_provider_reads_only_its_own_key_variable(provider: Provider) -> None:
    env = {p.key_env_vars[0]: f"key-of-{p.name}" for p in PROVIDERS.values()}
    env.update({v: "setting" for p in PROVIDERS.values() for v in p.setting_env_vars})
    settings = resolve_settings(provider=provider.name, environ=env)
    assert settings.api_key == f"key-of-{provider.name}"


@EVERY_PROVIDER
def test_what_a_provider_cannot_honour_is_what_its_request_does_not_carry(
    provider: Provider,
) -> None:
    capabilities = provider.capabilities
    for field in SCHEMA:
        assert capabilities.supports(field.name) == (field.name in provider.field_map.keys)
    for name in sorted(capabilities.lacks):
        refused = honoured_defaults(provider, **{name: another_value(FIELDS[name])})
        with pytest.raises(ValueError, match=f"{provider.name} has no {name} setting"):
            provider.prepare(refused)


@EVERY_PROVIDER
def test_every_value_a_provider_honours_reaches_its_request(provider: Provider) -> None:
    for variant in provider.variants():  # Hugging Face: each route's own request shape
        field_map = variant.field_map
        for name, key in field_map.keys.items():
            if name in field_map.computed:
                continue
            value = another_value(FIELDS[name], variant.capabilities.allowed_choices(name))
            prepared = variant.prepare(honoured_defaults(variant, **{name: value}))
            request = variant.create_request(
                prepared, variant.default_base_url, deadline=60, sync_wait=False
            )
            body = request.json.get("input", request.json)  # Replicate's input is wrapped
            body = {**body, **body.get("parameters", {})}  # HF's hf-inference nests them
            sent = field_map.values[name][value] if name in field_map.values else value
            assert body[key] == sent, (name, body)


@EVERY_PROVIDER
def test_a_providers_own_defaults_are_values_it_honours(provider: Provider) -> None:
    provider.check(honoured_defaults(provider))


@EVERY_PROVIDER
def test_the_price_table_holds_each_providers_own_price(provider: Provider) -> None:
    assert DEFAULT_PRICES[provider.name] is provider.price
    assert price_table(environ={})[provider.name] == provider.price


@EVERY_PROVIDER
def test_the_mock_fakes_every_providers_family_in_its_key_scheme(provider: Provider) -> None:
    assert BY_NAME[provider.name].auth_scheme == provider.auth_scheme.lower()


@EVERY_PROVIDER
def test_a_key_quota_is_asked_only_where_the_provider_has_the_route(provider: Provider) -> None:
    request = provider.quota_request(provider.default_base_url)
    assert (request is not None) == (provider is COMETAPI)  # docs/protocol.md: CometAPI only


def test_cometapi_quota_is_a_get_of_the_key_usage_route_read_sans_io() -> None:
    request = COMETAPI.quota_request("https://api.cometapi.com")
    assert request is not None
    assert (request.method, request.url) == ("GET", "https://api.cometapi.com/api/usage/token")
    answer = httpx.Response(
        200,
        json={"data": {"total_granted": 10, "total_used": 4, "total_available": 6}},
        request=httpx.Request("GET", request.url),
    )
    quota = COMETAPI.read_quota(answer)
    assert quota is not None and quota.total_available == 6
    missing = httpx.Response(404, json={}, request=httpx.Request("GET", request.url))
    assert COMETAPI.read_quota(missing) is None
