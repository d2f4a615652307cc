"""The provider picker and fitting the parameter controls to a provider (no front end)."""

from __future__ import annotations

from typing import Any

import pytest

from flux_widgets import FluxParams
from flux_widgets.providers import COMETAPI, FAL, TOGETHER
from flux_widgets.widgets.controls import ParameterControls
from flux_widgets.widgets.provider_picker import (
    ProviderPicker,
    apply_capabilities,
    cancel_tooltip,
    initial_provider,
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
    assert seen == ["together"] and "no server-side cancel" in picker.info.value
    picker.revert("fal")
    assert seen == ["together"] and picker.value == "fal"


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
