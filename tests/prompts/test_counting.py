"""Counting a template computes the number of prompts from its parse tree, never expanding it,
and agrees with dynamic-prompts' own combinatorial generator."""

from __future__ import annotations

from pathlib import Path

import pytest
from dynamicprompts.generators import CombinatorialPromptGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux_widgets.prompts.templates import PromptTemplate, TemplateError, Wildcards, _Walker


@pytest.fixture(scope="module")
def wildcards(tmp_path_factory: pytest.TempPathFactory) -> Wildcards:
    folder: Path = tmp_path_factory.mktemp("wild")
    for name in "abcd":
        lines = [f"{name} word {i}" for i in range(40)]
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
    (folder / "fruit.txt").write_text("apple\npear\napple\n")
    (folder / "more.txt").write_text("pear\nplum\n")  # shares "pear" with fruit
    (folder / "dish.txt").write_text("{sliced|whole} __fruit__\n__fruit__ pie\n")
    return Wildcards((folder,))


def library_count(wildcards: Wildcards, template: str, limit: int | None = None) -> int:
    return len(CombinatorialPromptGenerator(wildcards.manager).generate(template, limit))


@pytest.fixture
def no_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> list[str]:
        raise AssertionError("count() expanded the template")

    monkeypatch.setattr(CombinatorialPromptGenerator, "generate", refuse)
    monkeypatch.setattr(_Walker, "expand", refuse)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("a {1-2$$__a__|__b__|__c__|__d__} scene", 4 * 40 + 12 * 40 * 40),
        ("a {~huge|tiny} __a__ __b__ in __c__, __d__", 40**4),
        ("{2$$__a__|__b__} {1-3$$__c__|__d__|x}", 2 * 1600 * (81 + 2 * 1680 + 6 * 1600)),
        ("{2$$__a__}", 40 * 39),
        ("{0-1$$x|y} {@p|q}", 3),
    ],
)
def test_count_is_arithmetic_not_expansion(
    wildcards: Wildcards, template: str, expected: int, no_expansion: None
) -> None:
    assert PromptTemplate(template, wildcards).count() == expected


def test_counts_agree_with_the_library_on_the_slow_forms(wildcards: Wildcards) -> None:
    for template in ("{1-2$$__a__|__b__|x|y}", "{~x|y} __a__ __b__", "{2$$__a__}"):
        assert PromptTemplate(template, wildcards).count() == library_count(wildcards, template)


@pytest.mark.parametrize(
    "template",
    [
        "{__fruit__|__more__}",  # "pear" in both: made once
        "{2$$__fruit__|__more__}",  # ("pear", "pear") is not a pick of two different texts
        "{a|a|b}",
        "{2$$a|a|b}",
        "{1-2$$__dish__|apple pie}",
        "${v={a|b}} ${v} {x|y}",
    ],
)
def test_repeats_are_counted_as_the_library_drops_them(wildcards: Wildcards, template: str) -> None:
    assert PromptTemplate(template, wildcards).count() == library_count(wildcards, template)


def test_immediate_variables_in_every_combination_are_refused_before_sending(
    wildcards: Wildcards,
) -> None:
    made = PromptTemplate("${v=!{a|b}} ${v} and ${v} {x|y}", wildcards)
    for call in (made.count, made.expand):
        with pytest.raises(TemplateError, match=r"\$\{v=!\.\.\.\}.*random picks"):
            call()
    assert len(made.sample(4, seed=2)) == 4  # random picks support them


def test_a_random_pick_alone_is_one_prompt(wildcards: Wildcards) -> None:
    made = PromptTemplate("{~__fruit__|__more__}", wildcards)
    assert made.count() == 1
    assert len(made.expand()) == 1 and made.expand()[0] in {"apple", "pear", "plum"}


def test_a_pick_of_more_choices_than_there_are_is_refused(wildcards: Wildcards) -> None:
    with pytest.raises(TemplateError, match="makes no prompt"):
        PromptTemplate("{2$$a|a}", wildcards).expand()


def test_an_unset_variable_is_a_template_error(wildcards: Wildcards) -> None:
    with pytest.raises(TemplateError, match="never set"):
        PromptTemplate("a ${nothing} b {x|y}", wildcards).count()


WORDS = st.sampled_from(["a", "red", " ", ", ", "x y", "", "pear"])


def templates() -> st.SearchStrategy[str]:
    leaf = st.one_of(WORDS, st.sampled_from(["__fruit__", "__more__", "__dish__"]))

    def variant(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        bound = st.sampled_from(["", "", "~", "2$$", "1-2$$", "0-3$$", "2$$ and $$"])
        values = st.lists(children, min_size=1, max_size=4)
        return st.tuples(bound, values).map(lambda bv: "{" + bv[0] + "|".join(bv[1]) + "}")

    node = st.recursive(
        leaf,
        lambda children: st.one_of(
            variant(children), st.lists(children, min_size=1, max_size=3).map("".join)
        ),
        max_leaves=6,
    )
    return st.lists(node, min_size=1, max_size=4).map("".join)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(template=templates())
def test_count_equals_the_number_the_library_makes(wildcards: Wildcards, template: str) -> None:
    # A leading word keeps the template a sequence: alone at the top, a random {~...} makes
    # endless prompts in the library (expand() makes the one that count() says).
    template = "<" + template
    count = PromptTemplate(template, wildcards).count()
    try:
        # The library is slow per prompt: beyond 500 it is asked whether there are more.
        made = library_count(wildcards, template, limit=501)
    except RuntimeError:  # its own fault on e.g. "{2$$a|a}" (a pick of two from one text)
        assert count == 0
        return
    if "~" in template:
        # A random pick's text is drawn at expansion: where it may equal a sibling's, the
        # library drops the repeat or not by chance, so the count is the most it can make.
        assert made <= min(count, 501)
    else:
        assert min(count, 501) == made


@pytest.mark.parametrize(
    ("template", "expected"),
    [("<{a|{~a}}", 1), ("<{a|{~a|a}}", 1), ("<{b|{~a}}", 2), ("<{{~a}|a} x", 1)],
)
def test_a_random_pick_that_can_only_read_one_way_counts_as_that_text(
    wildcards: Wildcards, template: str, expected: int
) -> None:
    # Found by the property above: {~a} always reads "a", so beside a plain "a" it is a repeat.
    assert PromptTemplate(template, wildcards).count() == expected
    assert library_count(wildcards, template, limit=100) == expected
