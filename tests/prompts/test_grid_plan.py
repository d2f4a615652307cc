"""Grid plans: a third axis of sheets, prompt-matrix mode, validation before anything is sent."""

from __future__ import annotations

import pytest
from PIL import Image

from flux_widgets.images import GeneratedImage
from flux_widgets.params import FluxParams
from flux_widgets.prompts.grid_plan import MATRIX_FIELD, plan_grid
from flux_widgets.widgets._grid_export import draw_sheet, stack


def test_pages_make_one_sheet_of_cells_per_value() -> None:
    plan = plan_grid(
        rows=("seed", [1, 2]),
        columns=("num_inference_steps", [1, 4]),
        pages=("aspect_ratio", ["1:1", "16:9", "9:16"]),
        matrix=None,
        base={"prompt": "a lighthouse", "megapixels": "0.25"},
    )
    assert len(plan.cells) == 3 * 2 * 2
    assert plan.page_values == ("1:1", "16:9", "9:16")
    cell = plan.cells[("16:9", 2, 4)]
    assert cell == FluxParams(
        prompt="a lighthouse",
        seed=2,
        num_inference_steps=4,
        aspect_ratio="16:9",
        megapixels="0.25",
    )
    assert plan.key("9:16", 1, 1) == ("9:16", 1, 1)
    assert plan.sheet_title("16:9").endswith("page: aspect_ratio = 16:9")


def test_without_pages_keys_stay_two_values_and_one_seed_is_shared() -> None:
    plan = plan_grid(
        rows=("prompt", ["a", "b"]),
        columns=("aspect_ratio", ["1:1", "4:3"]),
        pages=None,
        matrix=None,
        base=None,
    )
    assert set(plan.cells) == {("a", "1:1"), ("a", "4:3"), ("b", "1:1"), ("b", "4:3")}
    assert plan.page_values == (None,)
    assert len({p.seed for p in plan.cells.values()}) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": ("seed", [1]), "columns": ("seed", [2])}, "both vary seed"),
        ({"rows": ("seed", [1]), "columns": ("steps", [2])}, "not a parameter"),
        (
            {"rows": ("seed", [1]), "columns": ("aspect_ratio", ["1:1"]), "pages": ("seed", [3])},
            "already varies",
        ),
        (
            {
                "rows": ("seed", [1]),
                "columns": ("aspect_ratio", ["1:1"]),
                "pages": ("num_inference_steps", [9]),
            },
            "num_inference_steps",
        ),
        ({"rows": None, "columns": None}, "give rows"),
        (
            {"rows": ("seed", [1]), "columns": ("aspect_ratio", ["1:1"]), "matrix": "a|b"},
            "drop rows/columns",
        ),
        ({"rows": ("prompt", ["a {red|blue} car"]), "columns": ("seed", [1])}, "holds variants"),
    ],
)
def test_invalid_grids_are_refused_naming_the_problem(kwargs: dict, message: str) -> None:
    options = {
        "rows": None,
        "columns": None,
        "pages": None,
        "matrix": None,
        "base": {"prompt": "x"},
    }
    options.update(kwargs)
    with pytest.raises(ValueError, match=message):
        plan_grid(**options)


def test_prompt_matrix_lays_parts_on_rows_and_columns() -> None:
    plan = plan_grid(
        rows=None,
        columns=None,
        pages=("seed", [1, 2]),
        matrix="a city street|at night|in the rain|oil painting",
        base={"megapixels": "0.25"},
    )
    assert plan.rows.field == MATRIX_FIELD and len(plan.rows.values) == 4
    assert len(plan.columns.values) == 2
    assert len(plan.cells) == 2 * 4 * 2
    all_on = plan.cells[(2, (True, True), (True,))]
    assert all_on.prompt == "a city street, at night, in the rain, oil painting"
    assert all_on.seed == 2
    assert plan.cells[(1, (False, False), (False,))].prompt == "a city street"
    assert plan.rows.label((True, False)) == "+ at night, - in the rain"
    assert plan.sheet_title(1).startswith("prompt matrix: a city street")


def _image(color: tuple[int, int, int], params: FluxParams) -> GeneratedImage:
    import io

    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, "PNG")
    return GeneratedImage.from_bytes(out.getvalue(), params.replace(output_format="png"))


def test_every_sheet_draws_with_its_images_and_stacks() -> None:
    plan = plan_grid(
        rows=("seed", [1, 2]),
        columns=("num_inference_steps", [1, 4]),
        pages=("aspect_ratio", ["1:1", "16:9"]),
        matrix=None,
        base={"prompt": "x"},
    )
    red = (220, 20, 20)
    images = {("16:9", 1, 1): _image(red, plan.cells[("16:9", 1, 1)])}
    first = draw_sheet(plan, "1:1", images, {}, 80)
    second = draw_sheet(plan, "16:9", images, {}, 80)
    assert first.size == second.size and first.width > 2 * 80 and first.height > 2 * 80
    reds = [
        second.getpixel((x, y)) for x in range(second.width) for y in range(0, second.height, 4)
    ]
    assert red in reds, "the 16:9 sheet shows its image"
    assert red not in [
        first.getpixel((x, y)) for x in range(first.width) for y in range(0, first.height, 4)
    ]
    both = stack([first, second])
    assert both.height == first.height + second.height + 2


def test_a_provider_axis_gives_each_cell_its_providers_defaults_and_notes_what_changed() -> None:
    from flux_widgets.providers import PROVIDERS
    from flux_widgets.schema import FIELDS

    names = tuple(PROVIDERS)
    plan = plan_grid(
        rows=("num_inference_steps", [1, 4]),
        columns=("provider", names),
        pages=None,
        matrix=None,
        base={"prompt": "a lighthouse", "seed": 5},
    )
    assert plan.provider_names == names
    for (steps, name), params in plan.cells.items():
        provider = PROVIDERS[name]
        assert plan.providers[(steps, name)] == name
        # Left out of base: the provider's own default, silently (fal: jpg, not webp).
        assert params.output_format == provider.capabilities.default("output_format")
        assert provider.capabilities.problems(params, name) == []
        assert params.seed == 5 and params.num_outputs == 1
        if provider.capabilities.supports("num_inference_steps"):
            assert plan.unhonoured[(steps, name)] == ()
        else:  # Hugging Face's auto route: nscale sends no steps, so none is honoured
            kept = params.num_inference_steps
            expected = () if kept == steps else (f"steps {kept}, not {steps}",)
            assert plan.unhonoured[(steps, name)] == expected
    # Given in base, and not honoured: the nearest value it honours, with a note per field.
    given = plan_grid(
        rows=("seed", [1]),
        columns=("provider", names),
        pages=None,
        matrix=None,
        base=FluxParams(prompt="a lighthouse", output_format="webp"),
    )
    asked = FluxParams(**{**given.base, "seed": 1})
    for (_, name), params in given.cells.items():
        capabilities = PROVIDERS[name].capabilities
        changed = [f for f in FIELDS if getattr(params, f) != getattr(asked, f)]
        assert len(given.unhonoured[(1, name)]) == len(changed)
        if "webp" in capabilities.allowed_choices("output_format"):
            assert params.output_format == "webp"
        else:
            assert f"format {params.output_format}, not webp" in given.unhonoured[(1, name)]


def test_a_field_axis_beside_no_provider_axis_keeps_the_plan_as_it_was() -> None:
    plan = plan_grid(
        rows=("seed", [1]),
        columns=("output_format", ["webp", "png"]),
        pages=None,
        matrix=None,
        base={"prompt": "a"},
    )
    assert plan.providers == {} and plan.unhonoured == {} and plan.provider_names == ()


def test_a_grid_with_one_axis_shares_one_seed_across_its_cells() -> None:
    # The issue's own example: PromptGrid(columns=("provider", [...]), base={...}).
    plan = plan_grid(
        rows=None,
        columns=("provider", ["cometapi", "fal"]),
        pages=None,
        matrix=None,
        base={"prompt": "a lighthouse"},
    )
    assert plan.rows.field == "seed" and len(plan.rows.values) == 1
    seeds = {params.seed for params in plan.cells.values()}
    assert len(plan.cells) == 2 and len(seeds) == 1 and None not in seeds
    given = plan_grid(
        rows=("num_inference_steps", [1, 4]),
        columns=None,
        pages=None,
        matrix=None,
        base={"prompt": "a lighthouse", "seed": 9},
    )
    assert given.columns.values == (9,)
    assert {params.seed for params in given.cells.values()} == {9}


def test_a_grid_of_seeds_alone_shares_the_prompt_and_needs_one() -> None:
    plan = plan_grid(
        rows=None, columns=("seed", [1, 2]), pages=None, matrix=None, base={"prompt": "a fox"}
    )
    assert plan.rows.field == "prompt" and plan.rows.values == ("a fox",)
    with pytest.raises(ValueError, match="needs base"):
        plan_grid(rows=None, columns=("seed", [1, 2]), pages=None, matrix=None, base={})
    with pytest.raises(ValueError, match="and/or"):
        plan_grid(rows=None, columns=None, pages=None, matrix=None, base={"prompt": "a fox"})
