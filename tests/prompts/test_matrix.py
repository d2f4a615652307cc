"""The prompt matrix joins its parts as A1111's prompt_matrix.py does: without stray commas."""

from __future__ import annotations

import pytest

from flux_widgets.prompts.matrix import PromptMatrix


@pytest.mark.parametrize(
    "text",
    [
        "a city street|at night,|in the rain,",
        "a city street, | at night , |, in the rain ,",
        "a city street,,|at night,,|in the rain",
    ],
)
def test_parts_lose_the_commas_around_them(text: str) -> None:
    assert PromptMatrix.parse(text).prompts() == [
        "a city street",
        "a city street, in the rain",
        "a city street, at night",
        "a city street, at night, in the rain",
    ]


def test_a_part_of_only_commas_is_an_empty_part() -> None:
    with pytest.raises(ValueError, match="empty part"):
        PromptMatrix.parse("a city street|,|at night")
