"""History: atomic on-disk store of generated images that survives restarts and crashes."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from factories import make_image
from PIL import Image

from flux_widgets.history.store import History, HistoryFilter
from flux_widgets.images import GeneratedImage
from flux_widgets.recipes import read_recipe


def test_round_trip_keeps_every_field_and_the_bytes_load_as_the_image(tmp_path: Path) -> None:
    history = History(tmp_path)
    originals = [make_image(n, fmt) for n, fmt in enumerate(["webp", "png", "jpg"])]
    paths = [history.add(image) for image in originals]

    loaded = history.load()
    assert len(history) == 3
    for original, back, path in zip(originals, loaded, paths, strict=True):
        for name in ("format", "width", "height", "params", "seed", "prediction_id", "index"):
            assert getattr(back, name) == getattr(original, name), name
        for name in ("url", "predict_time", "download_time", "created_at"):
            assert getattr(back, name) == getattr(original, name), name
        assert back.data == path.read_bytes()
        assert back.to_pil().size == (32, 16)
        assert read_recipe(path) == original.recipe  # the file is useful on its own


def test_file_names_sort_by_time_and_never_collide(tmp_path: Path) -> None:
    history = History(tmp_path)
    later, earlier = make_image(5), make_image(1)
    history.add(later)
    history.add(earlier)
    history.add(earlier)  # the same image twice is two entries, not an overwrite
    history.add(make_image(1, prediction_id=None))

    names = sorted(p.name for p in tmp_path.glob("*.json"))
    assert all(n.startswith("20261123T211531.123456Z-") for n in names[:3])
    assert names[3].startswith("20261123T211535.123456Z-pred-1")
    assert len(set(names)) == 4
    assert [image.seed for image in history.load()] == [1001, 1001, 1001, 1005]


def test_partial_and_broken_entries_are_skipped_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    history = History(tmp_path)
    good = history.add(make_image(0))
    broken = history.add(make_image(1))
    orphan = history.add(make_image(2))
    # A crash mid-add: an unfinished temp file, and an image whose record was never written.
    (tmp_path / ".tmp-abc.part").write_bytes(b"RIFF\x00")
    orphan.with_suffix(".json").unlink()
    # A damaged image under an intact record, and a record that is not JSON.
    broken.write_bytes(broken.read_bytes()[:20])
    (tmp_path / "20261123T211540.000000Z-x-0.json").write_text("{not json")

    with caplog.at_level(logging.WARNING, logger="flux_widgets"):
        loaded = history.load()
    assert [image.seed for image in loaded] == [1000]
    assert loaded[0].data == good.read_bytes()
    assert "damaged" in caplog.text


def test_add_leaves_no_temp_files(tmp_path: Path) -> None:
    history = History(tmp_path)
    for n in range(3):
        history.add(make_image(n))
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert sorted(p.suffix for p in files) == [".json"] * 3 + [".webp"] * 3
    # Beside them only the index's folder: the index and, while it is open, its WAL's files;
    # closed, the index alone (no journal, no temp file left over).
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [".flux-index"]
    index = tmp_path / ".flux-index"
    assert sorted(p.name for p in index.iterdir()) == [
        "index.sqlite3",
        "index.sqlite3-shm",
        "index.sqlite3-wal",
    ]
    history.index.close()
    assert [p.name for p in index.iterdir()] == ["index.sqlite3"]


def test_a_second_history_on_the_same_folder_sees_the_entries(tmp_path: Path) -> None:
    History(tmp_path / "h").add(make_image(0))
    other = History(str(tmp_path / "h"))
    assert len(other) == 1
    assert other.load()[0].params.prompt == "boat 0"


def test_clear_removes_entries_and_leftovers_but_not_other_files(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.add(make_image(0))
    (tmp_path / ".tmp-zzz.part").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("mine")

    history.clear()
    assert len(history) == 0 and history.load() == []
    # The entry went to the trash (undo brings it back); the leftover is gone; notes stay.
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["notes.txt"]
    assert history.trash_count() == 1


def test_directory_comes_from_the_environment_then_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_WIDGETS_HISTORY_DIR", str(tmp_path / "env"))
    assert History().directory == tmp_path / "env"
    assert History(tmp_path / "arg").directory == tmp_path / "arg"
    monkeypatch.delenv("FLUX_WIDGETS_HISTORY_DIR")
    assert History().directory.parts[-2:] == ("flux-widgets", "history")
    assert History(tmp_path / "missing").load() == []


_BATCH_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from flux_widgets import FluxClient
    from flux_widgets.history.store import History
    from flux_widgets.mock import MockConfig

    async def main():
        history = History(sys.argv[1])
        client = FluxClient.mock(config=MockConfig(generation_time=0.2), max_concurrency=4)
        async with client:
            batch = client.generate_many([f"boat {i}" for i in range(60)], megapixels="0.25")
            async for result in batch:
                for image in result.images:
                    path = await asyncio.to_thread(history.add, image)
                    print("saved", path.name, flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_images_reported_saved_survive_a_sigkill_mid_batch(tmp_path: Path) -> None:
    folder = tmp_path / "history"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUX_", "COMETAPI"))}
    process = subprocess.Popen(
        [sys.executable, "-c", _BATCH_SCRIPT, str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watchdog = threading.Timer(30, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        reported = []
        for line in process.stdout:
            reported.append(line.split()[1])
            if len(reported) == 5:
                # Mid-batch, with other images downloading and being written right now.
                os.kill(process.pid, signal.SIGKILL)
                break
        # Lines the child flushed before it died count as reported too.
        out, err = process.communicate(timeout=10)
        reported += [line.split()[1] for line in out.splitlines() if line.startswith("saved")]
    finally:
        watchdog.cancel()
    assert process.returncode == -signal.SIGKILL, err

    loaded = History(folder).load()
    loaded_ids = {(image.prediction_id, image.index) for image in loaded}
    files = {p.name for p in folder.iterdir()}
    assert len(reported) >= 5
    for name in reported:
        _, prediction_id, index = Path(name).stem.split("-")
        assert name in files and f"{Path(name).stem}.json" in files
        assert (prediction_id, int(index)) in loaded_ids
    assert len(loaded) < 60  # it really was killed mid-batch
    for image in loaded:
        assert image.to_pil().size == (image.width, image.height)


def test_delete_moves_to_the_trash_and_undo_brings_back(tmp_path: Path) -> None:
    history = History(tmp_path)
    paths = [history.add(make_image(n)) for n in range(4)]
    stems = [record.stem for record in history.page()]
    batch = history.delete(stems[:2])
    assert batch is not None and history.trash_batches() == [batch]
    assert [record.seed for record in history.page()] == [1001, 1000]
    assert not paths[3].exists() and not paths[2].exists()
    assert (tmp_path / ".trash" / batch / paths[3].name).read_bytes()
    assert history.trash_count() == 2

    assert history.undo() == 2
    assert [record.seed for record in history.page()] == [1003, 1002, 1001, 1000]
    assert paths[3].exists() and history.trash_batches() == []
    assert history.count(HistoryFilter(text="boat 3")) == 1
    assert history.undo() == 0

    history.delete(stems[0])
    assert history.empty_trash() == 1
    assert history.trash_count() == 0 and len(history) == 3
    assert history.delete([]) is None and history.delete(["20261123T000000.000000Z-gone-0"]) is None


def test_clear_is_undone_in_full(tmp_path: Path) -> None:
    history = History(tmp_path)
    for n in range(3):
        history.add(make_image(n))
    batch = history.clear()
    assert len(history) == 0 and history.trash_count() == 3
    assert history.undo(batch) == 3 and len(history) == 3
    with pytest.raises(ValueError, match="no trash batch"):
        history.undo("nope")


def test_thumbnails_are_small_made_once_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = History(tmp_path)
    history.add(make_image(0))
    record = history.page()[0]
    made = []
    original = GeneratedImage.thumbnail

    def counting(self: GeneratedImage, *args: object) -> bytes:
        made.append(self.seed)
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(GeneratedImage, "thumbnail", counting)
    first = history.thumbnail(record, 16)
    assert Image.open(io.BytesIO(first)).size == (16, 8)
    assert history.thumbnail(record, 16) == first
    assert History(tmp_path).cached_thumbnails([record], 16) == {record.stem: first}
    assert made == [1000], "decoded once, then served from the index"
    (tmp_path / record.file).write_bytes(b"damaged")
    history.index.close()
    assert history.thumbnail(record, 32) == b""
    with pytest.raises(ValueError, match="does not match"):
        history.open(record)


def test_reading_a_missing_folder_creates_nothing(tmp_path: Path) -> None:
    history = History(tmp_path / "missing")
    assert len(history) == 0 and history.count(HistoryFilter(text="boat")) == 0
    assert history.page() == [] and history.record("x") is None
    assert history.delete(["x"]) is None and history.clear() is None
    assert not (tmp_path / "missing").exists()


def test_undo_never_overwrites_an_entry_that_took_the_name_meanwhile(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.add(make_image(0))
    history.add(make_image(1))
    stems = [record.stem for record in history.page()]
    batch = history.delete(stems)
    again = history.add(make_image(1))  # the same image again takes its old name
    assert again.stem == stems[0]
    assert history.undo(batch) == 1  # only the entry whose name is still free comes back
    assert sorted(r.stem for r in history.page()) == sorted(stems)
    assert history.open(stems[0]).data == again.read_bytes()
    assert history.trash_count() == 1


def test_a_record_keeps_its_provider_and_price_and_older_records_read_none(
    tmp_path: Path,
) -> None:
    import dataclasses
    import json

    history = History(tmp_path)
    priced = dataclasses.replace(make_image(0), provider="fal", price=0.006)
    unpriced = dataclasses.replace(make_image(1), provider="cometapi", price=None)
    history.add(priced)
    history.add(unpriced)
    old = make_image(2)  # a record from before provider and price were written
    history.add(old)
    old_record = max(tmp_path.glob("*.json"))
    data = json.loads(old_record.read_text())
    assert (data["provider"], data["price"]) == (None, None)
    del data["provider"], data["price"]
    old_record.write_text(json.dumps(data))
    history.reindex()

    fresh = History(tmp_path)  # read back from disk: the records, then the index
    by_prompt = {image.params.prompt: image for image in fresh.load()}
    assert (by_prompt["boat 0"].provider, by_prompt["boat 0"].price) == ("fal", 0.006)
    assert (by_prompt["boat 1"].provider, by_prompt["boat 1"].price) == ("cometapi", None)
    assert (by_prompt["boat 2"].provider, by_prompt["boat 2"].price) == (None, None)
    listed = {record.prompt: (record.provider, record.price) for record in fresh.page(0, 10)}
    assert listed == {
        "boat 0": ("fal", 0.006),
        "boat 1": ("cometapi", None),
        "boat 2": (None, None),
    }


@pytest.mark.parametrize("price", ["0.003", -1, float("nan"), True, [1]])
def test_a_hand_edited_price_that_is_not_dollars_reads_as_unknown(
    tmp_path: Path, price: object
) -> None:
    import json

    history = History(tmp_path)
    history.add(make_image(0))
    record = next(tmp_path.glob("*.json"))
    data = json.loads(record.read_text())
    data.update(provider="replicate", price=price)
    record.write_text(json.dumps(data))
    history.reindex()
    [listed] = History(tmp_path).page(0, 10)
    assert (listed.provider, listed.price) == ("replicate", None)
