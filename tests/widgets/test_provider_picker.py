"""The provider picker and fitting the parameter controls to a provider (no front end)."""

from __future__ import annotations

from typing import Any

import pytest
from html_text import hover_text, visible_text

from flux_widgets import FluxParams
from flux_widgets.providers import COMETAPI, FAL, PROVIDERS, TOGETHER
from flux_widgets.providers.cloudflare import CLOUDFLARE
from flux_widgets.widgets.controls import ParameterControls
from flux_widgets.widgets.provider_picker import (
    FREE_FIRST,
    ProviderPicker,
    apply_capabilities,
    cancel_tooltip,
    initial_provider,
    limits_text,
    price_text,
)


def test_fal_greys_out_go_fast_and_quality_and_offers_only_jpg_and_png() -> None:
    controls = ParameterControls()
    controls.set("prompt", "a paper boat")
    controls.set("go_fast", False)
    saved: dict[str, Any] = {}
    apply_capabilities(controls.field_widgets, FAL, saved)
    assert controls.go_fast.disabled and controls.output_quality.disabled
    assert controls.go_fast.value is True  # back to the default: fal would refuse False
    assert list(controls.output_format.options) == ["jpg", "png"]
    assert controls.output_format.value == "jpg"  # webp cannot be honoured: fal's default
    assert not controls.megapixels.disabled and not controls.disable_safety_checker.disabled
    FAL.check(controls.params())  # what the controls now show, fal honours


def test_cloudflare_greys_out_each_choice_it_offers_one_value_of_and_says_what_changed() -> None:
    controls = ParameterControls()
    controls.set("prompt", "a lighthouse")
    controls.set("aspect_ratio", "16:9")
    controls.set("output_format", "webp")
    saved: dict[str, Any] = {}
    notes = apply_capabilities(controls.field_widgets, CLOUDFLARE, saved)
    # Only 1:1, 1 MP and jpg: a dropdown with one entry is nothing to choose, so it is greyed.
    assert controls.aspect_ratio.disabled and controls.megapixels.disabled
    assert controls.output_format.disabled and not controls.num_inference_steps.disabled
    assert controls.aspect_ratio.tooltip == "Cloudflare Workers AI offers only 1:1 · 1024×1024"
    assert controls.output_format.tooltip == "Cloudflare Workers AI offers only jpg"
    assert "aspect ratio 16:9 → 1:1 (cloudflare)" in notes
    assert "format webp → jpg (cloudflare)" in notes
    CLOUDFLARE.check(controls.params())
    assert apply_capabilities(controls.field_widgets, COMETAPI, saved) == []  # all still allowed
    assert not controls.aspect_ratio.disabled and not controls.megapixels.disabled
    assert not controls.output_format.disabled and len(controls.aspect_ratio.options) > 1


def test_switching_back_restores_every_option_and_control() -> None:
    controls = ParameterControls()
    saved: dict[str, Any] = {}
    apply_capabilities(controls.field_widgets, TOGETHER, saved)
    assert controls.disable_safety_checker.disabled
    apply_capabilities(controls.field_widgets, COMETAPI, saved)
    assert list(controls.output_format.options) == ["webp", "jpg", "png"]
    assert controls.output_format.value == "jpg"  # the choice made meanwhile is kept
    assert not any(w.disabled for w in controls.field_widgets.values() if w is not controls.prompt)
    assert saved == {}


def test_png_keeps_quality_greyed_on_a_provider_that_has_quality() -> None:
    controls = ParameterControls()
    controls.set("output_format", "png")
    apply_capabilities(controls.field_widgets, COMETAPI, {})
    assert controls.output_quality.disabled


def test_aspect_ratio_labels_follow_megapixels_after_a_provider_change() -> None:
    controls = ParameterControls()
    apply_capabilities(controls.field_widgets, FAL, {})
    controls.set("megapixels", "0.25")
    assert ("1:1 · 512×512", "1:1") in list(controls.aspect_ratio.options)


def test_picker_reports_changes_and_reverts_quietly() -> None:
    picker = ProviderPicker("fal")
    seen: list[str] = []
    picker.on_change(seen.append)
    assert picker.value == "fal" and "per megapixel" in picker.info.value
    picker.dropdown.value = "together"
    # What Cancel does is the hover text only; the line itself is for deciding.
    assert seen == ["together"] and "no server-side cancel" in hover_text(picker.info.value)[0]
    assert "cancel" not in visible_text(picker.info.value).lower()
    picker.revert("fal")
    assert seen == ["together"] and picker.value == "fal"


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_the_provider_line_says_price_and_limits_and_the_tooltip_says_cancel(name: str) -> None:
    picker = ProviderPicker(name)
    provider = PROVIDERS[name]
    line = visible_text(picker.info.value)
    [hover] = hover_text(picker.info.value)
    assert provider.cancel_note in hover and provider.cancel_note not in line
    assert "POST" not in line and "PUT" not in line and "cancel" not in line.lower()
    assert line.startswith(("$", "price not published")), line
    assert "_" not in line  # the controls' words ("format"), not field names ("output_format")


def test_the_provider_line_names_what_it_cannot_honour_in_the_controls_words() -> None:
    assert limits_text(PROVIDERS["replicate"]) == ""
    assert limits_text(FAL) == "format jpg or png only; no quality or go fast (fp8) setting"
    assert limits_text(CLOUDFLARE) == (
        "aspect ratio 1:1 only; format jpg only; megapixels 1 only; "
        "no quality, safety checker or go fast (fp8) setting"
    )
    assert visible_text(ProviderPicker("fal").info.value) == (
        "$0.003 per megapixel · format jpg or png only; no quality or go fast (fp8) setting"
    )


def test_free_first_has_a_short_label_that_fits_the_dropdown() -> None:
    # The long form was cut at "then the" in the browser at every width: the line below it
    # (picker.info) says what "free first" chose and why.
    labels = dict(ProviderPicker().dropdown.options)
    assert labels["Free first"] == FREE_FIRST
    assert max(len(label) for label in labels) <= len("Cloudflare Workers AI")


def test_initial_provider_follows_flux_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUX_PROVIDER", "Together")
    assert initial_provider() == "together"
    assert initial_provider("fal") == "fal"
    monkeypatch.setenv("FLUX_PROVIDER", "nonsense")
    assert initial_provider() == "cometapi"


def test_cancel_tooltip_and_price_estimate() -> None:
    assert "no server-side cancel" in cancel_tooltip(TOGETHER)
    assert "PUT" in cancel_tooltip(FAL)
    two = FluxParams(prompt="x", num_outputs=2, output_format="jpg")
    assert price_text("replicate", two) == "≈ $0.006"
    # 1024x1024 is one billed megapixel (prices.py rounds up from there, never under).
    assert price_text("fal", two) == "≈ $0.006"
    assert price_text("together", two) == "≈ $0.0054"
    assert price_text("cometapi", two) == "price unknown"


# -- free allowances and "free first" --------------------------------------------------------


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from flux_widgets.spending.allowance import reset_session_allowances

    reset_session_allowances()
    for provider in PROVIDERS.values():
        for name in (*provider.key_env_vars, *provider.setting_env_vars):
            monkeypatch.delenv(name, raising=False)
    for name in ("FLUX_BASE_URL", "FLUX_WIDGETS_MOCK", "FLUX_PROVIDER"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_keys")
def test_the_picker_shows_cloudflares_price_and_free_images_left_today() -> None:
    picker = ProviderPicker("cloudflare")
    assert "per 512x512 tile" in picker.info.value and "per step" in picker.info.value
    assert "free today: about 168 images left (resets 00:00 UTC)" in picker.info.value
    assert "free today" not in ProviderPicker("fal").info.value


def test_free_first_picks_cloudflare_while_its_allowance_lasts(
    no_keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf-token")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acct0123")
    picker = ProviderPicker()
    chosen: list[str] = []
    picker.on_change(chosen.append)
    picker.dropdown.value = FREE_FIRST
    assert chosen == ["cloudflare"] and picker.value == "cloudflare" and not picker.wants_mock
    assert "free first: cloudflare" in picker.info.value
    picker.revert("cloudflare")  # the studio confirms its switch: "free first" stays shown
    assert picker.dropdown.value == FREE_FIRST


@pytest.mark.usefixtures("no_keys")
def test_free_first_without_a_free_key_or_fallback_says_it_uses_the_mock() -> None:
    picker = ProviderPicker(FREE_FIRST)
    assert picker.wants_mock
    assert "cloudflare: no key" in picker.info.value and "the mock" in picker.info.value
    # The same line says how many free images are left today: "nothing free left" read as a
    # contradiction when the reason is a missing key.
    assert "nothing free left" not in picker.info.value
    assert "nothing free to use (cloudflare: no key)" in picker.info.value


def test_free_first_falls_back_to_the_paid_provider_chosen(
    no_keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAL_KEY", "fal-key")
    picker = ProviderPicker(FREE_FIRST, fallback="fal")
    assert picker.value == "fal" and not picker.wants_mock
    assert "your paid fallback fal" in picker.info.value
