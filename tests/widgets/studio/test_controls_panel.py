"""The studio's controls panel: invalid input said in words, the seed's state next to Generate,
the warning before an exact paid repeat, reuse, and clicks from another thread's loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from html_text import visible_text

from flux_widgets.client import FluxClient
from flux_widgets.params import FluxParams
from flux_widgets.spending.prices import dollars
from flux_widgets.widgets import PromptStudio


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_invalid_values_never_reach_the_client(
    studio: PromptStudio, client: FluxClient
) -> None:
    studio.prompt = "   "
    studio.generate_button.click()
    assert "prompt must not be empty" in studio.message.value
    with pytest.raises(ValueError, match="prompt"):
        await studio.generate()
    with pytest.raises(ValueError, match="num_outputs"):
        await studio.generate(prompt="a boat", num_outputs=9)
    assert "num_outputs" in studio.message.value
    assert studio.jobs == []
    assert client._mock_server.state.requests == []


async def test_a_provider_that_cannot_honour_a_value_says_so_before_any_request(
    studio: PromptStudio,
) -> None:
    studio.aspect_ratio = "16:9"
    studio.output_format = "webp"
    studio.use_provider("cloudflare")
    assert "aspect ratio 16:9 → 1:1 (cloudflare)" in studio.message.value
    assert "format webp → jpg (cloudflare)" in studio.message.value
    assert studio.controls.aspect_ratio.disabled  # 1:1 is all Cloudflare makes
    with pytest.raises(ValueError, match="16:9"):
        await studio.generate(prompt="a lighthouse", aspect_ratio="16:9")
    assert "cloudflare cannot give aspect_ratio=&#x27;16:9&#x27;" in studio.message.value
    assert studio.jobs == []
    assert studio.client is not None
    assert studio.client._mock_server.state.requests == []
    studio.use_provider("cometapi")
    studio.output_format = "webp"
    studio.use_provider("fal")
    assert "format webp → jpg (fal)" in studio.message.value
    studio.use_provider("cometapi")  # changes nothing: the last switch's note goes
    assert studio.message.value == ""


async def test_the_studio_shows_the_seed_state_next_to_generate(studio: PromptStudio) -> None:
    row = next(
        child
        for child in studio.controls_panel.children
        if isinstance(child, ipywidgets.HBox) and studio.generate_button in child.children
    )
    assert studio.controls.seed_state in row.children
    assert studio.controls.seed_switch in row.children
    studio.seed = 1234  # the notebook's cell
    assert "seed <b>1234</b>, locked" in studio.controls.seed_state.value
    studio.seed = None
    assert "random seed" in studio.controls.seed_state.value


async def test_without_a_history_generate_click_warns_before_an_exact_repeat_with_go_fast_off(
    client: FluxClient, tmp_path: Path
) -> None:
    # With a history, an exact repeat is served from it instead (test_repeats.py).
    studio = PromptStudio(client, history=False, save_dir=tmp_path / "saved")
    studio.megapixels = "0.25"
    studio.prompt = "a lighthouse"
    studio.go_fast = False
    studio.seed = 99
    [first] = await studio.generate()

    studio.generate_button.click()
    assert "repeats a finished generation exactly" in studio.message.value
    assert studio.jobs[-1].state == "done" and len(studio.jobs) == 1  # nothing started
    studio.generate_button.click()  # the second click means it
    await studio.wait()
    assert len(studio.jobs) == 2
    assert [image.seed for image in studio.images] == [99, 99]

    studio.go_fast = True  # fp8 is not deterministic: a repeat makes different images
    studio.generate_button.click()
    await studio.wait()
    assert len(studio.jobs) == 3
    assert "repeats" not in studio.message.value
    assert studio.is_repeat(first.params) is True
    assert studio.is_repeat(first.params.replace(seed=100)) is False
    studio.close()


async def test_reuse_says_what_it_changed_and_brings_the_controls_into_view(
    studio: PromptStudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio.prompt = "a heron"
    studio.aspect_ratio = "3:2"
    studio.num_inference_steps = 2
    [image] = await studio.generate()
    studio.controls.set_params(FluxParams(prompt="something else"))
    from flux_widgets.widgets.studio import controls_panel

    focused: list[Any] = []
    monkeypatch.setattr(controls_panel, "focus", focused.append)

    studio.reuse(image)

    message = studio.message.value
    assert f"seed {image.seed} (locked)" in message
    assert "aspect ratio 1:1 → 3:2" in message
    assert "num inference steps 4 → 2" in message
    assert "prompt" in message
    assert focused == [studio.controls.prompt]
    assert studio.controls.advanced.selected_index == 0  # steps changed: Advanced opens
    assert studio.params() == image.recipe

    studio.controls.advanced.selected_index = None
    studio.seed = None
    studio.reuse(image)  # only the seed differs: its state is next to Generate
    assert studio.message.value == (
        f"<span class='flux-reuse'>reuse: seed {image.seed} (locked)</span>"
    )
    assert studio.controls.advanced.selected_index is None


def test_focus_asks_the_front_end_to_focus_where_ipywidgets_can() -> None:
    from flux_widgets.widgets._compat import focus

    box = ipywidgets.Textarea()
    sent: list[Any] = []
    box.send = sent.append  # what goes to the front end as a custom message
    focus(box)
    # ipywidgets 8 has a focus message (the browser scrolls the field into view); 7 has none.
    assert sent == ([{"do": "focus"}] if hasattr(box, "focus") else [])


async def test_an_empty_prompt_is_said_in_words_and_the_message_goes_once_one_is_typed(
    studio: PromptStudio,
) -> None:
    studio.controls.prompt.value = "   "
    studio.generate_button.click()
    assert "prompt must not be empty" in studio.message.value
    assert "ValueError" not in studio.message.value
    assert studio.jobs == []
    studio.controls.prompt.value = "a fox"
    assert studio.message.value == ""


async def test_a_value_the_provider_refuses_is_said_without_a_class_name(
    studio: PromptStudio,
) -> None:
    studio.use_provider("cloudflare")
    # Set from code past the narrowed dropdown: what the check before any request refuses.
    studio.controls.output_format.options = ("jpg", "webp")
    studio.controls.output_format.value = "webp"
    studio.prompt = "a fox"
    studio.generate_button.click()
    shown = visible_text(studio.message.value)
    assert shown.startswith("cloudflare cannot give output_format='webp': it supports 'jpg'")
    assert "ValueError" not in shown and studio.jobs == []


async def test_a_click_from_another_threads_loop_runs_on_the_studios_loop(
    studio: PromptStudio,
) -> None:
    import threading

    # What JupyterLab 4.4+ with ipykernel 7 does: widget messages handled on a subshell thread
    # with its own event loop. The generation must still start on the studio's (the cell's)
    # loop, where the client's slots and the studio's locks live.
    studio.prompt = "a lantern"
    home = asyncio.get_running_loop()

    def click_from_a_subshell() -> None:
        asyncio.run(_click(studio))

    thread = threading.Thread(target=click_from_a_subshell)
    thread.start()
    await asyncio.to_thread(thread.join)
    await _until(lambda: len(studio.jobs) == 1)
    [row] = studio.jobs
    assert row.loop is home
    await studio.wait()
    assert row.state == "done"


async def _click(studio: PromptStudio) -> None:
    studio.generate_button.click()


async def test_a_batchs_question_and_rows_show_under_generate(studio: PromptStudio) -> None:
    panel = studio.controls_panel
    children = list(panel.children)
    row = next(c for c in children if "flux-generate-row" in c._dom_classes)
    explore = studio.explore
    # Under the Generate row, in this order: the message, the question, the batch rows; not
    # above the usage view, out of sight of the click.
    after = children[children.index(row) + 1 :]
    assert after == [studio.message, explore.confirm, explore.batches]
    assert explore.confirm not in explore.children and explore.batches not in explore.children
    explore.confirm_above = 5
    studio.prompt = "a {cat|dog|cow|pig|hen|owl|fox} in a field"
    assert studio.start() is None  # asks first: the question is where the click was
    assert explore.confirm.asking
    explore.confirm.send_button.click()
    await studio.wait()
    assert explore.batches.children == (explore.batch_rows[0],)


async def test_the_count_and_cost_follow_the_prompt_as_it_is_typed(studio: PromptStudio) -> None:
    studio.prompt = "a car"
    # What shortcuts.js sends while typing (debounced): the box itself has not synced yet.
    studio.shortcuts._handle_custom_msg({"event": "typing", "prompt": "a {red|green} car"}, [])
    assert studio.prompt == "a car"
    assert studio.explore.estimate.text.startswith("2 generations · 2 images")


@pytest.mark.parametrize(
    ("provider", "name", "value"),
    [
        ("cloudflare", "num_inference_steps", 2),  # billed per step
        ("replicate", "num_outputs", 3),
    ],
)
async def test_every_control_that_changes_the_price_updates_the_estimate(
    tmp_path: Any, provider: str, name: str, value: object
) -> None:
    async with FluxClient.mock(provider=provider) as client:
        studio = PromptStudio(client, history=False, styles_dir=tmp_path)
        studio.megapixels = "0.25" if provider != "cloudflare" else "1"
        studio.prompt = "a red car"
        before = studio.explore.estimate.text
        studio.controls.set(name, value)
        after = studio.explore.estimate.text
        assert after != before and after.startswith("1 generation")
        params = studio.params()
        expected = client.estimate_cost(params)
        assert expected is not None and dollars(expected) in after
        studio.close()


async def test_ctrl_enter_shows_a_batch_it_had_not_counted_before_sending(
    studio: PromptStudio,
) -> None:
    pasted = "a {red|green|blue} car"
    studio.shortcuts._handle_custom_msg({"event": "generate", "prompt": pasted}, [])
    await studio.wait()
    assert studio.jobs == [] and studio.explore.batch_rows == []
    assert "3 generations · 3 images" in studio.message.value
    assert "Press Ctrl+Enter again" in studio.message.value
    studio.shortcuts._handle_custom_msg({"event": "generate", "prompt": pasted}, [])
    await studio.wait()
    assert len(studio.explore.batch_rows) == 1  # seen now: sent
