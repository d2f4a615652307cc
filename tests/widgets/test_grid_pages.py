"""PromptGrid's third axis (one labelled sheet per page), prompt matrix, cost and progress."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from flux_widgets import FluxClient, FluxParams
from flux_widgets.mock import MockConfig
from flux_widgets.spending.prices import Price
from flux_widgets.widgets.grid import PromptGrid


@pytest.fixture
async def client() -> AsyncIterator[FluxClient]:
    async with FluxClient.mock(
        config=MockConfig(generation_time=0.02),
        prices={"cometapi": Price(per_image=0.003, source="test")},
    ) as client:
        yield client


def paged(client: FluxClient) -> PromptGrid:
    return PromptGrid(
        client,
        rows=("seed", [1, 2]),
        columns=("num_inference_steps", [1, 4]),
        pages=("aspect_ratio", ["1:1", "16:9"]),
        base={"prompt": "a lighthouse", "megapixels": "0.25"},
    )


async def test_pages_generate_every_sheet_with_each_cells_params(client: FluxClient) -> None:
    grid = paged(client)
    assert grid.summary() == "8 images in 2 sheets · about $0.0240 on cometapi"
    assert "8 images in 2 sheets" in grid.progress.value  # before it starts
    images = await grid.generate()
    assert set(images) == {(p, s, n) for p in ("1:1", "16:9") for s in (1, 2) for n in (1, 4)}
    image = images[("16:9", 2, 4)]
    assert image.params == FluxParams(
        prompt="a lighthouse",
        seed=2,
        num_inference_steps=4,
        aspect_ratio="16:9",
        megapixels="0.25",
    )
    assert (image.width, image.height) == (672, 384)
    assert "8/8 done" in grid.progress.value
    assert grid.counts is not None and (grid.counts.done, grid.counts.failed) == (8, 0)


async def test_pages_show_as_labelled_tabs(client: FluxClient) -> None:
    grid = paged(client)
    titles = [grid.grid.get_title(i) for i in range(2)]
    assert titles == ["aspect_ratio = 1:1", "aspect_ratio = 16:9"]
    assert set(grid.sheets) == {"1:1", "16:9"}


async def test_every_sheet_exports(client: FluxClient, tmp_path: Path) -> None:
    grid = paged(client)
    await grid.generate()
    sheets = grid.to_images(cell_size=64)
    assert list(sheets) == ["1:1", "16:9"]
    paths = grid.save_sheets(tmp_path / "grid.png", cell_size=64)
    assert [p.name for p in paths] == ["grid-1-1-1.png", "grid-2-16-9.png"]
    for path in paths:
        with Image.open(path) as saved:
            assert saved.size == sheets["1:1"].size
    one = grid.save(tmp_path / "all", cell_size=64)
    with Image.open(one) as saved:
        assert saved.height == 2 * sheets["1:1"].height + 2
    assert grid.to_image(64, page="16:9").size == sheets["16:9"].size
    with pytest.raises(ValueError, match="no page"):
        grid.to_image(64, page="4:3")
    assert "image/png" in grid._repr_mimebundle_()


async def test_prompt_matrix_grid(client: FluxClient) -> None:
    grid = PromptGrid(
        client, matrix="a city street|at night|in the rain", base={"megapixels": "0.25"}
    )
    assert len(grid.cells) == 4
    images = await grid.generate()
    prompts = sorted(image.params.prompt for image in images.values())
    assert prompts == [
        "a city street",
        "a city street, at night",
        "a city street, at night, in the rain",
        "a city street, in the rain",
    ]
    labels = [c.value for c in grid.grid.children if hasattr(c, "value")]
    assert any("+ at night" in text for text in labels)
    assert len({image.seed for image in images.values()}) == 1


async def test_grid_progress_bar_and_counts(client: FluxClient, capsys) -> None:  # type: ignore[no-untyped-def]
    grid = PromptGrid(
        client,
        rows=("prompt", ["a cat", "[mock:fail] a dog"]),
        columns=("seed", [1]),
        base={"megapixels": "0.25"},
    )
    await grid.generate(progress=True)
    assert grid.counts is not None and (grid.counts.done, grid.counts.failed) == (1, 1)
    assert "done=1, failed=1, running=0" in capsys.readouterr().err
    assert "1 failed" in grid.progress.value


async def test_grid_is_refused_by_the_cap_before_any_request() -> None:
    from flux_widgets import BudgetExceededError

    async with FluxClient.mock(
        config=MockConfig(generation_time=0.02),
        prices={"cometapi": Price(per_image=0.003)},
        max_spend=0.003 * 7,
    ) as capped:
        grid = paged(capped)
        with pytest.raises(BudgetExceededError, match="batch of 8"):
            await grid.generate()
        assert capped._mock_server.state.creates == 0
