"""PromptGrid's provider axis: the same recipe on every registered provider, side by side.

The registry (``PROVIDERS``) is the only list used here: a provider added to it is compared with
no edit. Two kinds of servers answer: the in-package mock (every provider's routes), and small
fakes written from docs/protocol.md's text (CometAPI's predictions; a made-up family registered
for one test), so a bug shared by a provider and the mock cannot hide.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from flux_widgets import FluxClient
from flux_widgets.errors import MissingAPIKeyError
from flux_widgets.mock import MockConfig
from flux_widgets.params import FluxParams, pixel_size
from flux_widgets.providers import PROVIDERS, FieldMap, Job, Output, Provider, Request
from flux_widgets.providers.base import json_object
from flux_widgets.providers.pricing import Price
from flux_widgets.spending.prices import dollars
from flux_widgets.widgets.grid import PromptGrid

NAMES = list(PROVIDERS)
KEY = "sk-test-compare-0123456789"
COMET = "https://api.cometapi.com"
FILES = "https://replicate.delivery"


@pytest.fixture
async def client() -> AsyncIterator[FluxClient]:
    async with FluxClient.mock(config=MockConfig(generation_time=0.02)) as client:
        yield client


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No provider's key, no mock and no base URL from the environment."""
    for provider in PROVIDERS.values():
        for name in provider.key_env_vars:
            monkeypatch.delenv(name, raising=False)
    for name in ("FLUX_BASE_URL", "FLUX_WIDGETS_MOCK", "FLUX_PROVIDER", "FLUX_PRICES"):
        monkeypatch.delenv(name, raising=False)
    yield


def widget_states() -> Iterator[str]:
    """Every live widget's synced state, as text (bytes as latin-1)."""
    from ipywidgets.widgets import widget as widget_module

    instances = getattr(widget_module, "_instances", None) or widget_module.Widget.widgets
    assert instances, "no live widgets: the check would pass vacuously"
    for widget in list(instances.values()):
        for value in widget.get_state().values():
            if isinstance(value, bytes | memoryview):
                yield bytes(value).decode("latin-1")
            else:
                yield json.dumps(value, default=repr)


def webp_allowed(name: str) -> bool:
    return "webp" in PROVIDERS[name].capabilities.allowed_choices("output_format")


def encoded(size: tuple[int, int], fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 90, 150)).save(out, fmt)
    return out.getvalue()


async def test_provider_columns_run_the_same_recipe_on_every_registered_provider(
    client: FluxClient,
) -> None:
    grid = PromptGrid(
        client,
        rows=("seed", [3, 4]),
        columns=("provider", NAMES),
        base={"prompt": "a paper boat", "megapixels": "0.25", "output_format": "webp"},
    )
    images = await grid.generate()

    assert set(images) == {(seed, name) for seed in (3, 4) for name in NAMES}
    assert not grid.errors and "done" in grid.progress.value
    for (seed, name), image in images.items():
        params = grid.cells[(seed, name)]
        assert PROVIDERS[name].capabilities.problems(params, name) == []
        assert image.seed == seed and image.params.prompt == "a paper boat"
        note = grid._notes[(seed, name)].value
        assert f"seed {seed}" in note
        assert re.search(r"\d+\.\d s", note), note  # its latency, in seconds
        cost = grid.cell_cost((seed, name))
        assert ("price unknown" if cost is None else dollars(cost)) in note
        # What the provider cannot honour comes from its field map, not from a list here.
        if webp_allowed(name):
            assert params.output_format == "webp" and "not webp" not in note
        else:
            assert params.output_format != "webp" and image.format != "webp"
            assert f"format {params.output_format}, not webp" in note


async def test_the_grids_derived_clients_use_each_providers_own_routes(
    client: FluxClient,
) -> None:
    grid = PromptGrid(
        client, rows=("seed", [5]), columns=("provider", NAMES), base={"prompt": "a kite"}
    )
    for name in NAMES:
        made = grid.providers.clients[name]
        assert made.provider == name and made.is_mock
    assert grid.providers.clients[client.provider] is client  # its own provider: itself
    await grid.generate()
    # The clients the grid made are closed after the run; the grid's own client is not.
    assert all(
        made.is_closed for name, made in grid.providers.clients.items() if made is not client
    )
    assert not client.is_closed


@pytest.mark.parametrize("axis", ["rows", "pages"])
async def test_provider_works_as_a_rows_axis_or_a_pages_axis(
    client: FluxClient, axis: str, tmp_path: Path
) -> None:
    names = NAMES[:3]
    axes: dict[str, Any] = {
        "rows": ("seed", [1]),
        "columns": ("num_inference_steps", [1, 2]),
        axis: ("provider", names),
    }
    grid = PromptGrid(client, base={"prompt": "a lighthouse", "megapixels": "0.25"}, **axes)
    await grid.generate()

    assert len(grid.images) == len(grid.cells) == len(names) * 2
    for cell, image in grid.images.items():
        name = grid.plan.providers[cell]
        assert name in cell and image.params.num_inference_steps in (1, 2)
    if axis == "pages":
        assert [grid.grid.get_title(i) for i in range(len(names))] == [
            f"provider = {name}" for name in names
        ]
        paths = grid.save_sheets(tmp_path / "compare.png")
        assert [path.name for path in paths] == [
            f"compare-{number}-{name}.png" for number, name in enumerate(names, start=1)
        ]
        assert grid.plan.sheet_title(names[1]).endswith(f"page: provider = {names[1]}")
    else:
        texts = [child.value for child in grid.sheets[None].children if hasattr(child, "value")]
        for name in names:
            assert any(f">{name}<" in text for text in texts), name


async def test_a_provider_without_a_key_says_so_and_the_other_cells_still_run(
    no_keys: None,
) -> None:
    sent: list[httpx.Request] = []

    def comet(request: httpx.Request) -> httpx.Response:
        """CometAPI as docs/protocol.md describes it: a prediction, its output on a file host."""
        sent.append(request)
        if request.url.host == "replicate.delivery":
            return httpx.Response(200, content=encoded((512, 512), "WEBP"))
        path = "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"
        assert request.method == "POST" and request.url.path == path
        body = json.loads(request.content)["input"]
        prediction = {
            "id": f"p{body['seed']}",
            "status": "succeeded",
            "input": body,
            "logs": f"Using seed: {body['seed']}\n",
            "output": [f"{FILES}/x/p{body['seed']}.webp"],
            "metrics": {"predict_time": 0.5},
        }
        return httpx.Response(201, json=prediction)

    base = FluxClient(
        api_key=KEY,
        provider="cometapi",
        transport=httpx.MockTransport(comet),
        prices={"cometapi": Price(per_image=0.004, source="test")},
    )
    others = [name for name in NAMES if name != "cometapi"]
    grid = PromptGrid(
        base,
        rows=("seed", [11, 12]),
        columns=("provider", ["cometapi", *others]),
        base={"prompt": "a paper crane", "output_format": "webp"},
    )
    assert set(grid.providers.missing) == set(others)
    for name in others:
        keys = " or ".join(PROVIDERS[name].key_env_vars)
        assert f"no key for {name}: set {keys}" in grid._notes[(11, name)].value
    assert grid.summary().startswith("4 images".replace("4", str(2 * len(NAMES))))
    assert "about $0.0080 on cometapi" in grid.summary()
    assert f"no key for {', '.join(others)}" in grid.summary()

    await grid.generate()
    await base.aclose()

    assert grid.done and set(grid.images) == {(11, "cometapi"), (12, "cometapi")}
    for seed in (11, 12):
        for name in others:
            assert isinstance(grid.errors[(seed, name)], MissingAPIKeyError)
            assert "no key for" in grid._notes[(seed, name)].value
        # The fake answered 512 px for a 1024 px request: the caption says the size differs.
        note = grid._notes[(seed, "cometapi")].value
        assert "size 512x512, not 1024x1024" in note and "$0.0040" in note
    assert f"{len(grid.cells)}/{len(grid.cells)} done" in grid.progress.value
    # The key went to the API's host only, never to the file host, and no other host was asked.
    assert {r.url.host for r in sent} == {"api.cometapi.com", "replicate.delivery"}
    for request in sent:
        has_key = KEY in request.headers.get("authorization", "")
        assert has_key == (request.url.host == "api.cometapi.com")
    shown = [note.value for note in grid._notes.values()] + [grid.progress.value, repr(grid)]
    assert not any(KEY in text for text in shown)
    assert not any(KEY in state for state in widget_states())  # what the browser would get


class MadeUpImages(Provider):
    """A family that exists only in this test: one POST, a base64 PNG in the answer, and a
    request that carries the prompt alone (so size, format and seed cannot be honoured)."""

    name = "madeup"
    title = "Made-up Images"
    family = "test"
    default_base_url = "https://images.madeup.test"
    key_env_vars = ("MADEUP_KEY",)
    console = "https://images.madeup.test/keys"
    cancel_note = "no cancel"
    field_map = FieldMap(keys={"prompt": "prompt", "num_outputs": "n"})
    price = Price(per_image=0.001, source="test")

    def create_request(
        self, params: FluxParams, base_url: str, *, deadline: float, sync_wait: bool
    ) -> Request:
        return Request("POST", f"{base_url}/generate", json=self.field_map.body(params))

    def read_created(self, response: httpx.Response, params: FluxParams) -> Job:
        body = json_object(response, "an image")
        data = base64.b64decode(body["image"])
        return Job(id=None, status="succeeded", outputs=(Output(data=data),), ready=True)


async def test_a_provider_registered_later_is_compared_with_no_edit(
    no_keys: None, monkeypatch: pytest.MonkeyPatch, client: FluxClient
) -> None:
    monkeypatch.setitem(PROVIDERS, "madeup", MadeUpImages())
    bodies: list[Any] = []

    def madeup(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/replicate/"):  # CometAPI, as docs/protocol.md says
            sent = json.loads(request.content)["input"]
            seed = sent["seed"]
            output = [f"http://127.0.0.1:9/files/out.{sent['output_format']}"]
            prediction = {"id": "c1", "status": "succeeded", "output": output, "input": {}}
            return httpx.Response(201, json={**prediction, "logs": f"Using seed: {seed}"})
        if request.url.path.startswith("/files/"):
            return httpx.Response(200, content=encoded(pixel_size("16:9"), "PNG"))
        bodies.append(json.loads(request.content))
        # The format it was sent (webp, the only one it honours), at a size of its own.
        webp = encoded((256, 256), "WEBP")
        return httpx.Response(200, json={"image": base64.b64encode(webp).decode()})

    # A keyless local server: the grid's clients for other providers stay on it.
    base = FluxClient(
        base_url="http://127.0.0.1:9",
        provider="madeup",
        transport=httpx.MockTransport(madeup),
        # The default price table is read from the registry at import, before this test.
        prices={"madeup": MadeUpImages.price, "cometapi": Price(per_image=0.003, source="t")},
    )
    grid = PromptGrid(
        base,
        rows=("prompt", ["a fox"]),
        columns=("provider", ["madeup", "cometapi"]),
        base={"aspect_ratio": "16:9", "seed": 7, "output_format": "png"},
    )
    assert grid.plan.unhonoured[("a fox", "madeup")] == (
        "aspect_ratio 1:1, not 16:9",
        "seed not sent, not 7",
        "format webp, not png",
    )
    await grid.generate()
    await base.aclose()

    assert bodies == [{"prompt": "a fox", "n": 1}]
    note = grid._notes[("a fox", "madeup")].value
    assert "seed unknown" in note and "$0.0010" in note
    for text in ("aspect_ratio 1:1, not 16:9", "seed not sent, not 7", "format webp, not png"):
        assert text in note
    assert "size 256x256, not 1024x1024" in note  # what the image is, against what was sent
    # Beside it, CometAPI honours the whole recipe: nothing to note.
    comet = grid.images[("a fox", "cometapi")]
    assert (comet.seed, comet.format, comet.width) == (7, "png", pixel_size("16:9")[0])
    assert "flux-warning" not in grid._notes[("a fox", "cometapi")].value


def test_a_provider_axis_refuses_unknown_repeated_or_non_text_names(client: FluxClient) -> None:
    base = {"prompt": "a boat"}
    with pytest.raises(ValueError, match=r"provider must be one of .*'cometapi'"):
        PromptGrid(client, rows=("seed", [1]), columns=("provider", ["nope"]), base=base)
    with pytest.raises(ValueError, match="provider values repeat"):
        PromptGrid(client, rows=("seed", [1]), columns=("provider", ["fal", "FAL"]), base=base)
    with pytest.raises(ValueError, match="provider names are strings"):
        PromptGrid(client, rows=("seed", [1]), columns=("provider", [3]), base=base)
    with pytest.raises(ValueError, match="non-empty list"):
        PromptGrid(client, rows=("seed", [1]), columns=("provider", "fal"), base=base)
    with pytest.raises(ValueError, match="both vary provider"):
        PromptGrid(client, rows=("provider", ["fal"]), columns=("provider", ["cometapi"]))


async def test_export_labels_each_sheet_and_column_with_its_provider(
    client: FluxClient,
) -> None:
    grid = PromptGrid(
        client,
        rows=("seed", [1]),
        columns=("provider", NAMES[:2]),
        base={"prompt": "a boat", "megapixels": "0.25"},
    )
    await grid.generate()
    sheet = grid.to_image(cell_size=64)
    assert sheet.width >= 2 * 64 and grid.plan.columns.labels == tuple(NAMES[:2])
    assert grid.plan.sheet_title(None) == "rows: seed   columns: provider"


def test_an_exported_cell_without_a_key_says_which_variable_to_set(no_keys: None) -> None:
    from flux_widgets.widgets import _grid_export

    grid = PromptGrid(
        FluxClient(api_key=KEY, provider="cometapi", transport=httpx.MockTransport(lambda r: 0)),
        rows=("seed", [1]),
        columns=("provider", ["fal"]),
        base={"prompt": "a boat"},
    )
    error = grid.providers.missing["fal"]
    assert _grid_export._empty_note(error) == "no key for fal: set FAL_KEY"
    assert _grid_export._empty_note(None) == "not generated"
    grid.errors[(1, "fal")] = error
    plain = grid.to_image(cell_size=128)
    grid.errors.clear()
    blank = grid.to_image(cell_size=128)
    assert plain.size == blank.size and plain.tobytes() != blank.tobytes()


async def test_a_provider_whose_settings_are_refused_says_why_and_the_others_run(
    client: FluxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused, kept = NAMES[1], NAMES[0]
    with_provider = client.with_provider

    def picky(name: str) -> FluxClient:
        if name == refused:  # e.g. a provider that needs a second variable it did not find
            raise ValueError(f"{name} needs ACCOUNT_ID as well")
        return with_provider(name)

    monkeypatch.setattr(client, "with_provider", picky)
    grid = PromptGrid(
        client,
        rows=("seed", [1]),
        columns=("provider", [kept, refused]),
        base={"prompt": "a boat", "megapixels": "0.25"},
    )
    assert f"cannot use {refused}" in grid.summary() and "no key" not in grid.summary()
    await grid.generate()
    assert set(grid.images) == {(1, kept)}
    assert f"{refused} cannot be used here: {refused} needs ACCOUNT_ID" in str(
        grid.errors[(1, refused)]
    )
    assert "needs ACCOUNT_ID" in grid._notes[(1, refused)].value
