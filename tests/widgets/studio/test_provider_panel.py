"""The studio's provider and key panel: the mock banner, a typed key (never in widget state),
the provider dropdown switching clients and fitting the controls, and the job rows it gives."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from html_text import visible_text

from flux_widgets.client import FluxClient
from flux_widgets.mock import MockConfig, MockServer
from flux_widgets.widgets import PromptStudio
from flux_widgets.widgets.studio import MOCK_BANNER

FAST = MockConfig(generation_time=0.05)
KEY = "sk-studio-test-key-5678abcdEFGH"


@pytest.fixture
async def client() -> AsyncIterator[FluxClient]:
    client = FluxClient.mock(config=FAST, timeout=30)
    yield client
    await client.aclose()
    client._mock_server.stop()


@pytest.fixture
async def studio(client: FluxClient, tmp_path: Path) -> AsyncIterator[PromptStudio]:
    studio = PromptStudio(client, history_dir=tmp_path / "history")
    studio.megapixels = "0.25"
    yield studio
    studio.cancel_all()
    await studio.wait()


async def test_choosing_fal_switches_the_client_and_fits_the_controls(
    studio: PromptStudio, client: FluxClient
) -> None:
    studio.provider_picker.dropdown.value = "fal"
    new = studio.client
    assert new is not None and new.provider == "fal" and new.is_mock
    assert new.base_url == client.base_url  # the same mock server: it serves every provider
    assert list(studio.controls.output_format.options) == ["jpg", "png"]
    assert studio.output_format == "jpg"
    assert studio.controls.go_fast.disabled and studio.controls.output_quality.disabled
    with pytest.raises(ValueError, match="not offered by the current provider"):
        studio.output_format = "webp"
    images = await studio.generate(prompt="a paper boat", seed=4)
    assert [(i.format, i.width, i.seed) for i in images] == [("jpg", 512, 4)]
    (row,) = studio.jobs
    assert row.estimate == "≈ $0.003" and "PUT" in row.cancel_button.tooltip
    assert "fal.ai key" in studio.key_input.field.placeholder


async def test_together_rows_say_there_is_no_server_side_cancel(studio: PromptStudio) -> None:
    studio.use_provider("together")
    assert studio.controls.disable_safety_checker.disabled
    await studio.generate(prompt="a lantern")
    (row,) = studio.jobs
    assert "no server-side cancel" in row.cancel_button.tooltip
    assert row.estimate == "≈ $0.0027"


async def test_fal_queue_position_shows_in_the_job_row(studio: PromptStudio) -> None:
    studio.use_provider("fal")
    server = studio.client._mock_server  # type: ignore[union-attr]
    server.state.reset(MockConfig(generation_time=1.5, start_delay=1.0))
    task = studio.start(prompt="a fox")
    (row,) = studio.jobs
    seen: list[str] = []
    row.observe(lambda change: seen.append(change["new"]), names=["detail"])
    await task
    assert "next in queue" in seen and row.detail == ""  # cleared when the job ended


async def test_reusing_a_webp_image_on_fal_says_what_changed(studio: PromptStudio) -> None:
    (image,) = await studio.generate(prompt="a crane", output_format="webp", go_fast=False)
    studio.use_provider("fal")
    studio.reuse(image)
    assert studio.output_format == "jpg" and studio.go_fast is True
    assert "not available here: output format webp → jpg (fal)" in studio.message.value
    assert "go fast off → on (fal)" in studio.message.value  # not Python's False → True


async def test_a_switch_that_turns_go_fast_on_says_on_and_off(studio: PromptStudio) -> None:
    studio.use_provider("replicate")
    studio.controls.go_fast.value = False
    studio.use_provider("together")
    assert "go fast (fp8) off → on (together)" in studio.message.value
    assert "False" not in studio.message.value and "True" not in studio.message.value


async def test_flux_provider_sets_the_dropdown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FLUX_PROVIDER", "fal")
    studio = PromptStudio(history=False)
    assert studio.provider_picker.value == "fal"
    assert studio.client is not None and studio.client.provider == "fal"
    assert studio.output_format == "jpg"
    studio.use_provider("replicate")
    assert list(studio.controls.output_format.options) == ["webp", "jpg", "png"]
    assert not studio.controls.go_fast.disabled


async def test_a_grid_on_fal_takes_its_defaults_and_refuses_webp_up_front(
    client: FluxClient,
) -> None:
    from flux_widgets.widgets.grid import PromptGrid

    fal = client.with_provider("fal")
    grid = PromptGrid(
        fal, rows=("seed", [1, 2]), columns=("num_inference_steps", [1, 4]), base={"prompt": "x"}
    )
    assert {params.output_format for params in grid.cells.values()} == {"jpg"}
    with pytest.raises(ValueError, match="fal cannot give output_format='webp'"):
        PromptGrid(
            fal,
            rows=("seed", [1, 2]),
            columns=("output_format", ["webp", "png"]),
            base={"prompt": "x"},
        )
    assert client._mock_server.state.requests == []


def _all_widget_states() -> Iterator[str]:
    from ipywidgets.widgets import widget as widget_module

    # ipywidgets 8 keeps live widgets in a module dict (Widget.widgets warns); 7 on the class.
    instances = getattr(widget_module, "_instances", None)
    if instances is None:
        instances = widget_module.Widget.widgets
    assert instances, "no live widgets found: the check would pass vacuously"
    for widget in list(instances.values()):
        state = widget.get_state()
        for value in state.values():
            if isinstance(value, bytes | memoryview):
                yield bytes(value).decode("latin-1")
            else:
                yield json.dumps(value, default=repr)


async def test_mock_banner_and_typing_a_key_switches_to_the_real_api(tmp_path: Path) -> None:
    studio = PromptStudio(FluxClient.mock(), history=False)
    assert MOCK_BANNER in studio.banner.value
    assert studio.key_input.layout.display != "none"

    studio.key_input.field.value = KEY

    assert studio.client is not None and not studio.client.is_mock
    assert studio.client.has_api_key
    assert studio.banner.value == ""
    assert "sk-...EFGH" in studio.key_input.status.value
    assert not any(KEY in state for state in _all_widget_states())

    studio.key_input.forget.click()
    assert studio.client is not None and studio.client.is_mock


async def test_the_banner_appears_once_the_server_says_it_is_the_mock(
    mock_server: MockServer,
) -> None:
    # FLUX_BASE_URL at the mock (nbval, the browser tests): the client learns it from answers.
    client = FluxClient(base_url=mock_server.url, timeout=30)
    try:
        studio = PromptStudio(client, history=False)
        assert studio.banner.value == "" and studio.banner.layout.display == "none"
        await studio.generate(prompt="a paper boat", megapixels="0.25")
        assert client.is_mock
        assert MOCK_BANNER in studio.banner.value
        assert studio.banner.layout.display != "none"
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("provider", "variable", "source"),
    [
        ("cometapi", "COMETAPI_KEY", "COMETAPI_KEY (environment variable)"),
        ("huggingface", "HF_TOKEN", "HF_TOKEN (Colab secret)"),
        ("fal", "FAL_KEY", "FAL_KEY (Colab secret)"),
    ],
)
async def test_the_key_line_says_where_the_key_came_from_never_the_key(
    provider: str,
    variable: str,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import types

    from flux_widgets.providers import settings

    secret = "hf_" + "S3cr3tV4lu3" * 3
    if "Colab" in source:
        userdata = types.ModuleType("google.colab.userdata")
        userdata.get = lambda name: secret if name == variable else None  # type: ignore[attr-defined]
        colab = types.ModuleType("google.colab")
        colab.userdata = userdata  # type: ignore[attr-defined]
        google = types.ModuleType("google")
        google.colab = colab  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", colab)
        monkeypatch.setitem(sys.modules, "google.colab.userdata", userdata)
        monkeypatch.setattr(settings, "_colab_secrets", {})
        monkeypatch.setattr(settings, "_colab_absent", [])
        monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")  # no token file on this machine
    else:
        monkeypatch.setenv(variable, secret)
    monkeypatch.delenv("FLUX_BASE_URL", raising=False)
    client = FluxClient(provider=provider)
    try:
        assert client.key_source == source
        studio = PromptStudio(client, history=False)
        # Said on the line under the provider dropdown, with the price (the field stays hidden).
        line = visible_text(studio.provider_picker.info.value)
        assert line.endswith(f" · key from {source}"), line
        assert studio.key_input.layout.display == "none"
        assert secret not in studio.provider_picker.info.value and secret not in repr(studio)
        assert not any(secret in state for state in _all_widget_states())
    finally:
        await client.aclose()


async def test_usage_survives_provider_switches_and_prices_each_image_as_made(
    studio: PromptStudio, tmp_path: Path
) -> None:
    studio.use_provider("replicate")
    await studio.generate(prompt="a paper boat")
    studio.use_provider("fal")
    await studio.generate(prompt="a paper boat")
    studio.key_input.api_key = KEY  # a typed key makes a new client: the same session
    studio.use_provider("cometapi")  # no price: counted as unpriced, never at another's
    await studio.generate(prompt="a paper boat")
    expected_spend = {"replicate": pytest.approx(0.003), "fal": pytest.approx(0.003)}
    for name in ("together", "cometapi"):  # whichever provider is selected, the same numbers
        studio.use_provider(name)
        report = studio.explore.usage_report()
        assert report is not None
        assert report.session.generations == 3
        assert report.session.spend == expected_spend
        assert report.session.unpriced == {"cometapi": 1}
        assert report.total is not None and report.total.images == 3
        assert report.total.spend == expected_spend
        assert report.total.unpriced == {"cometapi": 1}
        assert report.title.endswith("(mock API: placeholders, nothing billed)")
