"""Row 11: what one mock image costs to render, per size and per look (steps, go_fast).

The mock renders every output file once (then serves it from its cache), in a worker thread:
that CPU is the fake GPU's. The teaching images (a landscape per seed, coarse and noisy at 1
step) must stay about as cheap as the bare minimum any placeholder pays, which is the baseline
measured in the same run: encoding a plain gradient of the same size the same way (WebP).

    python -m benchmarks.bench_render [--quick]
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable

from PIL import Image

from flux_widgets.mock.render import RenderSpec, render
from flux_widgets.params import pixel_size

from .stats import Row, format_table, machine, median, ms, ratio

PROMPT = "a red bicycle leaning on a blue wall"
# Labels, scene and (at 1 step) noise on top of the encoding: at most this many times its cost.
# On an idle core that is "a few ms at 0.25 MP, tens of ms at 1 MP"; on a busy shared machine
# the absolute times say little, the ratio to the same run's baseline still does.
MAX_RATIO = 3.0


def timed(works: dict[str, Callable[[int], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each ``work(i)`` over ``repeats`` runs (after one warm-up run each),
    interleaved so that a busy moment of a shared machine hits them all alike."""
    samples: dict[str, list[float]] = {name: [] for name in works}
    for work in works.values():
        work(0)
    for i in range(1, repeats + 1):
        for name, work in works.items():
            began = time.perf_counter()
            work(i)
            samples[name].append(time.perf_counter() - began)
    return {name: median(values) for name, values in samples.items()}


def encode_only(width: int, height: int) -> Callable[[int], object]:
    def work(i: int) -> bytes:
        image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        out = io.BytesIO()
        image.save(out, "WEBP", quality=80, method=0)
        return out.getvalue()

    return work


def rendering(width: int, height: int, steps: int, variation: int) -> Callable[[int], object]:
    def work(i: int) -> bytes:
        spec = RenderSpec(PROMPT, i, 0, "webp", 80, width, height, steps, variation * i)
        return render(spec)

    return work


def main(quick: bool) -> str:
    repeats = 3 if quick else 15
    rows = []
    for megapixels in ("0.25", "1"):
        width, height = pixel_size("1:1", megapixels)
        looks = {"4 steps": (4, 0), "1 step": (1, 0), "4 steps, go_fast": (4, 1)}
        works = {"encode only": encode_only(width, height)}
        works.update({label: rendering(width, height, *look) for label, look in looks.items()})
        medians = timed(works, repeats)
        baseline = medians["encode only"]
        for label in looks:
            seconds = medians[label]
            rows.append(
                Row(
                    "11" if not rows else "",
                    f"mock render, {width}x{height} webp, {label}",
                    ms(seconds),
                    f"{ms(baseline)} encode only",
                    ratio(seconds, baseline),
                    f"<= {MAX_RATIO:.1f}x",
                    seconds <= MAX_RATIO * baseline,
                )
            )
    notes = [
        f"median of {repeats} renders of different seeds, one thread, the variants interleaved; "
        "the baseline encodes a plain gradient of the same size with the same WebP settings",
        machine(),
    ]
    return format_table("Mock image rendering", rows, notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few renders (a smoke test)")
    print(main(parser.parse_args().quick), flush=True)
