"""Faults that could leak the key (issue #9): no part of it in any error, repr or log, however a
server echoes it; a pasted key's whitespace.
"""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Callable

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flux_widgets import (
    AuthenticationError,
    FluxClient,
    ProtocolError,
)
from flux_widgets.providers import parse_prediction
from flux_widgets.transport.auth import BearerAuth
from flux_widgets.transport.http_errors import error_from_response
from flux_widgets.transport.redaction import SLICE

pytestmark = pytest.mark.usefixtures("no_proxy_from_the_runner")

KEY = "sk-faults-test-key-0123456789abcdefXYZ"


def _leaks(text: str, key: str) -> bool:
    return any(key[i : i + SLICE] in text for i in range(len(key) - SLICE + 1))


async def test_a_401_plain_text_body_echoing_the_key_after_150_characters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The input: 150 'x' then " authorization=Bearer <key>" as text/plain.
    body = "x" * 150 + f" authorization=Bearer {KEY}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=body, headers={"content-type": "text/plain"})

    transport = httpx.MockTransport(handler)
    with caplog.at_level(logging.DEBUG):
        async with FluxClient(
            api_key=KEY, base_url="http://api.example", transport=transport
        ) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.generate("a boat")
        logging.getLogger("flux_widgets").warning("the server said %s", body)
    error = caught.value
    for text in (str(error), repr(error), str(error.detail), caplog.text):
        assert not _leaks(text, KEY), text
    assert "x" * 150 + " authorization=Bearer [redacted]" in str(error)


_SHAPES: dict[str, Callable[[str], tuple[str, str]]] = {
    "plain": lambda t: ("text/plain", t),
    "detail": lambda t: ("application/json", json.dumps({"detail": t})),
    "envelope": lambda t: ("application/json", json.dumps({"error": {"message": t, "code": t}})),
    "problem": lambda t: ("application/problem+json", json.dumps({"title": "T", "detail": t})),
    "list": lambda t: ("application/json", json.dumps([t, 1])),
    "string": lambda t: ("application/json", json.dumps(t)),
    "unknown": lambda t: ("application/json", json.dumps({"weird": {"nested": t}})),
    "fields": lambda t: ("application/json", json.dumps({"invalid_fields": [{"field": t}]})),
    "xml": lambda t: ("application/xml", f"<Error><Code>X</Code><Message>{t}</Message></Error>"),
    "html": lambda t: ("text/html", f"<html><title>{t}</title></html>"),
}


_KEYS = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=8, max_size=60)


_FILLER = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=_KEYS,
    before=_FILLER,
    after=_FILLER,
    cut=st.integers(min_value=0, max_value=60),
    whole=st.booleans(),
    shape=st.sampled_from(sorted(_SHAPES)),
    status=st.sampled_from([400, 401, 402, 403, 404, 409, 422, 429, 500, 502, 503, 200]),
)
def test_no_slice_of_the_key_reaches_an_error_or_a_log(
    key: str, before: str, after: str, cut: int, whole: bool, shape: str, status: int
) -> None:
    assume("redacted" not in key.lower())
    auth = BearerAuth(key, "http://api.example")  # what a client does with its key
    # The whole key, or a piece of it (at least a slice long), at any offset of the body.
    echoed = key if whole else key[min(cut, len(key) - SLICE) :]
    content_type, body = _SHAPES[shape](before + echoed + after)
    response = httpx.Response(
        status,
        content=body.encode(),
        headers={"content-type": content_type, "x-request-id": echoed},
        request=httpx.Request("POST", "http://api.example/v1/predictions"),
    )
    if status == 200:
        with pytest.raises(ProtocolError) as caught:
            parse_prediction(response)
        error: Exception = caught.value
    else:
        error = error_from_response(response, key if whole else None)
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("flux_widgets")
    logger.addHandler(handler)
    try:
        logger.warning("answer %s for %r", body, error)
    finally:
        logger.removeHandler(handler)
    texts = [str(error), repr(error), *records]
    texts += [str(getattr(error, name, "")) for name in ("detail", "request_id")]
    for text in texts:
        assert not _leaks(text, key), (shape, text)
    del auth  # the key is forgotten with the last thing holding it


def test_redaction_comes_before_truncation_in_prediction_messages() -> None:
    auth = BearerAuth(KEY, "http://api.example")
    response = httpx.Response(
        201,
        json=["y" * 60 + KEY],
        request=httpx.Request("POST", "http://api.example/v1/predictions"),
    )
    with pytest.raises(ProtocolError) as caught:
        parse_prediction(response)
    assert not _leaks(str(caught.value), KEY)
    assert "[redacted]" in str(caught.value)
    del auth


def test_key_whitespace_is_stripped_and_inner_whitespace_refused() -> None:
    from flux_widgets.providers.settings import resolve_settings

    assert resolve_settings(api_key="sk-abc123\n", environ={}).api_key == "sk-abc123"
    with pytest.raises(ValueError, match="whitespace or control characters"):
        resolve_settings(api_key="sk-abc\n123", environ={})


def test_httpx_and_httpcore_log_records_are_redacted() -> None:
    import logging

    from flux_widgets.transport.redaction import register_secret

    class Owner:
        pass

    owner = Owner()
    register_secret("sk-secretlogkey99", owner)
    for name in ("httpx", "httpcore.http11"):
        record = logging.LogRecord(
            name, logging.INFO, "x", 1, "reason %s", ("sk-secretlogkey99",), None
        )
        assert all(f.filter(record) for f in logging.getLogger(name).filters)
        assert "sk-secretlogkey99" not in record.getMessage()


def test_a_prediction_id_that_echoes_the_key_is_redacted() -> None:
    from flux_widgets.errors import FluxError
    from flux_widgets.transport.redaction import register_secret

    class Owner:
        pass

    owner = Owner()
    register_secret("sk-echoedasanid42", owner)
    error = FluxError("failed", prediction_id="sk-echoedasanid42")
    assert "echoedasanid" not in str(error.prediction_id)
    error.prediction_id = "id-sk-echoedasanid42"  # as the client fills it in later
    assert "echoedasanid" not in str(error.prediction_id)
    assert error.prediction_id is not None and error.prediction_id.startswith("id-")
