"""PromptGrid against the mock: right params per cell, labels, export, validation first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from html_text import visible_text
from PIL import Image

from flux_widgets import FluxClient, FluxParams
from flux_widgets.history.store import History
from flux_widgets.mock import MockConfig
from flux_widgets.schema import FIELDS
from flux_widgets.widgets.grid import PromptGrid

PROMPTS = ["a paper boat", "a paper crane"]
SEEDS = [1, 2, 3]


@pytest.fixture
async def client() -> AsyncIterator[FluxClient]:
    async with FluxClient.mock(config=MockConfig(generation_time=0.05)) as client:
        yield client


def small_grid(client: FluxClient, **kwargs: object) -> PromptGrid:
    options: dict[str, object] = {
        "rows": ("prompt", PROMPTS),
        "columns": ("seed", SEEDS),
        "base": {"megapixels": "0.25", "output_format": "png", "num_outputs": 3},
    }
    options.update(kwargs)
    return PromptGrid(client, **options)  # type: ignore[arg-type]


async def test_two_by_three_grid_makes_six_images_with_each_cells_params(
    client: FluxClient,
) -> None:
    grid = small_grid(client)
    images = await grid.generate()

    assert set(images) == {(p, s) for p in PROMPTS for s in SEEDS}
    assert grid.images == images and not grid.errors
    for (prompt, seed), image in images.items():
        assert image.params == FluxParams(
            prompt=prompt, seed=seed, megapixels="0.25", output_format="png", num_outputs=1
        )
        assert image.seed == seed
    # Every cell's thumbnail reached the widget.
    assert all(picture.value for picture in grid._pictures.values())
    assert "6/6 done" in grid.progress.value


async def test_labels_name_the_axes_and_values(client: FluxClient) -> None:
    grid = PromptGrid(
        client,
        rows=("num_inference_steps", [1, 2, 3, 4]),
        columns=("aspect_ratio", ["1:1", "16:9"]),
        base=FluxParams(prompt="a lighthouse"),
    )
    texts = [child.value for child in grid.grid.children if hasattr(child, "value")]
    # The schema's labels (a field name like num_inference_steps wraps mid-word at 900 px).
    steps, ratio = FIELDS["num_inference_steps"].label, FIELDS["aspect_ratio"].label
    assert steps in texts[0] and ratio in texts[0]
    for value in ("1", "2", "3", "4", "1:1", "16:9"):
        assert any(f">{value}<" in text for text in texts), value
    # Not an axis, no seed given: one shared seed makes the comparison fair.
    assert len({params.seed for params in grid.cells.values()}) == 1
    assert grid.cells[(2, "16:9")].num_inference_steps == 2


async def test_export_is_one_labelled_image_of_the_expected_size(
    client: FluxClient, tmp_path: Path
) -> None:
    grid = small_grid(client)
    assert "image/png" not in grid._repr_mimebundle_()
    await grid.generate()

    exported = grid.to_image(cell_size=100)
    assert exported.width > 3 * 100 and exported.height > 2 * 100
    assert exported.width < 3 * 100 + 400 and exported.height < 2 * 100 + 200
    path = grid.save(tmp_path / "grid")
    with Image.open(path) as saved:
        assert saved.format == "PNG" and saved.size == grid.to_image().size

    bundle = grid._repr_mimebundle_()
    assert bundle["image/png"].startswith(b"\x89PNG")
    assert bundle["text/plain"] == ("<PromptGrid 2x3 prompt x seed: 6/6 images, 0 failed, done>")


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        (("num_inference_steps", [1, 2, 9]), "num_inference_steps"),
        (("aspect_ratio", ["1:1", "5:3"]), "aspect_ratio"),
        (("megapixels", [1]), "megapixels"),
    ],
)
async def test_an_invalid_axis_value_fails_before_any_request(
    rows: tuple[str, list[object]], field: str
) -> None:
    counted: list[object] = []

    class CountingClient:
        def generate_many(self, *args: object, **kwargs: object) -> None:
            counted.append(args)

    with pytest.raises(ValueError, match=field):
        PromptGrid(CountingClient(), rows=rows, columns=("seed", [1]), base={"prompt": "x"})  # type: ignore[arg-type]
    assert counted == []


def test_bad_axes_are_refused_with_the_reason() -> None:
    client: FluxClient = None  # type: ignore[assignment]
    with pytest.raises(ValueError, match="not a parameter"):
        PromptGrid(client, rows=("steps", [1]), columns=("seed", [1]), base={"prompt": "x"})
    with pytest.raises(ValueError, match="both vary seed"):
        PromptGrid(client, rows=("seed", [1]), columns=("seed", [2]), base={"prompt": "x"})
    with pytest.raises(ValueError, match="prompt is required"):
        PromptGrid(client, rows=("seed", [1]), columns=("num_inference_steps", [2]))
    with pytest.raises(ValueError, match="repeat"):
        PromptGrid(client, rows=("seed", [1, 1]), columns=("prompt", ["a"]))


async def test_a_failing_cell_shows_its_error_in_place(client: FluxClient) -> None:
    # A client whose second cell fails the way the provider's safety checker fails it.
    from flux_widgets.client import BatchResult
    from flux_widgets.errors import ContentFilteredError

    class HalfFailing:
        async def generate_many(
            self, items: list[FluxParams], **options: object
        ) -> AsyncIterator[BatchResult]:
            async for result in client.generate_many(items[:1], **options):  # type: ignore[arg-type]
                yield result
            yield BatchResult(1, items[1], error=ContentFilteredError("NSFW content detected"))

    grid = PromptGrid(
        HalfFailing(),  # type: ignore[arg-type]
        rows=("prompt", ["ok", "bad"]),
        columns=("seed", [5]),
        base={"megapixels": "0.25"},
    )
    await grid.generate()
    assert set(grid.images) == {("ok", 5)}
    assert isinstance(grid.errors[("bad", 5)], ContentFilteredError)
    note = visible_text(grid._notes[("bad", 5)].value)
    assert "NSFW content detected" in note and "ContentFilteredError" not in note
    assert "1 failed" in grid.progress.value
    assert grid.to_image(cell_size=64).size[0] > 64


def _live_models() -> set[str]:
    from ipywidgets.widgets import widget as widget_module

    instances = getattr(widget_module, "_instances", None)
    return set(instances if instances is not None else widget_module.Widget.widgets)


async def test_a_closed_grid_leaves_no_live_widget_models(client: FluxClient) -> None:
    before = _live_models()
    grid = small_grid(client)
    await grid.generate()
    assert len(_live_models() - before) > 6 * 2  # cells, labels, layouts, styles
    grid.close()
    assert _live_models() - before == set()


def test_grid_columns_shrink_to_fit_and_pictures_keep_their_aspect(client: FluxClient) -> None:
    grid = small_grid(client)
    columns = grid.grid.layout.grid_template_columns
    assert columns == "fit-content(160px) repeat(3, minmax(0, 192px))"
    picture = next(iter(grid._pictures.values()))
    assert (picture.layout.width, picture.layout.max_width) == ("auto", "100%")
    assert picture.layout.height == "auto"


async def test_axis_headings_use_the_schema_labels_and_column_values_are_centred(
    client: FluxClient,
) -> None:
    from flux_widgets.widgets.grid import axis_heading

    assert axis_heading("num_inference_steps") == FIELDS["num_inference_steps"].label
    assert "_" not in axis_heading("num_inference_steps")
    assert axis_heading("prompt parts") == "prompt parts"
    grid = PromptGrid(
        client,
        rows=("seed", [1, 2]),
        columns=("num_inference_steps", [1, 2]),
        base=FluxParams(prompt="a fox"),
    )
    corner, first_column = grid._grid_children(None)[:2]
    assert "num_inference_steps" not in corner.value
    assert FIELDS["num_inference_steps"].label in corner.value
    assert "text-align:center" in first_column.value


@pytest.fixture
async def polling_client() -> AsyncIterator[FluxClient]:
    """A client that polls (no sync wait): no held create request left open when cancelled."""
    from flux_widgets.mock.server import shared_server

    client = FluxClient.mock(
        config=MockConfig(generation_time=0.05, sync_wait_cometapi=True),
        timeout=30,
        sync_wait=False,
    )
    yield client
    await client.aclose()
    server = client._mock_server
    if server is not None and server is not shared_server():
        server.stop()


async def test_grid_uses_one_random_seed_range_and_says_cancelled(
    polling_client: FluxClient,
) -> None:
    client = polling_client  # no held create request left open at the server when cancelled
    from flux_widgets.mock import predictions
    from flux_widgets.params import RANDOM_SEED_RANGE, random_seed
    from flux_widgets.widgets import controls as controls_module
    from flux_widgets.widgets.grid import PromptGrid

    assert predictions.random_seed is random_seed  # the mock draws from the same function
    assert controls_module.random_seed is random_seed
    low, high = RANDOM_SEED_RANGE
    grid = PromptGrid(client, rows=("prompt", ["a"]), columns=("num_inference_steps", [1, 2]))
    assert low <= grid.base["seed"] <= high
    assert all(low <= random_seed() <= high for _ in range(200))

    stuck = PromptGrid(
        client,
        rows=("prompt", ["[mock:stuck] a"]),
        columns=("num_inference_steps", [1, 2]),
    )
    stuck.generate_button.click()
    await asyncio.sleep(0.2)
    stuck.cancel()
    await stuck.wait()
    assert "cancelled" in stuck.progress.value
    assert "canceled" not in stuck.progress.value


async def test_every_cell_is_kept_in_the_history_once_unless_history_false(
    tmp_path: Path,
) -> None:
    mine = History(tmp_path / "mine")
    config = MockConfig(generation_time=0.02, sync_wait_cometapi=True)
    async with FluxClient.mock(config=config, history=mine) as client:
        made = await small_grid(client).generate()
        await small_grid(client, history=False).generate()
        there = await small_grid(
            client, rows=("prompt", ["there"]), history=History(tmp_path / "there")
        ).generate()
        compared = small_grid(
            client,
            rows=("provider", ["cometapi", "fal"]),
            base={"prompt": "a provider's boat", "megapixels": "0.25"},
        )
        made |= {("compared", *cell): image for cell, image in (await compared.generate()).items()}
    assert sorted((i.prediction_id, i.index) for i in mine.load()) == sorted(
        (i.prediction_id, i.index) for i in made.values()
    )
    assert len(mine) == 6 + 6  # each cell once; nothing of the history=False grid
    assert [i.params.prompt for i in History(tmp_path / "there").load()] == ["there"] * 3
    assert len(there) == 3
    assert list((tmp_path / "mine" / ".jobs").glob("*.json")) == []


def test_a_grid_refuses_a_history_that_is_not_one_at_once(client: FluxClient) -> None:
    with pytest.raises(TypeError, match="history must be True"):
        small_grid(client, history="my-history")
