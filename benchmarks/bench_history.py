"""Rows H1-H7: a studio on a history of 1,000, 10,000 and 100,000 images (and 5,000 real-size).

Each history folder is written in the current on-disk format (an image file and a JSON record
per entry, see flux_widgets/history/store.py) by ``make_fixture``: a tiny PNG written N times, with
varied prompts, aspect ratios, seeds, stars and times, so the records are what scale. Every
measurement runs in a fresh interpreter (``--child``), so one size's memory is not billed to the
next. The baseline is the old start-up in the same run: ``History.load()`` (every record and
every image's bytes) handed to the gallery, at the sizes where it is bearable.

- H1: the first open of a folder never indexed (the in-place migration: the index is built
  from the records; once per folder, in a worker thread when a studio opens it);
- H2: time to a usable studio: ``PromptStudio(...)`` built and its first page of thumbnails
  made (``await studio.wait()``), the index already built;
- H3: kernel RSS of that studio above an empty studio's, in the same process;
- H4: a prompt search (count + first page), median over words of every selectivity (FTS5, and
  the LIKE fallback where the sqlite3 module has no FTS5);
- H5: any page: the History browser turning to pages all over the history (records, count,
  cached thumbnails), median and worst; the first visit to a page also makes its thumbnails;
- H6: growth from the smallest to the largest size (flat or logarithmic: <= 3x for 100x N);
- H7: the issue's case, 5,000 images of a real size (the mock's 1 MP WebP): the new start-up
  with thumbnails cached (H7), the first start that makes them (H7a), RSS (H7b).

    python -m benchmarks.bench_history [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .bench_studio import rss_bytes
from .stats import Row, format_table, machine, median, ms

SIZES = (1_000, 10_000, 100_000)
REAL_SIZE, REAL_QUICK = 5_000, 200  # H7: the case, images of a real size
QUICK_SIZES = (200, 1_000)
BASELINE_MAX = 10_000  # the old load() beyond this takes minutes and gigabytes
SEARCH_WORDS = ("boat", "lighthouse", "watercolor", "fox harbour", "zebra", "nothingmatches")
_SUBJECTS = (
    "paper boat", "lighthouse", "red fox", "old tram", "zebra", "teapot", "heron", "castle",
    "robot", "violin", "cactus", "whale", "bicycle", "owl", "lantern", "kite",
)  # fmt: skip
_PLACES = (
    "on calm water", "in a harbour", "under snow", "at dusk", "in a forest", "on a rooftop",
    "in the desert", "by a river", "in space", "at a market",
)  # fmt: skip
_STYLES = ("watercolor", "oil painting", "photograph", "pencil sketch", "isometric 3d", "ukiyo-e")
_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:2", "21:9")


def tiny_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (48, 32), (90, 140, 200)).save(out, "PNG")
    return out.getvalue()


def real_size_webp() -> tuple[bytes, int, int]:
    """A 1 MP WebP as the mock renders it (about the size of flux-schnell's q80 output)."""
    from flux_widgets.mock.render import RenderSpec, render

    spec = RenderSpec("a paper boat on calm water at sunrise", 7, 0, "webp", 80, 1024, 1024)
    return render(spec), 1024, 1024


def make_fixture(
    folder: Path, count: int, seed: int = 7, image: tuple[bytes, int, int] | None = None
) -> None:
    """Write ``count`` entries in the on-disk format, newest 10 s ago, 10 s apart; each image
    is a tiny PNG, or ``image`` (WebP bytes, width, height)."""
    folder.mkdir(parents=True, exist_ok=True)
    data, width, height = image if image is not None else (tiny_png(), 48, 32)
    fmt = "webp" if image is not None else "png"
    digest = hashlib.sha256(data).hexdigest()
    rng = random.Random(seed)
    newest = datetime.now(timezone.utc) - timedelta(seconds=10)
    for n in range(count):
        created = newest - timedelta(seconds=10 * (count - 1 - n))
        stem = f"{created:%Y%m%dT%H%M%S.%fZ}-bench{n:06d}-0"
        prompt = f"{rng.choice(_SUBJECTS)} {rng.choice(_PLACES)}, {rng.choice(_STYLES)}"
        record = {
            "version": 1,
            "file": f"{stem}.{fmt}",
            "bytes": len(data),
            "sha256": digest,
            "format": fmt,
            "width": width,
            "height": height,
            "params": {
                "prompt": prompt,
                "aspect_ratio": _RATIOS[n % len(_RATIOS)],
                "num_outputs": 1,
                "num_inference_steps": 4,
                "seed": None,
                "output_format": fmt,
                "output_quality": 80,
                "disable_safety_checker": False,
                "go_fast": True,
                "megapixels": "1",
            },
            "seed": rng.randrange(2**31),
            "prediction_id": f"bench{n:06d}",
            "index": 0,
            "url": None,
            "predict_time": 0.8,
            "download_time": 0.05,
            "created_at": created.isoformat(),
        }
        if n % 37 == 0:
            record["favourite"] = True
        (folder / f"{stem}.{fmt}").write_bytes(data)
        (folder / f"{stem}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")


def _client() -> Any:
    from flux_widgets import FluxClient

    # Never contacted: opening a studio sends no request.
    return FluxClient(api_key="sk-benchmark", base_url="http://127.0.0.1:9", provider="cometapi")


def measure_index(folder: Path) -> dict[str, float]:
    """H1: the first open of an unindexed folder (builds the index from the records)."""
    from flux_widgets.history.store import History

    began = time.perf_counter()
    count = len(History(folder))
    return {"seconds": time.perf_counter() - began, "count": count}


async def measure(
    folder: Path, approach: str, search: str | None = None, *, browse: bool = True
) -> dict[str, Any]:
    """H2-H5 for one folder; ``approach`` is "new" (the index) or "old" (``History.load()``)."""
    from flux_widgets.history.store import History, HistoryFilter
    from flux_widgets.widgets import PromptStudio
    from flux_widgets.widgets.history_browser import HistoryBrowser

    client = _client()
    with tempfile.TemporaryDirectory() as empty:
        baseline_studio = PromptStudio(client=client, history_dir=empty)
        await baseline_studio.wait()
    gc.collect()
    rss_empty = rss_bytes()
    result: dict[str, Any] = {}
    began = time.perf_counter()
    if approach == "new":
        studio = PromptStudio(client=client, history_dir=folder)
        await studio.wait()
        result["usable"] = time.perf_counter() - began
        result["gallery_images"] = len(studio.images)
    else:
        # What the studio did before the index: every record and image read at start-up,
        # the gallery given all of them (it makes the first page's thumbnails).
        studio = PromptStudio(client=client, history=False)
        images = History(folder).load()
        await studio.gallery.load(images)
        await studio.wait()
        result["usable"] = time.perf_counter() - began
        result["gallery_images"] = len(studio.images)
    gc.collect()
    result["rss"] = rss_bytes() - rss_empty
    result["tiles"] = sum(1 for tile in studio.gallery.tiles if tile.thumbnail.value)

    searches: list[float] = []
    if not browse:
        await client.aclose()
        return result
    if approach == "new":
        history = History(folder, search=search)
        history.count()  # the index opened (and, for another search mode, rebuilt)
        for word in SEARCH_WORDS:
            began = time.perf_counter()
            where = HistoryFilter(text=word)
            history.count(where), history.page(0, 24, where)
            searches.append(time.perf_counter() - began)
        browser = HistoryBrowser(history, page_size=12)
        total = history.count()
        pages = max(1, -(-total // browser.page_size))
        rng = random.Random(3)
        targets = [0, pages - 1, pages // 2, *(rng.randrange(pages) for _ in range(7))]
        cold: list[float] = []
        warm: list[float] = []
        for number in targets:  # first visit: thumbnails made and cached
            began = time.perf_counter()
            await browser.show_page(number)
            cold.append(time.perf_counter() - began)
        for number in targets:  # again: records + cached thumbnails
            began = time.perf_counter()
            await browser.show_page(number)
            warm.append(time.perf_counter() - began)
        result.update(page_cold=cold, page_warm=warm, page_count=pages)
        result["thumbs_on_page"] = sum(1 for card in browser.cards if card.thumbnail.value)
        result["records_on_page"] = len(browser.records)
    else:
        words = [word.split() for word in SEARCH_WORDS]
        for terms in words:  # the old way: a scan of the loaded images' prompts
            began = time.perf_counter()
            found = [
                image
                for image in reversed(images)
                if all(term in image.params.prompt for term in terms)
            ]
            len(found), found[:24]
            searches.append(time.perf_counter() - began)
    result["search"] = searches
    await client.aclose()
    return result


def _child(args: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.bench_history", "--child", *args]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _fmt_rss(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def rows_for(size: int, index: dict[str, Any], new: dict[str, Any], old: dict[str, Any] | None,
             like: dict[str, Any] | None) -> list[Row]:  # fmt: skip
    """The table rows of one history size."""
    label = f"{size:,}"
    none = "not run (minutes, GiBs)"
    rows = [
        Row("H1", f"{label}: first open, index built from the records", ms(index["seconds"]),
            "-", "-", "once per folder", None),
        Row("H2", f"{label}: usable studio (first page of thumbnails)", ms(new["usable"]),
            f"load() {ms(old['usable'])}" if old else none,
            f"{new['usable'] / old['usable']:.3f}x" if old else "-", "<= 300 ms",
            new["usable"] <= 0.300),
        Row("H3", f"{label}: RSS above an empty studio", _fmt_rss(new["rss"]),
            f"load() {_fmt_rss(old['rss'])}" if old else none,
            f"{new['rss'] / old['rss']:.3f}x" if old and old["rss"] > 0 else "-", "<= 60 MiB",
            new["rss"] <= 60 * 2**20),
    ]  # fmt: skip
    search = median(new["search"])
    rows.append(
        Row("H4", f"{label}: prompt search, median (worst)",
            f"FTS5 {ms(search)} ({ms(max(new['search']))})",
            f"scan of load() {ms(median(old['search']))}" if old else none,
            f"{search / median(old['search']):.3f}x" if old else "-", "<= 50 ms",
            max(new["search"]) <= 0.050)
    )  # fmt: skip
    if like is not None:
        rows.append(
            Row("H4b", f"{label}: the same, LIKE fallback (no FTS5)",
                f"{ms(median(like['search']))} ({ms(max(like['search']))})", "-", "-",
                "<= 50 ms", max(like["search"]) <= 0.050)
        )  # fmt: skip
    rows.append(
        Row("H5", f"{label}: any page of {new['page_count']:,}, median (worst)",
            f"{ms(median(new['page_warm']))} ({ms(max(new['page_warm']))})",
            "-", "-", "<= 100 ms", max(new["page_warm"]) <= 0.100)
    )  # fmt: skip
    rows.append(
        Row("H5b", f"{label}: first visit, thumbnails made, median (worst)",
            f"{ms(median(new['page_cold']))} ({ms(max(new['page_cold']))})",
            "-", "-", "-", None)
    )  # fmt: skip
    return rows


def growth_rows(results: dict[int, dict[str, Any]]) -> list[Row]:
    """H6: how each time grows from the smallest size to the largest."""
    small, large = min(results), max(results)
    a, b = results[small], results[large]
    factor = large / small
    pairs = {
        "usable studio": (a["usable"], b["usable"]),
        "search (median)": (median(a["search"]), median(b["search"])),
        "any page (median)": (median(a["page_warm"]), median(b["page_warm"])),
        "RSS": (max(a["rss"], 1.0), max(b["rss"], 1.0)),
    }
    rows = []
    for name, (low, high) in pairs.items():
        growth = high / low
        rows.append(
            Row("H6", f"growth {small:,} -> {large:,} ({factor:.0f}x N): {name}",
                f"{growth:.2f}x", "linear: " f"{factor:.0f}x", "-", "<= 3x", growth <= 3.0)
        )  # fmt: skip
    return rows


def real_size_rows(count: int) -> list[Row]:
    """H7: a history of real-size images (the issue's 5,000: 1.2 s and +342 MiB before)."""
    with tempfile.TemporaryDirectory(prefix="flux-bench-history-real-") as tmp:
        folder = Path(tmp) / "h"
        image = real_size_webp()
        make_fixture(folder, count, image=image)
        _child(["index", str(folder)])
        new = [_child(["open", str(folder)]) for _ in range(3)]
        old = _child(["old-open", str(folder)])
    cold = new[0]["usable"]  # the first start makes the page's thumbnails (and caches them)
    usable, rss = median([r["usable"] for r in new[1:]]), median([r["rss"] for r in new])
    label = f"{count:,} images of {len(image[0]) / 1024:.0f} KiB"
    return [
        Row("H7", f"{label}: usable studio, thumbnails cached", ms(usable),
            f"load() {ms(old['usable'])}", f"{usable / old['usable']:.3f}x", "<= 300 ms",
            usable <= 0.300),
        Row("H7a", f"{label}: first start, thumbnails made", ms(cold),
            f"load() {ms(old['usable'])}", f"{cold / old['usable']:.3f}x", "-", None),
        Row("H7b", f"{label}: RSS above an empty studio", _fmt_rss(rss),
            f"load() {_fmt_rss(old['rss'])}", f"{rss / old['rss']:.3f}x" if old["rss"] else "-",
            "<= 60 MiB", rss <= 60 * 2**20),
    ]  # fmt: skip


def main(quick: bool) -> str:
    sizes = QUICK_SIZES if quick else SIZES
    rows: list[Row] = []
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="flux-bench-history-") as tmp:
        for size in sizes:
            folder = Path(tmp) / f"h{size}"
            began = time.perf_counter()
            make_fixture(folder, size)
            print(f"(fixture of {size:,}: {time.perf_counter() - began:.1f} s)", flush=True)
            index = _child(["index", str(folder)])
            new = _child(["new", str(folder)])
            # H2/H3 again in two more fresh interpreters: the median of three start-ups.
            opens = [new, *(_child(["open", str(folder)]) for _ in range(2))]
            new["usable"] = median([run["usable"] for run in opens])
            new["rss"] = median([run["rss"] for run in opens])
            old = _child(["old", str(folder)]) if size <= BASELINE_MAX else None
            like = _child(["like", str(folder)])
            results[size] = new
            rows += rows_for(size, index, new, old, like)
    rows += growth_rows(results)
    rows += real_size_rows(REAL_QUICK if quick else REAL_SIZE)
    notes = [
        "fixtures: N entries in the on-disk format (a 48x32 PNG and its JSON record each), "
        "varied prompts (16 subjects x 10 places x 6 styles), 6 aspect ratios, 1 in 37 starred",
        "each size measured in fresh interpreters: index build (H1), the studio (H2-H5; H2 and "
        "H3 the median of 3 start-ups), the LIKE fallback (H4b), the old History.load() "
        "start-up (baseline)",
        f"H4: words {', '.join(repr(w) for w in SEARCH_WORDS)}: count + first page of 24",
        "H5: 10 pages (newest, oldest, middle, 7 random) of 12 cards, each shown twice: "
        "cached thumbnails (H5), first visit making them in worker threads (H5b)",
        "the studio opens on the history's newest page (24 images); the rest are browsed in "
        "its History section",
        "H7: the same start-up on images of a real size (the mock's 1 MP WebP q80, written N "
        "times): the first start decodes the newest page for its thumbnails and caches them "
        "in the index (H7a; a studio caches them as it adds images), later starts read them "
        "(H7, median of 2); RSS the median of all 3",
        machine(),
    ]
    return format_table("History: a studio on 1k-100k images (rows H1-H7)", rows, notes)


def _run_child(args: list[str]) -> None:
    mode, folder = args[0], Path(args[1])
    if mode == "index":
        result: dict[str, Any] = measure_index(folder)
    elif mode == "open":
        result = asyncio.run(measure(folder, "new", browse=False))
    elif mode == "old-open":
        result = asyncio.run(measure(folder, "old", browse=False))
    elif mode == "like":
        result = asyncio.run(measure(folder, "new", search="like"))
    else:
        result = asyncio.run(measure(folder, mode))
    print(json.dumps(result))


def cli() -> None:
    parser = argparse.ArgumentParser(description="Rows H1-H7: a studio on a large history.")
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 images")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        os.environ.pop("FLUX_WIDGETS_HISTORY_DIR", None)
        _run_child(args.child)
        return
    print(main(args.quick), flush=True)


if __name__ == "__main__":
    cli()
