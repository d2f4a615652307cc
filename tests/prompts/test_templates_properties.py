"""Property test: for any template in the common forms, the fast expansion and dynamicprompts'
own combinatorial generator give the same prompts in the same order, and count() agrees."""

from __future__ import annotations

from pathlib import Path

import pytest
from dynamicprompts.generators import CombinatorialPromptGenerator
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flux_widgets.prompts.templates import PromptTemplate, TemplateError, Wildcards

# Templates larger than this are compared on their first prompts (see the test).
LIBRARY_LIMIT = 500

WORDS = st.sampled_from(["a", "red", "cat", " ", "big ", ", ", "x y", "z", ""])


def templates() -> st.SearchStrategy[str]:
    leaf = st.one_of(WORDS, st.sampled_from(["__fruit__", "__dish__", "__colors__"]))

    def variant(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.lists(children, min_size=1, max_size=4).map(lambda xs: "{" + "|".join(xs) + "}")

    node = st.recursive(
        leaf,
        lambda children: st.one_of(
            variant(children), st.lists(children, min_size=1, max_size=3).map("".join)
        ),
        max_leaves=6,
    )
    return st.lists(node, min_size=1, max_size=4).map("".join)


@pytest.fixture(scope="module")
def wildcards(tmp_path_factory: pytest.TempPathFactory) -> Wildcards:
    folder: Path = tmp_path_factory.mktemp("wild")
    (folder / "fruit.txt").write_text("apple\npear\napple\n")
    (folder / "dish.txt").write_text("{sliced|whole} __fruit__\n__fruit__ pie\n")
    (folder / "colors.txt").write_text("red\nblue\n")
    return Wildcards((folder,))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(template=templates())
def test_fast_expansion_equals_the_library(wildcards: Wildcards, template: str) -> None:
    assume(template)  # "" is refused outright (test_templates.py); the library gives []
    made = PromptTemplate(template, wildcards)
    count = made.count()
    # The library makes a few thousand prompts a second: past LIBRARY_LIMIT the count and the
    # first LIBRARY_LIMIT prompts, in order, are what is compared.
    library = CombinatorialPromptGenerator(wildcards.manager).generate(
        template, max_prompts=LIBRARY_LIMIT + 1
    )
    assert min(count, LIBRARY_LIMIT + 1) == len(library)
    if any(not p.strip() for p in library):
        with pytest.raises(TemplateError, match="empty prompt"):
            made.expand()
    elif count <= LIBRARY_LIMIT:
        assert made.expand() == library
    else:
        try:
            prompts = made.expand()
        except TemplateError as error:  # an empty prompt past the part the library made
            assert "empty prompt" in str(error)
        else:
            assert prompts[: LIBRARY_LIMIT + 1] == library
