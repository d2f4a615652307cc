"""ParameterControls: a control per schema field, values from code refused as the schema
refuses them, and the seed: typed, locked, drawn, never rounded."""

from __future__ import annotations

import ipywidgets
import pytest

from flux_widgets.params import FIELD_NAMES, FluxParams
from flux_widgets.widgets import ParameterControls


def test_every_field_has_a_control_that_maps_to_its_param() -> None:
    controls = ParameterControls()
    assert set(controls.field_widgets) == set(FIELD_NAMES)
    controls.prompt.value = "  a red kite over the dunes "
    controls.aspect_ratio.value = "16:9"
    controls.num_outputs.value = 3
    controls.num_inference_steps.value = 2
    controls.seed.value = "1234"
    controls.seed_locked = True
    controls.output_format.value = "png"
    controls.output_quality.value = 55
    controls.megapixels.value = "0.25"
    controls.go_fast.value = False
    controls.disable_safety_checker.value = True

    assert controls.params() == FluxParams(
        prompt="a red kite over the dunes",
        aspect_ratio="16:9",
        num_outputs=3,
        num_inference_steps=2,
        seed=1234,
        output_format="png",
        output_quality=55,
        megapixels="0.25",
        go_fast=False,
        disable_safety_checker=True,
    )


def test_set_params_round_trips_and_a_seed_locks() -> None:
    params = FluxParams(
        prompt="a lighthouse",
        aspect_ratio="9:21",
        num_outputs=4,
        num_inference_steps=1,
        seed=99,
        output_format="jpg",
        output_quality=12,
        megapixels="0.25",
        go_fast=False,
        disable_safety_checker=True,
    )
    controls = ParameterControls()
    controls.set_params(params)
    assert controls.params() == params
    assert controls.seed_locked is True

    controls.set_params(params.replace(seed=None))
    assert controls.seed_locked is False
    assert controls.params().seed is None


def test_aspect_ratio_labels_show_pixel_sizes_for_the_megapixels() -> None:
    controls = ParameterControls()
    controls.aspect_ratio.value = "16:9"
    assert "16:9 · 1344×768" in controls.aspect_ratio.options[1][0]
    controls.megapixels.value = "0.25"
    assert controls.aspect_ratio.options[1][0] == "16:9 · 672×384"
    assert controls.aspect_ratio.value == "16:9"


def test_quality_is_disabled_for_png_and_go_fast_warns() -> None:
    controls = ParameterControls()
    assert not controls.output_quality.disabled
    controls.output_format.value = "png"
    assert controls.output_quality.disabled
    controls.output_format.value = "jpg"
    assert not controls.output_quality.disabled
    assert "not deterministic" in controls.go_fast_note.value
    assert controls.prompt.continuous_update is False


def test_setting_from_code_refuses_what_the_schema_refuses() -> None:
    controls = ParameterControls()
    with pytest.raises(ValueError, match="num_outputs"):
        controls.set("num_outputs", 7)  # a slider would silently clamp it to 4
    with pytest.raises(ValueError, match="aspect_ratio"):
        controls.set("aspect_ratio", "7:5")
    with pytest.raises(AttributeError, match="no parameter"):
        controls.set("guidance", 3)
    assert controls.num_outputs.value == 1


def test_empty_prompt_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="prompt"):
        ParameterControls().params()


def test_seed_unlocked_draws_a_fresh_one_each_time_locked_reuses() -> None:
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    first, second = controls.next_params().seed, controls.next_params().seed
    assert first != second
    assert controls.seed.value == str(second)  # shown after drawing

    controls.set("seed", 7)
    assert controls.next_params().seed == 7
    assert controls.next_params().seed == 7
    controls.randomize_seed.click()
    assert controls.seed.value != "7"
    assert controls.seed_locked is True
    assert controls.next_params().seed == int(controls.seed.value)


def test_typing_a_seed_locks_it_and_next_params_never_replaces_it() -> None:
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    assert controls.seed_state.value == "<span>random seed</span>"
    drawn = controls.next_params().seed
    assert controls.seed_locked is False  # a drawn seed is shown, not locked
    assert controls.seed.value == str(drawn)

    controls.seed.value = "1234"  # what the browser sends when a person types 1234
    assert controls.seed_locked is True
    assert controls.seed_text() == "seed 1234, locked"
    assert "1234" in controls.seed_state.value and "locked" in controls.seed_state.value
    assert [controls.next_params().seed for _ in range(3)] == [1234, 1234, 1234]
    assert controls.seed.value == "1234"


@pytest.mark.parametrize(
    ("typed", "refusal"),
    [
        ("1e3", "whole number"),
        ("12.0", "whole number"),
        ("seven", "whole number"),
        ("99999999999999999999999", "from -9223372036854775808 to 9223372036854775807"),
        ("9223372036854775808", "from -9223372036854775808"),
    ],
)
def test_a_typed_seed_that_is_not_a_64_bit_integer_is_refused_as_typed(
    typed: str, refusal: str
) -> None:
    # The tester's strings: an IntText read "1e3" as 1 and rounded above 2**53, silently.
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    controls.seed.value = typed
    assert controls.seed_locked is True
    assert refusal in controls.seed_state.value  # said at once, next to Generate
    assert "⚠" in controls.seed.description
    assert refusal in controls.seed_text()
    with pytest.raises(ValueError, match="seed"):
        controls.params()
    with pytest.raises(ValueError, match="seed"):
        controls.next_params()  # never replaced by a random or rounded seed


@pytest.mark.parametrize(
    ("typed", "seed"),
    [
        ("9007199254740993", 9007199254740993),  # 2**53 + 1: a JS Number would say ...992
        (" 1000 ", 1000),
        ("-5", -5),
        ("9223372036854775807", 2**63 - 1),
        (str(2**60 + 1), 2**60 + 1),
    ],
)
def test_a_typed_seed_is_used_exactly_never_rounded(typed: str, seed: int) -> None:
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    controls.seed.value = typed
    assert controls.next_params().seed == seed
    assert controls.seed_text() == f"seed {seed}, locked"
    assert f"<b>{seed}</b>" in controls.seed_state.value
    assert controls.seed.description == "Seed"


def test_a_seed_set_from_code_is_shown_exactly_in_the_box() -> None:
    controls = ParameterControls()
    controls.set("seed", 2**60 + 1)
    assert controls.seed.value == "1152921504606846977"
    assert controls.seed_text() == "seed 1152921504606846977, locked"


def test_emptying_the_seed_box_means_a_random_seed() -> None:
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    controls.seed.value = "42"
    controls.seed.value = "  "
    assert controls.seed_locked is False and controls.seed_text() == "random seed"
    assert controls.next_params().seed is not None


def test_the_seed_switch_unlocks_and_locks() -> None:
    controls = ParameterControls()
    controls.set("seed", 77)
    assert controls.seed_switch.description == "unlock"
    controls.seed_switch.click()
    assert controls.seed_locked is False and controls.seed_text() == "random seed"
    assert controls.seed_switch.description == "lock"
    controls.seed_switch.click()  # keeps the seed shown (the last one used)
    assert controls.get("seed") == 77 and controls.seed_text() == "seed 77, locked"


def _shown(widget: ipywidgets.Widget) -> list[ipywidgets.Widget]:
    """Every widget in ``widget``'s tree (what a front end draws)."""
    children = getattr(widget, "children", ())
    return [widget, *(w for child in children for w in _shown(child))]


def _seed_row(controls: ParameterControls) -> ipywidgets.HBox:
    [row] = [
        w
        for w in _shown(controls)
        if isinstance(w, ipywidgets.HBox) and controls.seed in w.children
    ]
    return row


def test_the_seed_has_one_lock_control_beside_the_seed_box_until_a_studio_takes_it() -> None:
    controls = ParameterControls()
    locks = [
        w
        for w in _shown(controls)
        if isinstance(w, (ipywidgets.ToggleButton, ipywidgets.Button))
        and "lock" in (w.description + str(w.icon))
    ]
    assert locks == [controls.seed_switch]  # no second toggle in the Advanced section
    assert controls.seed_switch in _seed_row(controls).children
    taken = controls.take_seed_switch()
    assert taken == [controls.seed_state, controls.seed_switch]
    assert controls.seed_switch not in _shown(controls)  # one place: next to Generate
    assert controls.seed in _seed_row(controls).children  # the seed box and "new seed" stay
    assert controls.randomize_seed in _seed_row(controls).children


def test_new_seed_button_has_a_label_and_keeps_the_seed_it_draws() -> None:
    controls = ParameterControls()
    controls.prompt.value = "a fox"
    assert controls.randomize_seed.description == "new seed"  # not an emoji-only button
    assert controls.randomize_seed.icon == "random"
    controls.randomize_seed.click()
    shown = int(controls.seed.value)
    assert controls.seed_locked is True
    assert controls.next_params().seed == shown
