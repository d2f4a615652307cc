"""A gallery's and a grid's images exported as a page and as a zip that a history re-opens."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from factories import make_image

from flux_widgets import FluxClient, History, read_recipe
from flux_widgets.errors import ContentFilteredError
from flux_widgets.widgets.gallery import Gallery
from flux_widgets.widgets.grid import PromptGrid


@pytest.fixture
async def client() -> AsyncIterator[FluxClient]:
    async with FluxClient.mock() as client:
        yield client


def test_a_gallerys_images_export_as_a_page_and_as_a_zip_a_history_reopens(
    tmp_path: Path,
) -> None:
    history = History(tmp_path / "h")
    stored = history.store(make_image(1, fmt="png"))
    loose = make_image(2, fmt="webp")
    gallery = Gallery()
    gallery.load_now([stored, loose])
    page = gallery.export_html(tmp_path / "gallery.html", title="Tuesday's <boats>")
    assert page.count == 2
    text = page.path.read_text()
    assert text.count('<article class="card"') == 2
    assert "<title>Tuesday&#x27;s &lt;boats&gt;</title>" in text
    report = gallery.export_zip(tmp_path / "gallery.zip")
    other = History(tmp_path / "other")
    imported = other.import_(report.path).imported
    assert len(imported) == 2
    # The stored image leaves as its history entry, byte for byte.
    assert other.open(imported[0]).data == history.open(stored.stem).data
    assert read_recipe(other.open(imported[1]).data).seed == loose.seed
    gallery.close()


async def test_a_grid_exports_its_layout_and_why_a_cell_is_empty(
    client: FluxClient, tmp_path: Path
) -> None:
    grid = PromptGrid(
        client,
        rows=("num_inference_steps", [1, 2]),
        columns=("seed", [7, 8]),
        base={"prompt": "a lighthouse", "output_format": "png"},
    )
    made = {}
    for n, (key, params) in enumerate(grid.cells.items()):
        if key != (2, 8):
            image = make_image(n, fmt="png", prediction_id=f"cell{n}")
            made[key] = dataclasses.replace(image, params=params, seed=params.seed)
    grid.images = made
    grid.errors = {(2, 8): ContentFilteredError("the safety checker refused it")}
    page = grid.export_html(tmp_path / "grid.html").path.read_text()
    assert page.count('<article class="card"') == 3
    assert page.count('<section class="grid">') == 1
    header = re.search(r"<thead>(.*?)</thead>", page)
    assert header is not None and "<th>7</th><th>8</th>" in header.group(1)
    assert "failed: the safety checker refused it" in page
    assert len(re.findall(r'<td><a href="#e-[^"]+"><img src="data:image/webp', page)) == 3
    report = grid.export_zip(tmp_path / "grid.zip")
    other = History(tmp_path / "other")
    assert len(other.import_(report.path).imported) == 3
    assert sorted(r.params["num_inference_steps"] for r in other.page()) == [1, 1, 2]
    grid.close()
