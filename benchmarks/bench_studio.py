"""Rows 6-8: the studio's memory, what it sends to the browser, and the kernel's responsiveness.

``PromptStudio`` runs in ipywidgets' comm-less mode (no front end: what a widget would send is
read from its state), with a ``FluxClient`` pointed at the mock in its own process and a
temporary history folder. The mock runs apart from the studio for the same reason as in the
other benchmarks, and because an in-process mock keeps a cache of rendered images that would
count in the studio's RSS.

- row 6: RSS growth per image while 300 images pile up in one studio's history and gallery,
  against the images' encoded size (what must be kept at the least);
- row 7: bytes the browser receives per gallery image (the states and binary buffers of every
  widget of its tile) against the full encoded image;
- row 8: the worst event-loop lag (a ticker measuring how late its sleeps wake) during a batch
  of 32 images, thumbnails and history writes included, against the same ticker on an idle loop.

    python -m benchmarks.bench_studio [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import tempfile
import time
from typing import Any

from flux_widgets import FluxClient

from .mockproc import MockProcess
from .stats import Row, format_table, machine, ms, percentile

KEY = "sk-benchmark"
PROMPT = "a paper boat on calm water at sunrise, watercolor"
TICK = 0.005


def rss_bytes() -> int:
    """This process's resident set size (Linux /proc)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def malloc_trim() -> bool:
    """Hand freed heap pages back to the OS (glibc), to tell retention from real growth."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        return bool(ctypes.CDLL(name).malloc_trim(0))
    except (OSError, AttributeError):
        return False


def widget_tree(widget: Any) -> list[Any]:
    """The widget and every widget reachable from its traits (children, layout, style)."""
    from ipywidgets import Widget

    found: dict[str, Any] = {}
    stack = [widget]
    while stack:
        current = stack.pop()
        if current.model_id in found:
            continue
        found[current.model_id] = current
        for name in current.keys:
            value = getattr(current, name)
            values = value if isinstance(value, list | tuple) else (value,)
            stack += [v for v in values if isinstance(v, Widget)]
    return list(found.values())


def state_bytes(widget: Any) -> int:
    """What the front end receives to show one widget: its JSON state plus binary buffers."""
    from ipywidgets.widgets.widget import _remove_buffers

    state, _paths, buffers = _remove_buffers(widget.get_state())
    return len(json.dumps(state, separators=(",", ":")).encode()) + sum(
        memoryview(b).nbytes for b in buffers
    )


def tree_bytes(widget: Any) -> int:
    return sum(state_bytes(w) for w in widget_tree(widget))


async def lag_during(work: Any) -> list[float]:
    """How late each ``TICK`` sleep woke up while ``work`` (an awaitable) ran."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            began = time.perf_counter()
            await asyncio.sleep(TICK)
            lags.append(time.perf_counter() - began - TICK)

    task = asyncio.create_task(ticker())
    try:
        await work
    finally:
        done.set()
        await task
    return lags


def make_studio(mock: MockProcess, history_dir: str, concurrency: int) -> Any:
    from flux_widgets.widgets import PromptStudio

    client = FluxClient(
        api_key=KEY, base_url=mock.url, provider="cometapi", max_concurrency=concurrency
    )
    studio = PromptStudio(client=client, history_dir=history_dir)
    studio.prompt = PROMPT
    return studio


async def run_batch(studio: Any, generations: int, num_outputs: int) -> None:
    tasks = [studio.start(num_outputs=num_outputs) for _ in range(generations)]
    await asyncio.gather(*tasks)
    await studio.wait()


async def batch_rows(quick: bool) -> tuple[list[Row], list[str]]:
    generation_time = 0.05 if quick else 0.8
    images = 8 if quick else 32
    with MockProcess(generation_time=generation_time) as mock, tempfile.TemporaryDirectory() as tmp:
        idle = await lag_during(asyncio.sleep(1.0 if quick else 3.0))
        studio = make_studio(mock, tmp, concurrency=8)
        await run_batch(studio, 1, 1)  # warm: imports, worker threads, connections
        lags = await lag_during(run_batch(studio, images, 1))
        tiles = studio.gallery.tiles[:images]
        sent = [tree_bytes(tile) for tile in tiles]
        full = [len(tile.image.data) for tile in tiles]
        image_only = [state_bytes(tile.thumbnail) for tile in tiles]
        await studio.client.aclose()
    per_image, per_full = sum(sent) / len(sent), sum(full) / len(full)
    thumbnail = sum(image_only) / len(image_only)
    rows = [
        Row(
            "7",
            "bytes to the browser per gallery image (whole tile)",
            f"{per_image / 1024:.1f} KiB (Image widget {thumbnail / 1024:.1f})",
            f"full image {per_full / 1024:.1f} KiB",
            f"1/{per_full / per_image:.1f}",
            "<= 1/5",
            per_image * 5 <= per_full,
        ),
        Row(
            "8",
            f"worst event-loop lag, batch of {images} images (p99)",
            f"{ms(max(lags))} ({ms(percentile(lags, 99))})",
            f"idle loop {ms(max(idle))} ({ms(percentile(idle, 99))})",
            "-",
            "<= 20 ms",
            max(lags) <= 0.020,
        ),
    ]
    notes = [
        "row 7: JSON state + binary buffers of every widget of a tile (Image, seed label, open "
        "button, boxes, layouts, styles) as ipywidgets would send them; the full image is sent "
        "only when opened in the viewer",
        f"row 8: a ticker sleeping {ms(TICK)} in a loop; lag = how late it woke; concurrency 8, "
        f"generation time {generation_time} s",
    ]
    return rows, notes


async def memory_row(quick: bool) -> tuple[list[Row], list[str]]:
    generations, num_outputs = (5, 4) if quick else (75, 4)
    count = generations * num_outputs
    with MockProcess(generation_time=0.05) as mock, tempfile.TemporaryDirectory() as tmp:
        studio = make_studio(mock, tmp, concurrency=8)
        await run_batch(studio, 2, num_outputs)  # warm: first-use allocations are not growth
        gc.collect()
        before = rss_bytes()
        await run_batch(studio, generations, num_outputs)
        gc.collect()
        after = rss_bytes()
        malloc_trim()
        trimmed = rss_bytes()
        kept = studio.images[-count:]
        encoded = sum(len(image.data) for image in kept) / count
        assert len(studio.images) == count + 2 * num_outputs
        await studio.client.aclose()
    growth = (after - before) / count
    row = Row(
        "6",
        f"RSS growth per image, {count} images kept in a studio",
        f"{growth / 1024:.1f} KiB ({(trimmed - before) / count / 1024:.1f} after malloc_trim)",
        f"encoded size {encoded / 1024:.1f} KiB",
        f"{growth / encoded:.2f}x",
        "<= 1.5x",
        growth <= 1.5 * encoded,
    )
    note = (
        "row 6: (RSS after - RSS before) / images, gc.collect() before each reading; kept per "
        "image: the encoded bytes, the thumbnail in its tile's widgets, the metadata; in "
        "brackets, the same after glibc's malloc_trim(0) (memory freed but kept by the "
        "allocator, e.g. in worker threads' arenas after decoding 1 MP images for thumbnails)"
    )
    return [row], [note]


async def main(quick: bool) -> str:
    # The batch first: 300 images' widgets left behind would slow its garbage collections.
    batch, batch_notes = await batch_rows(quick)
    memory, memory_notes = await memory_row(quick)
    notes = [*memory_notes, *batch_notes, "mock in a subprocess; comm-less ipywidgets", machine()]
    return format_table(
        "Studio: memory, browser bytes, responsiveness (rows 6-8)", memory + batch, notes
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description="Rows 6-8: the studio.")
    parser.add_argument("--quick", action="store_true", help="a few images, 0.05 s generations")
    args = parser.parse_args()
    print(asyncio.run(main(args.quick)), flush=True)


if __name__ == "__main__":
    cli()
