"""Styles: the {prompt} slot, parameters, shipped ones, and saving the user's own as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flux_widgets.errors import FluxError
from flux_widgets.prompts.plans import plan_batch
from flux_widgets.prompts.styles import (
    SHIPPED_STYLES,
    Style,
    StyleError,
    StyleLibrary,
    check_slot_filled,
)


def test_style_puts_the_prompt_in_its_slot() -> None:
    style = Style("ink", "an ink drawing of {prompt}, white paper")
    assert style.apply("  a heron ") == "an ink drawing of a heron, white paper"
    with pytest.raises(StyleError, match="write a prompt"):
        style.apply("   ")


def test_style_parameters_lose_to_explicit_ones() -> None:
    style = Style(
        "slides", "a diagram of {prompt}", {"aspect_ratio": "16:9", "output_format": "png"}
    )
    assert style.merged({"aspect_ratio": "1:1"}) == {"aspect_ratio": "1:1", "output_format": "png"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "x", "template": "no slot"}, "must hold {prompt}"),
        ({"name": "  ", "template": "{prompt}"}, "needs a name"),
        ({"name": "x", "template": "{prompt}", "params": {"steps": 4}}, "unknown parameter"),
        ({"name": "x", "template": "{prompt}", "params": {"aspect_ratio": "7:3"}}, "aspect_ratio"),
        ({"name": "x", "template": "{prompt}", "params": {"num_outputs": 2}}, "num_outputs"),
    ],
)
def test_invalid_styles_are_refused_with_the_reason(kwargs: dict, message: str) -> None:
    with pytest.raises(StyleError, match=message) as caught:
        Style(**kwargs)
    assert isinstance(caught.value, FluxError) and isinstance(caught.value, ValueError)


def test_a_handful_of_styles_ship_and_all_are_valid() -> None:
    names = [s.name for s in SHIPPED_STYLES]
    assert {"watercolor", "35mm photo", "pixel art", "diagram for slides"} <= set(names)
    assert len(names) == len(set(names))
    assert StyleLibrary("/nonexistent-folder").names() == names


def test_saved_style_is_json_in_the_user_folder_and_comes_back(tmp_path: Path) -> None:
    library = StyleLibrary(tmp_path / "styles")
    mine = Style("My Poster!", "a bold poster of {prompt}", {"aspect_ratio": "2:3"}, "for print")
    path = library.save(mine)
    assert path == tmp_path / "styles" / "my-poster.json"
    assert json.loads(path.read_text())["template"] == "a bold poster of {prompt}"
    again = StyleLibrary(tmp_path / "styles")
    assert again.get("My Poster!") == mine
    assert again.names()[-1] == "My Poster!"
    assert again.delete("My Poster!") and not again.delete("My Poster!")
    with pytest.raises(StyleError, match="no style named"):
        again.get("My Poster!")


def test_saved_style_replaces_a_shipped_one_of_the_same_name(tmp_path: Path) -> None:
    library = StyleLibrary(tmp_path)
    library.save(Style("watercolor", "my own watercolor of {prompt}"))
    assert library.get("watercolor").template == "my own watercolor of {prompt}"
    assert library.names().count("watercolor") == 1


def test_damaged_style_files_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "noslot.json").write_text(json.dumps({"name": "n", "template": "no slot"}))
    library = StyleLibrary(tmp_path)
    assert library.names() == [s.name for s in SHIPPED_STYLES]
    assert "broken.json" in caplog.text and "noslot.json" in caplog.text


def test_user_styles_folder_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_WIDGETS_STYLES_DIR", str(tmp_path / "mine"))
    assert StyleLibrary().directory == tmp_path / "mine"


@pytest.mark.parametrize(
    "names",
    [
        ("水彩", "油絵"),  # both slug to nothing readable
        ("C++ look", "C look"),
        ("Ink", "ink"),  # one file name on a case-insensitive disk
        ("café", "cafe"),
        ("!!!", "???", "style"),
    ],
)
def test_styles_whose_names_make_the_same_file_name_keep_distinct_files(
    tmp_path: Path, names: tuple[str, ...]
) -> None:
    library = StyleLibrary(tmp_path)
    paths = [library.save(Style(name, f"{name} of {{prompt}}")) for name in names]
    assert len({p.name.casefold() for p in paths}) == len(names)
    for name in names:
        assert library.get(name).template == f"{name} of {{prompt}}"
    library.save(Style(names[0], "again {prompt}"))  # replaces its own file only
    assert len(list(tmp_path.glob("*.json"))) == len(names)
    assert library.get(names[1]).template == f"{names[1]} of {{prompt}}"
    assert library.delete(names[0])
    assert not library.delete(names[0])
    for name in names[1:]:
        assert library.get(name).template == f"{name} of {{prompt}}"


def test_saving_never_overwrites_a_damaged_file_of_the_same_slug(tmp_path: Path) -> None:
    (tmp_path / "ink.json").write_text("{not json")
    path = StyleLibrary(tmp_path).save(Style("ink", "ink of {prompt}"))
    assert path.name == "ink-2.json" and (tmp_path / "ink.json").read_text() == "{not json"


@pytest.mark.parametrize("prompt", ["a blueprint drawing of {prompt}", "{ Prompt } at dusk"])
def test_a_prompt_still_holding_the_slot_is_refused_with_or_without_a_style(prompt: str) -> None:
    # The template syntax reads {prompt} as a one-option variant: it would send "prompt".
    with pytest.raises(StyleError, match=r"still holds .*write what to draw in its place"):
        check_slot_filled(prompt)
    for style in (None, "watercolor"):
        with pytest.raises(StyleError, match="still holds"):
            plan_batch(prompt, provider="cometapi", style=style)
    with pytest.raises(StyleError, match="still holds"):
        Style("ink", "ink of {prompt}").apply(prompt)
    check_slot_filled("a {red|blue} prompter")  # variants and the word itself are fine
    assert plan_batch("a {red|blue} kite", provider="cometapi").generations == 2
