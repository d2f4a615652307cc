"""History.export_zip and History.import_: what leaves, and that it comes back byte for byte."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import time
import zipfile
from pathlib import Path

import pytest
from factories import make_image
from PIL import Image

from flux_widgets import FluxClient, GeneratedImage, History, HistoryFilter, read_recipe
from flux_widgets.mock import MockConfig
from flux_widgets.params import FluxParams


def _files(history: History) -> dict[str, bytes]:
    """Every entry's image and record bytes, by file name."""
    return {
        path.name: path.read_bytes()
        for path in history.directory.iterdir()
        if path.is_file() and path.suffix in (".json", ".png", ".jpg", ".webp")
    }


def _tiny_pngs(count: int) -> list[GeneratedImage]:
    """Distinct 4x4 PNGs, each with its own prompt and seed (made once: ~1 ms for 1,000)."""
    images = []
    for n in range(count):
        out = io.BytesIO()
        Image.new("RGB", (4, 4), (n % 256, n // 256, 7)).save(out, "PNG")
        params = FluxParams(prompt=f"boat {n} 帆船", output_format="png", aspect_ratio="1:1")
        images.append(
            GeneratedImage.from_bytes(
                out.getvalue(), params, seed=n, prediction_id=f"p{n}", index=0
            )
        )
    return images


def test_a_thousand_images_round_trip_byte_for_byte_and_a_second_import_adds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Durability is tested in test_store.py; here fsync (most of the time on a real disk) is
    # skipped so 1,000 entries take a second.
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    source = History(tmp_path / "source")
    for image in _tiny_pngs(1000):
        source.add(image)
    started = time.perf_counter()
    report = source.export_zip(tmp_path / "all.zip")
    exported = time.perf_counter() - started
    assert report.count == 1000
    target = History(tmp_path / "target")
    started = time.perf_counter()
    imported = target.import_(tmp_path / "all.zip")
    took = time.perf_counter() - started
    assert len(imported.imported) == 1000
    assert imported.already_present == [] and imported.refused == []
    # Every image and every record, byte for byte, under the same names.
    assert _files(target) == _files(source)
    assert len(target) == 1000
    assert [r.prompt for r in target.page(0, 5)] == [r.prompt for r in source.page(0, 5)]
    again = target.import_(tmp_path / "all.zip")
    assert (len(again.imported), len(again.already_present)) == (0, 1000)
    assert str(again) == "imported 0 images; 1,000 already in the history"
    assert len(target) == 1000 and _files(target) == _files(source)
    # Into the history it came from: all already there.
    assert len(source.import_(tmp_path / "all.zip").already_present) == 1000
    assert exported < 5 and took < 10  # measured: ~0.2 s and ~0.5 s without fsync


def test_an_export_holds_the_files_their_records_and_a_versioned_manifest(
    tmp_path: Path,
) -> None:
    history = History(tmp_path / "h")
    paths = [history.add(make_image(n, fmt=fmt)) for n, fmt in enumerate(["png", "jpg", "webp"])]
    history.export_zip(tmp_path / "x.zip")
    with zipfile.ZipFile(tmp_path / "x.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert (manifest["format"], manifest["version"], manifest["count"]) == (
            "flux-widgets/history",
            1,
            3,
        )
        for entry, path in zip(manifest["entries"], paths, strict=True):
            assert archive.read(entry["image"]) == path.read_bytes()
            assert archive.getinfo(entry["image"]).compress_type == zipfile.ZIP_STORED
            record = json.loads(archive.read(entry["record"]))
            assert record == json.loads(path.with_suffix(".json").read_bytes())
            assert record["params"]["prompt"] == entry_prompt(path)
        # The recipe is in the image file itself, too.
        first = archive.read(manifest["entries"][0]["image"])
    assert read_recipe(first).prompt == "boat 0"


def entry_prompt(path: Path) -> str:
    return str(json.loads(path.with_suffix(".json").read_bytes())["params"]["prompt"])


def test_fields_a_record_gains_later_such_as_provider_and_price_travel_with_it(
    tmp_path: Path,
) -> None:
    history = History(tmp_path / "h")
    record_path = history.add(make_image(1)).with_suffix(".json")
    record = json.loads(record_path.read_bytes())
    record.update(provider="fal", price_usd=0.003, favourite=True)
    record_path.write_text(json.dumps(record))
    history.reindex()
    history.export_zip(tmp_path / "x.zip")
    other = History(tmp_path / "other")
    stem = other.import_(tmp_path / "x.zip").imported[0]
    kept = json.loads((other.directory / f"{stem}.json").read_bytes())
    assert (kept["provider"], kept["price_usd"], kept["favourite"]) == ("fal", 0.003, True)
    assert other.page()[0].favourite


def test_a_search_exports_only_what_it_matches_oldest_first(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    for n in range(6):
        image = make_image(n)
        prompt = "red boat" if n % 2 else "blue kite"
        history.add(dataclasses.replace(image, params=image.params.replace(prompt=prompt)))
    report = history.export_zip(tmp_path / "red.zip", HistoryFilter(text="RED"))
    assert report.count == 3
    with zipfile.ZipFile(tmp_path / "red.zip") as archive:
        entries = json.loads(archive.read("manifest.json"))["entries"]
    stems = [entry["stem"] for entry in entries]
    assert stems == sorted(stems)  # time-sortable stems: oldest first
    other = History(tmp_path / "other")
    other.import_(tmp_path / "red.zip")
    assert {r.prompt for r in other.page(0, 10)} == {"red boat"}


def test_a_selection_of_records_or_stems_exports_just_those(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    for n in range(4):
        history.add(make_image(n))
    newest, _, third, _ = history.page(0, 4)
    report = history.export_zip(tmp_path / "two.zip", [newest, third.stem, newest.stem])
    assert report.count == 2  # the same entry twice is exported once
    other = History(tmp_path / "other")
    assert sorted(other.import_(tmp_path / "two.zip").imported) == sorted([newest.stem, third.stem])


def test_a_gallerys_images_export_whether_stored_or_not(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    stored = history.store(make_image(1, fmt="png"))
    loose = make_image(2, fmt="jpg")  # never stored: exported as the history would store it
    history.export_zip(tmp_path / "gallery.zip", [stored, loose])
    other = History(tmp_path / "other")
    report = other.import_(tmp_path / "gallery.zip")
    assert len(report.imported) == 2
    assert (other.directory / f"{report.imported[0]}.png").read_bytes() == (
        history.directory / f"{stored.stem}.png"
    ).read_bytes()
    copy = other.open(report.imported[1])
    assert copy.recipe == loose.recipe and copy.prediction_id == loose.prediction_id
    assert read_recipe(copy.data).seed == loose.seed  # the recipe embedded in the file


def test_an_entry_changed_on_disk_stops_the_export_and_leaves_no_file(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    history.add(make_image(1))
    history.add(make_image(2)).write_bytes(b"not what was stored")
    target = tmp_path / "out" / "x.zip"
    with pytest.raises(ValueError, match="does not match its record"):
        history.export_zip(target)
    assert list(target.parent.iterdir()) == []  # neither the zip nor its temporary file


def test_exporting_something_else_says_what_it_takes(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    with pytest.raises(TypeError, match="records, stems or images"):
        history.export_zip(tmp_path / "x.zip", [42])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="does not name a history entry"):
        history.export_zip(tmp_path / "x.zip", ["../../etc/passwd"])


async def test_the_api_key_is_in_no_export(tmp_path: Path) -> None:
    key = "sk-export-secret-0123456789abcdef"
    history = History(tmp_path / "h")
    mock = FluxClient.mock(config=MockConfig(api_key=key))
    async with FluxClient(key, base_url=mock.base_url, transport=mock._transport) as client:
        images = await client.generate("a secret garden", num_outputs=2, output_format="png")
    for image in images:
        await asyncio.to_thread(history.add, image)
    page = await asyncio.to_thread(history.export_html, tmp_path / "x.html", full_size=True)
    archive = await asyncio.to_thread(history.export_zip, tmp_path / "x.zip")
    for path in (page.path, archive.path):
        data = await asyncio.to_thread(path.read_bytes)
        assert not any(key[i : i + 8].encode() in data for i in range(len(key) - 7)), path
