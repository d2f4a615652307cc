"""The mock's images change along each parameter the way real FLUX.1 [schnell] output does,
so the teaching grid (steps x seeds) and a go_fast lesson show on the mock what they show for
real: fewer steps look coarse and noisy, seeds recompose, go_fast varies slightly."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops, ImageStat

from flux_widgets.mock import MockConfig, MockServer
from flux_widgets.mock.render import Renderer, RenderSpec, render
from flux_widgets.params import pixel_size

COMET = "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"
PROMPT = "a red bicycle leaning on a blue wall"
SEEDS = (1, 2, 3)


def rendered(seed: int = 1, *, ratio: str = "1:1", megapixels: str = "0.25", **spec: Any) -> Any:
    width, height = pixel_size(ratio, megapixels)
    data = render(RenderSpec(PROMPT, seed, 0, "png", 80, width, height, **spec))
    return Image.open(io.BytesIO(data)).convert("RGB")


def grey(image: Image.Image) -> Image.Image:
    return image.convert("L")


def mean_abs_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0-255."""
    channels = ImageStat.Stat(ImageChops.difference(a, b)).mean
    return sum(channels) / len(channels)


def high_frequency(image: Image.Image) -> float:
    """Mean absolute difference between horizontal neighbours (grey): grain and fine detail."""
    image = grey(image)
    neighbours = ImageChops.difference(image, ImageChops.offset(image, 1, 0))
    return float(ImageStat.Stat(neighbours).mean[0])


@pytest.mark.parametrize("seed", SEEDS)
def test_fewer_steps_look_coarser_and_noisier_the_same_picture(seed: int) -> None:
    images = {steps: rendered(seed, steps=steps) for steps in (1, 2, 3, 4)}
    distance = {steps: mean_abs_difference(images[steps], images[4]) for steps in (1, 2, 3)}
    grain = {steps: high_frequency(images[steps]) for steps in (1, 2, 3, 4)}

    # Each step closer to the finished image, one step far from it (measured ~18-21 of 255).
    assert distance[1] > distance[2] > distance[3] > 0
    assert distance[1] > 12
    # One step is grainy (noise left in), four are clean (measured ~10 vs ~3.5).
    assert grain[1] > grain[2] > grain[3] > grain[4]
    assert grain[1] > 2 * grain[4]
    # Yet it is the same composition: at 1/16 scale the two are close (unlike two seeds).
    coarse = {steps: images[steps].reduce(16) for steps in (1, 4)}
    other_seed = rendered(seed + 100).reduce(16)
    same_picture = mean_abs_difference(coarse[1], coarse[4])
    assert same_picture < mean_abs_difference(coarse[4], other_seed) / 2


@pytest.mark.parametrize("seed", SEEDS)
def test_another_seed_is_another_composition(seed: int) -> None:
    assert mean_abs_difference(rendered(seed), rendered(seed + 1)) > 20  # measured 27-60


def test_go_fast_varies_slightly_and_go_fast_off_repeats_exactly() -> None:
    exact = rendered(1)
    assert rendered(1).tobytes() == exact.tobytes()
    variants = [rendered(1, variation=v) for v in (3, 5, 11)]

    for variant in variants:
        assert variant.tobytes() != exact.tobytes()
        # Close: a few levels (measured ~4), far below another seed (> 20).
        assert 0.5 < mean_abs_difference(variant, exact) < 10
    assert variants[0].tobytes() != variants[1].tobytes()


@pytest.mark.parametrize(("ratio", "megapixels"), [("16:9", "1"), ("9:16", "1"), ("1:1", "0.25")])
def test_size_is_the_real_pixel_size_with_a_layout_of_its_own(ratio: str, megapixels: str) -> None:
    image = rendered(4, ratio=ratio, megapixels=megapixels)
    assert image.size == pixel_size(ratio, megapixels)
    # Composed for its frame, not a square picture stretched to it.
    square = rendered(4, ratio="1:1", megapixels=megapixels).resize(image.size)
    if ratio != "1:1":
        assert mean_abs_difference(image, square) > 10


@pytest.mark.parametrize("steps", [1, 4])
def test_every_image_keeps_the_mock_label(steps: int) -> None:
    image = rendered(2, steps=steps, megapixels="1")
    width, height = image.size
    # The title, "MOCK · placeholder", is white text with a black outline across the middle;
    # the scene (and a step's noise) never has pure white next to pure black.
    band = grey(image).crop((0, height // 4, width, 3 * height // 4))
    histogram = band.histogram()
    assert histogram[255] > 500 and histogram[0] > 500


def test_steps_outside_what_the_model_takes_are_refused() -> None:
    with pytest.raises(ValueError, match="steps must be one of"):
        RenderSpec(PROMPT, 1, 0, "png", 80, 64, 64, steps=5)


# -- through the API: the request's parameters reach the renderer ----------------------------


@pytest.fixture
def http(module_server: MockServer) -> Iterator[httpx.Client]:
    module_server.state.reset(MockConfig(generation_time=0))
    with httpx.Client(base_url=module_server.url, timeout=10) as client:
        yield client


def fetch(http: httpx.Client, **input: Any) -> Image.Image:
    body = {"prompt": PROMPT, "megapixels": "0.25", "output_format": "png", **input}
    response = http.post(COMET, json={"input": body})
    assert response.status_code == 201, response.text
    data = http.get(response.json()["output"][0]).content
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_the_api_renders_the_steps_asked_for(http: httpx.Client) -> None:
    one, four = (fetch(http, seed=7, num_inference_steps=n, go_fast=False) for n in (1, 4))
    assert one.tobytes() == rendered(7, steps=1).tobytes()
    assert four.tobytes() == rendered(7, steps=4).tobytes()


def test_the_api_repeats_a_seed_exactly_only_with_go_fast_off(http: httpx.Client) -> None:
    off = [fetch(http, seed=9, go_fast=False) for _ in range(2)]
    on = [fetch(http, seed=9, go_fast=True) for _ in range(2)]

    assert off[0].tobytes() == off[1].tobytes()
    assert on[0].tobytes() != on[1].tobytes()
    assert mean_abs_difference(on[0], on[1]) < 10 < mean_abs_difference(on[0], fetch(http, seed=10))


def test_one_go_fast_prediction_gives_the_same_file_on_every_download(
    http: httpx.Client,
) -> None:
    response = http.post(COMET, json={"input": {"prompt": PROMPT, "seed": 3, "go_fast": True}})
    url = response.json()["output"][0]
    assert http.get(url).content == http.get(url).content


# --- the renderer's speed and cache -------------------------------------------------------


def test_render_is_deterministic_and_fast_enough_for_load_tests() -> None:
    spec = RenderSpec("a lighthouse", 7, 0, "webp", 80, 1024, 1024)
    assert render(spec) == render(spec)
    timings = []
    for seed in range(3):
        started = time.perf_counter()
        render(RenderSpec("a lighthouse", seed, 0, "webp", 80, 1024, 1024))
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[1] < 0.25  # measured ~25 ms; generous for slow CI machines


def test_renderer_shares_renders_in_flight_and_bounds_its_cache() -> None:
    renderer = Renderer(max_bytes=30_000, max_workers=2)
    spec = RenderSpec("x", 1, 0, "jpg", 80, 512, 512)
    assert renderer.submit(spec) is renderer.submit(spec) or renderer.cached(spec) is not None
    data = renderer.submit(spec).result(timeout=10)
    assert renderer.cached(spec) == data
    assert renderer.submit(spec).result() == data
    for seed in range(2, 6):
        renderer.submit(RenderSpec("x", seed, 0, "jpg", 80, 512, 512)).result(timeout=10)
    assert renderer.cached(spec) is None, "the oldest file must be evicted past max_bytes"


def test_png_quality_does_not_split_the_cache() -> None:
    assert RenderSpec("x", 1, 0, "png", 5, 64, 64) == RenderSpec("x", 1, 0, "png", 90, 64, 64)
