"""Wildcard lines become template text in one place: what the grammar would misread as syntax is
taken literally, and a line it cannot read is refused naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux_widgets.prompts.templates import PromptTemplate, TemplateError, Wildcards

LITERAL_LINES = ["#ff8800", "a #ff8800 scarf", "50% grey", "$5 bill", "[orange]", "red|blue"]


@pytest.fixture
def wildcards(tmp_path: Path) -> Wildcards:
    (tmp_path / "odd.txt").write_text("# a comment line\n" + "\n".join(LITERAL_LINES) + "\n")
    (tmp_path / "plain.txt").write_text("tea\n")
    return Wildcards((tmp_path,))


@pytest.mark.parametrize(
    "template",
    ["__odd__", "{__odd__|tea}", "{1$$__odd__}", "{~__odd__}", "{2$$__odd__|__plain__}"],
)
def test_lines_that_look_like_syntax_are_sent_as_written(
    wildcards: Wildcards, template: str
) -> None:
    made = PromptTemplate(template, wildcards)
    sampled = made.sample(20, seed=3)
    expected = set(LITERAL_LINES) | {"tea"}
    for prompt in sampled:
        assert all(part in expected for part in prompt.split(",")), prompt
    if "~" not in template:
        expanded = made.expand()
        assert len(expanded) == made.count()
        assert any("#ff8800" in p for p in expanded) and any("red|blue" in p for p in expanded)


def test_a_hex_colour_line_is_a_value_and_other_hash_lines_are_comments(
    wildcards: Wildcards,
) -> None:
    assert sorted(wildcards.values("odd")) == sorted(LITERAL_LINES)


@pytest.mark.parametrize("line", ["a {velvet scarf", "a {b|c", "{{x}"])
def test_a_line_the_grammar_cannot_read_is_a_template_error_with_file_and_line(
    tmp_path: Path, line: str
) -> None:
    (tmp_path / "bad.txt").write_text(f"fine\n{line}\n")
    for call in (
        lambda t: t.expand(),
        lambda t: t.count(),
        lambda t: t.sample(2, seed=1),
    ):
        with pytest.raises(TemplateError, match=r"bad\.txt, line 2"):
            call(PromptTemplate("x __bad__", Wildcards((tmp_path,))))


def test_nested_wildcards_and_variants_in_lines_keep_their_meaning(tmp_path: Path) -> None:
    (tmp_path / "fruit.txt").write_text("apple\npear\n")
    (tmp_path / "dish.txt").write_text("{sliced|whole} __fruit__\n")
    made = PromptTemplate("__dish__", Wildcards((tmp_path,)))
    assert made.expand() == ["sliced apple", "sliced pear", "whole apple", "whole pear"]
