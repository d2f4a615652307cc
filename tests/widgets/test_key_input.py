"""KeyInput: the key moves out of the synced trait at once and is only ever shown masked."""

from __future__ import annotations

import json
from typing import Any

import ipywidgets as widgets
import pytest
from html_text import visible_text

from flux_widgets.widgets import KeyInput
from flux_widgets.widgets._compat import IPYWIDGETS_MAJOR
from flux_widgets.widgets.key_input import mask_key

KEY = "sk-test-0123456789abcdefWXYZ"


def _all_state(widget: KeyInput) -> str:
    parts = [json.dumps(widget.get_state(), default=repr)]
    parts += [json.dumps(child.get_state(), default=repr) for child in _descendants(widget)]
    return "\n".join(parts)


def _descendants(widget: Any) -> list[Any]:
    found = []
    for child in getattr(widget, "children", ()):
        found.append(child)
        found += _descendants(child)
    return found


def test_typed_key_is_cleared_from_the_trait_at_once_and_shown_masked() -> None:
    seen: list[str | None] = []
    key_input = KeyInput(environ={})
    key_input.on_change(seen.append)

    key_input.field.value = KEY

    assert key_input.field.value == ""
    assert key_input.api_key == KEY
    assert seen == [KEY]
    assert "key set (sk-...WXYZ)" in key_input.status.value
    assert KEY not in _all_state(key_input)


def test_key_sent_by_the_front_end_never_stays_in_the_state() -> None:
    key_input = KeyInput(environ={})
    # What the comm handler does when the browser sends the field's value.
    key_input.field.set_state({"value": KEY})

    assert key_input.field.get_state()["value"] == ""
    assert key_input.api_key == KEY
    assert KEY not in _all_state(key_input)


def test_environment_is_read_first() -> None:
    key_input = KeyInput(environ={"FLUX_API_KEY": KEY})
    assert key_input.api_key == KEY
    assert "from $FLUX_API_KEY" in key_input.status.value
    assert KEY not in _all_state(key_input)

    both = KeyInput(environ={"COMETAPI_KEY": "sk-comet-key-1111", "FLUX_API_KEY": KEY})
    assert both.api_key == "sk-comet-key-1111"


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUX_API_KEY", raising=False)
    monkeypatch.setenv("COMETAPI_KEY", KEY)
    assert KeyInput().api_key == KEY


def test_repr_never_shows_the_key() -> None:
    key_input = KeyInput(environ={})
    key_input.api_key = KEY
    assert KEY not in repr(key_input)
    assert "sk-...WXYZ" not in repr(key_input)
    assert repr(key_input) == "<KeyInput: key set>"


def test_forget_clears_the_key_and_tells_the_listeners() -> None:
    seen: list[str | None] = []
    key_input = KeyInput(environ={})
    key_input.on_change(seen.append)
    key_input.field.value = KEY

    key_input.forget.click()

    assert key_input.api_key is None
    assert seen == [KEY, None]
    assert "no key set" in key_input.status.value


def test_whitespace_is_stripped_and_blank_values_ignored() -> None:
    key_input = KeyInput(environ={})
    key_input.field.value = f"  {KEY}\n"
    assert key_input.api_key == KEY
    key_input.field.value = "   "
    assert key_input.api_key == KEY


def test_a_failing_listener_is_shown_not_raised() -> None:
    def broken(key: str | None) -> None:
        raise ValueError("bad provider")

    key_input = KeyInput(environ={})
    key_input.on_change(broken)
    key_input.field.value = KEY
    assert key_input.field.value == ""
    assert "bad provider" in key_input.status.value
    assert KEY not in key_input.status.value


def test_a_listener_that_fails_on_a_file_says_so_in_words() -> None:
    def unreadable(key: str | None) -> None:
        raise PermissionError(13, "Permission denied", "/etc/flux/token")

    key_input = KeyInput(environ={})
    key_input.on_change(unreadable)
    key_input.field.value = KEY
    shown = visible_text(key_input.status.value)
    assert shown == (
        "could not use the key: no permission to use /etc/flux/token; choose a folder you can "
        "write to, or change its permissions"
    )


def test_short_keys_are_not_partly_revealed() -> None:
    assert mask_key("sk-abcdefgh") == "***"
    assert mask_key(KEY) == "sk-...WXYZ"


def _front_end_update(widget: Any, value: str) -> list[dict[str, Any]]:
    """Deliver a front end's ``update`` comm message; return every message the kernel sends."""
    sent: list[dict[str, Any]] = []
    widget._send = lambda msg, buffers=None: sent.append(msg)
    widget._handle_msg({"content": {"data": {"method": "update", "state": {"value": value}}}})
    return sent


def test_the_key_sent_by_a_front_end_is_not_echoed_back() -> None:
    key_input = KeyInput(environ={})

    sent = _front_end_update(key_input.field, KEY)

    assert key_input.api_key == KEY
    assert not any(KEY in json.dumps(msg) for msg in sent)
    assert not any(msg["method"] == "echo_update" for msg in sent)
    assert key_input.field.trait_metadata("value", "echo_update") is False


@pytest.mark.skipif(IPYWIDGETS_MAJOR < 8, reason="ipywidgets 7 has no echo_update")
def test_a_stock_password_would_echo_it_and_the_cleared_field_is_still_synced() -> None:
    # The control: the capture above does see ipywidgets 8's echo of a stock Password.
    stock = _front_end_update(widgets.Password(), KEY)
    assert {"method": "echo_update", "state": {"value": KEY}, "buffer_paths": []} in stock
    # Other views still learn that the field was emptied (a plain update, no key).
    sent = _front_end_update(KeyInput(environ={}).field, KEY)
    assert sent == [{"method": "update", "state": {"value": ""}, "buffer_paths": []}]
