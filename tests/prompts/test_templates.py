"""Prompt templates: variants, wildcards, random picks, errors, agreement with dynamicprompts."""

from __future__ import annotations

from pathlib import Path

import pytest
from dynamicprompts.generators import CombinatorialPromptGenerator

from flux_widgets.params import FluxParams
from flux_widgets.prompts.matrix import PromptMatrix, split_outside_braces
from flux_widgets.prompts.plans import plan_batch, with_prompt
from flux_widgets.prompts.templates import (
    SHIPPED_WILDCARDS,
    PromptOrigin,
    PromptTemplate,
    TemplateError,
    Wildcards,
    expand_prompts,
)
from flux_widgets.spending.prices import Price


@pytest.fixture
def wildcards(tmp_path: Path) -> Wildcards:
    user = tmp_path / "user"
    (user / "places").mkdir(parents=True)
    (user / "fruit.txt").write_text("# a comment\napple\n\npear\napple\n")
    (user / "dish.txt").write_text("{sliced|whole} __fruit__\n__fruit__ pie\n")
    (user / "places" / "city.txt").write_text("Paris\nLagos\n")
    (user / "places" / "coast.txt").write_text("a harbour\n")
    (user / "colors.txt").write_text("ultramarine\n")  # replaces the shipped colors
    (user / "loop.txt").write_text("again __loop__\n")
    return Wildcards((SHIPPED_WILDCARDS, user))


def test_variants_expand_to_every_combination_first_variant_slowest(wildcards: Wildcards) -> None:
    template = PromptTemplate("a {red|green|blue} {car|bicycle}", wildcards)
    assert template.count() == 6
    assert template.expand() == [
        "a red car",
        "a red bicycle",
        "a green car",
        "a green bicycle",
        "a blue car",
        "a blue bicycle",
    ]
    assert template.is_dynamic


def test_plain_text_is_one_prompt(wildcards: Wildcards) -> None:
    template = PromptTemplate("a paper boat at sunrise", wildcards)
    assert not template.is_dynamic
    assert template.expand() == ["a paper boat at sunrise"]


def test_wildcards_read_user_files_sorted_without_repeats_and_comments(
    wildcards: Wildcards,
) -> None:
    assert expand_prompts("a __fruit__ tart", wildcards=wildcards) == [
        "a apple tart",
        "a pear tart",
    ]
    assert expand_prompts("in __places/*__", wildcards=wildcards) == [
        "in Lagos",
        "in Paris",
        "in a harbour",
    ]


def test_user_wildcard_replaces_shipped_one_and_shipped_ones_work(wildcards: Wildcards) -> None:
    assert expand_prompts("__colors__", wildcards=wildcards) == ["ultramarine"]
    shipped = Wildcards((SHIPPED_WILDCARDS,))
    assert "teal" in shipped.values("__colors__")
    assert {"animals", "colors", "lighting"} <= set(shipped.names())


def test_wildcard_values_are_templates_themselves(wildcards: Wildcards) -> None:
    # Wildcard lines are sorted as text ("__fruit__ pie" before "{sliced|whole} ..."), then
    # each is expanded in turn.
    assert expand_prompts("__dish__", wildcards=wildcards) == [
        "apple pie",
        "pear pie",
        "sliced apple",
        "sliced pear",
        "whole apple",
        "whole pear",
    ]


@pytest.mark.parametrize(
    "template",
    [
        "a {red|green|blue} {car|bicycle}",
        "{a|a|b} {x|}",
        "a {__fruit__|plain} cake",
        "{a {b|c}|d} e",
        "__dish__ on a {plate|board}",
        "x {2$$a|b|c}",
        "${v={cat|dog}} a ${v} and a ${v}",
        "in __places/*__ at {dawn|dusk}",
        "plain text only",
    ],
)
def test_expansion_matches_dynamicprompts_combinatorial_generator(
    wildcards: Wildcards, template: str
) -> None:
    library = CombinatorialPromptGenerator(wildcards.manager)
    expected = library.generate(template, max_prompts=None)
    made = PromptTemplate(template, wildcards)
    assert made.expand() == expected
    assert made.count() == len(expected)


def test_missing_wildcard_is_an_error_naming_it_and_the_folders(wildcards: Wildcards) -> None:
    with pytest.raises(TemplateError, match=r"__nope__ has no file.*nope\.txt") as caught:
        PromptTemplate("a __nope__ cat", wildcards).count()
    assert str(SHIPPED_WILDCARDS) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_missing_wildcard_inside_a_wildcard_file_is_found(tmp_path: Path) -> None:
    (tmp_path / "outer.txt").write_text("with __inner__\n")
    with pytest.raises(TemplateError, match="__inner__"):
        expand_prompts("__outer__", wildcards=Wildcards((tmp_path,)))


def test_missing_wildcard_is_refused_for_random_picks_too(wildcards: Wildcards) -> None:
    with pytest.raises(TemplateError, match="__nope__"):
        PromptTemplate("{a|b} __nope__", wildcards).sample(3, seed=1)


def test_self_including_wildcard_is_an_error(wildcards: Wildcards) -> None:
    with pytest.raises(TemplateError, match="includes itself"):
        PromptTemplate("__loop__", wildcards).expand()


def test_unbalanced_brace_is_a_syntax_error_with_position(wildcards: Wildcards) -> None:
    with pytest.raises(TemplateError, match="character 3"):
        PromptTemplate("a {red|green", wildcards).expand()


def test_empty_prompt_among_expansions_is_refused(wildcards: Wildcards) -> None:
    with pytest.raises(TemplateError, match="empty prompt"):
        PromptTemplate("{a|}", wildcards).expand()
    with pytest.raises(TemplateError, match="empty prompt"):
        PromptTemplate("", wildcards).expand()


def test_too_many_combinations_are_refused_before_expanding(wildcards: Wildcards) -> None:
    ten = "{" + "|".join(str(i) for i in range(10)) + "}"
    template = PromptTemplate(" ".join([ten] * 6), wildcards)  # a million prompts
    assert template.count() == 1_000_000
    with pytest.raises(TemplateError, match="1,000,000 prompts"):
        template.expand()
    assert len(template.sample(5, seed=2)) == 5


def test_ten_thousand_combinations_expand(wildcards: Wildcards) -> None:
    ten = "{" + "|".join(str(i) for i in range(10)) + "}"
    prompts = PromptTemplate(f"a {ten}{ten} b {ten}{ten}", wildcards).expand()
    assert len(prompts) == 10_000
    assert prompts[0] == "a 00 b 00" and prompts[-1] == "a 99 b 99"
    assert len(set(prompts)) == 10_000


def test_random_picks_are_reproducible_with_a_seed(wildcards: Wildcards) -> None:
    template = PromptTemplate("a {red|green|blue} __fruit__", wildcards)
    first = template.sample(8, seed=42)
    assert first == template.sample(8, seed=42)
    assert len(first) == 8
    assert set(first) <= set(template.expand())
    with pytest.raises(TemplateError):
        template.sample(0)


def test_origin_round_trips_through_json() -> None:
    origin = PromptOrigin("a {red|green} car", style="watercolor", style_template="w {prompt}")
    assert PromptOrigin.from_json(origin.to_json()) == origin
    assert PromptOrigin.from_json({"template": "x"}) == PromptOrigin("x")
    assert PromptOrigin.from_json({"nope": 1}) is None


def test_plan_counts_images_and_cost_and_builds_valid_params(wildcards: Wildcards) -> None:
    plan = plan_batch(
        "a {red|green} __fruit__",
        provider="replicate",
        num_outputs=2,
        seed=7,
        wildcards=wildcards,
    )
    assert plan.generations == 4
    assert plan.images == 8
    assert plan.cost == pytest.approx(4 * 2 * 0.003)
    assert plan.summary() == "4 generations · 8 images · about $0.0240 on replicate"
    items = list(plan.params())
    assert [p.prompt for p in items] == [
        "a red apple",
        "a red pear",
        "a green apple",
        "a green pear",
    ]
    assert items[1] == FluxParams(prompt="a red pear", num_outputs=2, seed=7)
    assert plan.origin == PromptOrigin("a {red|green} __fruit__")
    assert not plan.needs_confirmation() and plan.needs_confirmation(above=3)


def test_plan_applies_a_style_whose_params_lose_to_explicit_ones(wildcards: Wildcards) -> None:
    plan = plan_batch(
        "a {cat|dog}",
        provider="cometapi",
        style="diagram for slides",
        output_format="webp",
        wildcards=wildcards,
    )
    assert plan.prompts[0].startswith("a clean flat vector diagram of a cat")
    assert plan.base.aspect_ratio == "16:9" and plan.base.output_format == "webp"
    assert plan.origin.style == "diagram for slides" and plan.origin.template == "a {cat|dog}"
    assert plan.cost is None and "price unknown on cometapi" in plan.summary()
    priced = plan_batch(
        "x", provider="cometapi", prices={"cometapi": Price(per_image=0.01)}, wildcards=wildcards
    )
    assert priced.cost == pytest.approx(0.01)


def test_plan_refuses_bad_parameters_before_anything(wildcards: Wildcards) -> None:
    with pytest.raises(ValueError, match="num_inference_steps"):
        plan_batch("a {b|c}", provider="replicate", num_inference_steps=9, wildcards=wildcards)
    with pytest.raises(ValueError, match="unknown parameter"):
        plan_batch("a", provider="replicate", colour="red", wildcards=wildcards)


def test_with_prompt_copies_everything_but_the_prompt() -> None:
    base = FluxParams(prompt="x", aspect_ratio="16:9", seed=3, num_outputs=2)
    made = with_prompt(base, "y")
    assert made == base.replace(prompt="y") and base.prompt == "x"
    with pytest.raises(ValueError):
        with_prompt(base, "  ")


def test_prompt_matrix_turns_each_part_on_and_off() -> None:
    matrix = PromptMatrix.parse("a city street|at night|in the rain|{oil|ink} painting")
    assert matrix.rows.parts == ("at night", "in the rain")
    assert matrix.columns.parts == ("{oil|ink} painting",)
    prompts = matrix.prompts()
    assert len(prompts) == 8 and len(set(prompts)) == 8
    assert prompts[0] == "a city street"
    assert prompts[-1] == "a city street, at night, in the rain, {oil|ink} painting"
    assert matrix.rows.label((True, False)) == "+ at night, - in the rain"
    assert split_outside_braces("a{b|c}|d", "|") == ["a{b|c}", "d"]
    with pytest.raises(ValueError, match="optional parts"):
        PromptMatrix.parse("no parts")
    with pytest.raises(ValueError, match="empty part"):
        PromptMatrix.parse("a||b")


def test_a_wildcard_file_added_later_is_found(tmp_path: Path) -> None:
    wildcards = Wildcards((tmp_path,))
    (tmp_path / "first.txt").write_text("one\n")
    assert expand_prompts("__first__", wildcards=wildcards) == ["one"]
    (tmp_path / "later.txt").write_text("two\n")
    assert expand_prompts("__later__", wildcards=wildcards) == ["two"]


def test_a_user_folder_created_later_is_found(tmp_path: Path) -> None:
    folder = tmp_path / "not-yet"
    wildcards = Wildcards((SHIPPED_WILDCARDS, folder))
    assert "colors" in wildcards.names()
    folder.mkdir()
    (folder / "mine.txt").write_text("x\n")
    assert expand_prompts("__mine__", wildcards=wildcards) == ["x"]


def test_hashtags_dollars_and_percents_stay_text(wildcards: Wildcards) -> None:
    # dynamicprompts reads "#" as a comment and refuses a bare "$" or "%": not here.
    assert expand_prompts("a #hashtag {x|y}", wildcards=wildcards) == [
        "a #hashtag x",
        "a #hashtag y",
    ]
    assert expand_prompts("price $5, 50% {off|on}", wildcards=wildcards) == [
        "price $5, 50% off",
        "price $5, 50% on",
    ]
    assert PromptTemplate("a {x|y} #1", wildcards).sample(3, seed=1)[0].endswith(" #1")
    assert expand_prompts("${c={red|blue}} a ${c} car", wildcards=wildcards) == [
        " a red car",
        " a blue car",
    ]


def test_a_prompt_without_template_syntax_is_sent_as_typed(wildcards: Wildcards) -> None:
    for text in ("a photo #nofilter", "100% cotton, $3", "snake_case_name", "a } b"):
        template = PromptTemplate(text, wildcards)
        assert not template.is_dynamic
        assert template.expand() == [text]
        assert template.sample(2) == [text, text]


def test_a_plan_without_the_served_items_keeps_the_rest_in_order_and_prices_them() -> None:
    plan = plan_batch("a {red|green|blue|white} car", provider="replicate", num_outputs=2)
    rest = plan.without({0, 2})
    assert list(rest.prompts) == ["a green car", "a white car"]
    assert rest.images == 4 and rest.cost == pytest.approx(plan.cost / 2)  # type: ignore[operator]
    assert rest.base == plan.base and rest.origin == plan.origin
    assert plan.generations == 4  # the plan itself is unchanged
