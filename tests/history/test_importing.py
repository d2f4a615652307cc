"""History.import_: what it refuses (whole zips, single entries), and that it never half-writes."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from factories import make_image

from flux_widgets import History, HistoryImportError
from flux_widgets.history import importing


def _export(tmp_path: Path, count: int = 2, fmt: str = "png") -> Path:
    history = History(tmp_path / "source")
    for n in range(count):
        history.add(make_image(n, fmt=fmt))
    return history.export_zip(tmp_path / "export.zip").path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rezip(path: Path, members: dict[str, bytes], target: Path | None = None) -> Path:
    target = target or path.with_name("changed.zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _nothing_written(history: History) -> bool:
    return not history.directory.exists() or not any(history.directory.glob("2*"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hello, not a zip", "is not a zip file"),
        (b"PK\x03\x04" + b"\0" * 40, "is not a zip file"),  # a zip's start, then nothing
    ],
)
def test_a_file_that_is_not_a_zip_is_refused_whole(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "photos.zip"
    path.write_bytes(content)
    history = History(tmp_path / "h")
    with pytest.raises(HistoryImportError, match=message):
        history.import_(path)
    assert _nothing_written(history)


def test_a_missing_file_or_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    with pytest.raises(HistoryImportError, match="there is no file"):
        history.import_(tmp_path / "nowhere.zip")
    with pytest.raises(HistoryImportError, match="is a folder"):
        history.import_(tmp_path)


def test_a_zip_that_is_not_an_export_or_of_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = _export(tmp_path)
    members = _members(path)
    history = History(tmp_path / "h")
    without = {name: data for name, data in members.items() if name != "manifest.json"}
    with pytest.raises(HistoryImportError, match="not a flux-widgets history export"):
        history.import_(_rezip(path, without))
    manifest = json.loads(members["manifest.json"])
    newer = {**members, "manifest.json": json.dumps({**manifest, "version": 2}).encode()}
    with pytest.raises(HistoryImportError, match="upgrade flux-widgets"):
        history.import_(_rezip(path, newer))
    other = {**members, "manifest.json": json.dumps({**manifest, "format": "x"}).encode()}
    with pytest.raises(HistoryImportError, match="not a flux-widgets history export"):
        history.import_(_rezip(path, other))
    damaged = {**members, "manifest.json": b"{not json"}
    with pytest.raises(HistoryImportError, match="damaged"):
        history.import_(_rezip(path, damaged))
    assert _nothing_written(history)


@pytest.mark.parametrize(
    "name", ["../evil.png", "images/../../evil.png", "/etc/evil.png", "C:/evil.png", "..\\x.png"]
)
def test_a_path_that_leaves_the_folder_refuses_the_zip_whole(tmp_path: Path, name: str) -> None:
    path = _export(tmp_path)
    members = {**_members(path), name: b"payload"}
    history = History(tmp_path / "h")
    with pytest.raises(HistoryImportError, match="a path outside the folder"):
        history.import_(_rezip(path, members))
    assert _nothing_written(history)
    assert not (tmp_path / "evil.png").exists()


def test_a_zip_declaring_more_than_the_cap_is_refused_before_anything_is_inflated(
    tmp_path: Path,
) -> None:
    path = _export(tmp_path)
    # 64 MiB of zeros deflate to ~64 KB: a small zip that would unpack to far more.
    members = {**_members(path), "padding.bin": bytes(64 * 2**20)}
    bomb = _rezip(path, members)
    assert bomb.stat().st_size < 2**20
    history = History(tmp_path / "h")
    with pytest.raises(HistoryImportError, match="past the import's cap"):
        history.import_(bomb, max_total_bytes=32 * 2**20)
    assert _nothing_written(history)


def test_an_image_past_the_per_file_cap_is_refused_alone(tmp_path: Path) -> None:
    path = _export(tmp_path, count=1)
    members = _members(path)
    other = History(tmp_path / "other")
    other.add(make_image(5, fmt="webp"))  # two entries: a small webp beside the png
    big = other.export_zip(tmp_path / "other.zip").path
    members.update(_members(big))
    manifest = json.loads(_members(path)["manifest.json"])
    manifest["entries"] += json.loads(_members(big)["manifest.json"])["entries"]
    members["manifest.json"] = json.dumps(manifest).encode()
    sizes = {entry["image"]: entry["bytes"] for entry in manifest["entries"]}
    small = min(sizes, key=sizes.__getitem__)
    history = History(tmp_path / "h")
    report = history.import_(_rezip(path, members), max_image_bytes=sizes[small])
    assert len(report.imported) == 1
    [(name, why)] = report.refused
    assert name != small and "more than" in why


def _entry(members: dict[str, bytes], n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    manifest = json.loads(members["manifest.json"])
    entry = manifest["entries"][n]
    return manifest, entry


def test_a_file_that_is_not_an_image_is_refused_alone(tmp_path: Path) -> None:
    path = _export(tmp_path, count=2)
    members = _members(path)
    manifest, entry = _entry(members, 0)
    fake = b"#!/bin/sh\necho not an image\n"
    digest = hashlib.sha256(fake).hexdigest()
    record = json.loads(members[entry["record"]])
    record.update(bytes=len(fake), sha256=digest)
    entry.update(bytes=len(fake), sha256=digest)
    members.update(
        {
            entry["image"]: fake,
            entry["record"]: json.dumps(record).encode(),
            "manifest.json": json.dumps(manifest).encode(),
        }
    )
    history = History(tmp_path / "h")
    report = history.import_(_rezip(path, members))
    assert len(report.imported) == 1
    assert report.refused == [(entry["image"], "not a usable image")]
    assert "refused 1: images/" in str(report)
    assert len(history) == 1


def test_an_image_changed_after_the_export_is_refused(tmp_path: Path) -> None:
    path = _export(tmp_path, count=2)
    members = _members(path)
    _, entry = _entry(members, 1)
    members[entry["image"]] = members[entry["image"]][:-1] + b"\0"
    history = History(tmp_path / "h")
    report = history.import_(_rezip(path, members))
    assert len(report.imported) == 1
    assert "changed after the export" in report.refused[0][1]


def test_an_entry_whose_name_would_leave_the_history_folder_is_refused(tmp_path: Path) -> None:
    path = _export(tmp_path, count=1)
    members = _members(path)
    manifest, entry = _entry(members, 0)
    entry["stem"] = "20261123T211530.123456Z-x/../../evil"
    members["manifest.json"] = json.dumps(manifest).encode()
    history = History(tmp_path / "h")
    report = history.import_(_rezip(path, members))
    assert report.imported == [] and "is not a history entry's name" in report.refused[0][1]


def test_equal_images_in_one_zip_are_imported_once(tmp_path: Path) -> None:
    path = _export(tmp_path, count=1)
    members = _members(path)
    manifest, entry = _entry(members, 0)
    twin = entry["stem"][:-1] + "9"
    record = json.loads(members[entry["record"]])
    record["file"] = f"{twin}.png"
    manifest["entries"].append(
        {**entry, "stem": twin, "image": f"images/{twin}.png", "record": f"records/{twin}.json"}
    )
    members.update(
        {
            f"images/{twin}.png": members[entry["image"]],
            f"records/{twin}.json": json.dumps(record).encode(),
            "manifest.json": json.dumps(manifest).encode(),
        }
    )
    history = History(tmp_path / "h")
    report = history.import_(_rezip(path, members))
    assert (len(report.imported), report.already_present) == (1, [twin])


def test_a_name_already_taken_by_another_image_gets_a_free_one(tmp_path: Path) -> None:
    path = _export(tmp_path, count=1)
    history = History(tmp_path / "h")
    # Same time, id and index as the exported image (the same name), another seed and bytes.
    mine = history.add(make_image(0, fmt="png", seed=5))
    report = history.import_(path)
    assert report.imported == [f"{mine.stem}-2"]
    assert len(history) == 2
    history.open(report.imported[0])  # whole, and matching its record


def test_a_failure_while_writing_leaves_no_entry_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _export(tmp_path, count=3)
    real = importing.atomic_write

    def failing(target: Path, data: bytes) -> None:
        if target.suffix == ".json":
            raise OSError(28, "No space left on device")
        real(target, data)

    monkeypatch.setattr(importing, "atomic_write", failing)
    history = History(tmp_path / "h")
    with pytest.raises(OSError, match="No space left"):
        history.import_(path)
    # Images without records are interrupted writes: no entry lists, loads or is counted.
    assert len(history) == 0 and history.load() == []
    monkeypatch.setattr(importing, "atomic_write", real)
    assert len(history.import_(path).imported) == 3
    assert len(history) == 3


def test_a_member_that_lies_about_its_size_is_refused_not_inflated(tmp_path: Path) -> None:
    path = _export(tmp_path, count=2)
    members = _members(path)
    _, entry = _entry(members, 0)
    # Valid JSON that inflates to 4 MiB, in a zip whose headers say it is 100 bytes.
    padded = members[entry["record"]] + b" " * (4 * 2**20)
    liar = _rezip(path, {**members, entry["record"]: padded})
    data = bytearray(liar.read_bytes())
    name = entry["record"].encode()
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local, central
        at = data.find(signature)
        while at >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(name)] == name:
                data[at + size_at : at + size_at + 4] = (100).to_bytes(4, "little")
            at = data.find(signature, at + 4)
    liar.write_bytes(bytes(data))
    with zipfile.ZipFile(liar) as archive:
        assert archive.getinfo(entry["record"]).file_size == 100
    history = History(tmp_path / "h")
    report = history.import_(liar)
    assert len(report.imported) == 1
    [(refused, why)] = report.refused
    assert refused == entry["image"] and "CRC" in why
