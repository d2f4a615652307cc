"""Every paid image kept in the history once, by the client (generation/keeper.py): generate,
generate_many (a failed item's paid images too), the default folder, the opt-outs, the journal
of each job, a write that fails (the image is returned, recovery stores it later)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path

import pytest

from flux_widgets import FluxClient, GeneratedImage
from flux_widgets.errors import DownloadError
from flux_widgets.history.store import History, StoredImage
from flux_widgets.mock import FaultConfig, MockConfig

FAST = MockConfig(generation_time=0.02, sync_wait_cometapi=True)
SMALL = {"megapixels": "0.25"}


def kept(folder: Path) -> Counter[tuple[str | None, int]]:
    """Each entry of the folder (as a new kernel reads it) by (job id, output index)."""
    return Counter((image.prediction_id, image.index) for image in History(folder).load())


def job_files(folder: Path) -> list[Path]:
    return sorted((folder / ".jobs").glob("*.json"))


def journaled(history: History, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The job ids written to ``history``'s journal from now on."""
    opened: list[str] = []
    write = history.jobs.opened

    def spy(provider: str, job_id: str, params: object) -> None:
        opened.append(job_id)
        write(provider, job_id, params)  # type: ignore[arg-type]

    monkeypatch.setattr(history.jobs, "opened", spy)
    return opened


async def test_generate_keeps_each_image_once_with_its_recipe_and_closes_its_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = History(tmp_path)
    opened = journaled(history, monkeypatch)
    async with FluxClient.mock(config=FAST, history=history) as client:
        images = await client.generate("a lighthouse", seed=7, num_outputs=2, **SMALL)
    # What the caller gets is what the history holds: the stored copies.
    assert [type(image) for image in images] == [StoredImage, StoredImage]
    job = images[0].prediction_id
    assert kept(tmp_path) == {(job, 0): 1, (job, 1): 1}
    stored = History(tmp_path).load()
    assert {image.params for image in stored} == {images[0].params}
    assert images[0].params.prompt == "a lighthouse" and images[0].params.seed == 7
    assert opened == [job]  # journaled as it arrived, in the same folder
    assert job_files(tmp_path) == []  # closed once both were stored


async def test_the_default_is_the_default_history_folder_the_studio_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_WIDGETS_HISTORY_DIR", str(tmp_path))
    async with FluxClient.mock(config=FAST) as client:
        (image,) = await client.generate("a default boat", **SMALL)
    assert kept(tmp_path) == {(image.prediction_id, 0): 1}
    assert len(History()) == 1 and job_files(tmp_path) == []


async def test_a_job_is_journaled_in_the_history_while_it_runs(tmp_path: Path) -> None:
    history = History(tmp_path)
    config = MockConfig(generation_time=0.4, sync_wait_cometapi=True)
    async with FluxClient.mock(config=config, history=history) as client:
        task = asyncio.create_task(client.generate("a slow kite", **SMALL))
        for _ in range(400):
            if job_files(tmp_path) or task.done():
                break
            await asyncio.sleep(0.005)
        assert len(job_files(tmp_path)) == 1 and not task.done()
        (image,) = await task
    assert kept(tmp_path) == {(image.prediction_id, 0): 1} and job_files(tmp_path) == []


async def test_generate_many_keeps_every_item_once_with_the_template_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = History(tmp_path)
    opened = journaled(history, monkeypatch)
    async with FluxClient.mock(config=FAST, history=history) as client:
        results = [r async for r in client.generate_many("a {red|blue} kite", seed=3, **SMALL)]
    images = [image for result in results for image in result.images]
    assert all(isinstance(image, StoredImage) for image in images) and len(images) == 2
    assert kept(tmp_path) == {(image.prediction_id, 0): 1 for image in images}
    assert {image.origin.template for image in History(tmp_path).load() if image.origin} == {
        "a {red|blue} kite"
    }
    assert sorted(opened) == sorted(str(image.prediction_id) for image in images)
    assert job_files(tmp_path) == []


async def test_a_failed_items_paid_images_are_kept_and_recovery_adds_only_the_rest(
    tmp_path: Path,
) -> None:
    history = History(tmp_path)
    config = MockConfig(generation_time=0.02, faults=FaultConfig(expired_files=1))
    async with FluxClient.mock(config=config, history=history) as client:
        (result,) = [r async for r in client.generate_many(["a boat"], num_outputs=2, **SMALL)]
        assert isinstance(result.error, DownloadError)
        (paid,) = result.images
        assert isinstance(paid, StoredImage)  # the paid image, kept
        assert kept(tmp_path) == {(paid.prediction_id, paid.index): 1}
        assert len(job_files(tmp_path)) == 1  # the other output is still owed
        report = await History(tmp_path).recover(client)
    assert str(report) == "recovered 1 image from 1 job"
    assert kept(tmp_path) == {(paid.prediction_id, 0): 1, (paid.prediction_id, 1): 1}
    assert job_files(tmp_path) == []


async def test_a_generation_that_fails_downloading_keeps_what_arrived(tmp_path: Path) -> None:
    config = MockConfig(generation_time=0.02, faults=FaultConfig(expired_files=1))
    async with FluxClient.mock(config=config, history=History(tmp_path)) as client:
        with pytest.raises(DownloadError) as caught:
            await client.generate("a kite", num_outputs=3, **SMALL)
    images = caught.value.images
    assert len(images) == 2 and all(isinstance(image, StoredImage) for image in images)
    assert sum(kept(tmp_path).values()) == 2


async def test_history_false_keeps_nothing_and_journals_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_WIDGETS_HISTORY_DIR", str(tmp_path))
    async with FluxClient.mock(config=FAST, history=False) as client:
        images = await client.generate("an unkept boat", **SMALL)
        results = [r async for r in client.generate_many(["a", "b"], **SMALL)]
    assert [type(image) for image in images] == [GeneratedImage]
    assert all(type(image) is GeneratedImage for r in results for image in r.images)
    assert not tmp_path.joinpath(".jobs").exists() and len(History(tmp_path)) == 0


async def test_a_calls_history_wins_over_the_clients(tmp_path: Path) -> None:
    mine, elsewhere = History(tmp_path / "mine"), History(tmp_path / "elsewhere")
    async with FluxClient.mock(config=FAST, history=mine) as client:
        await client.generate("not kept", history=False, **SMALL)
        [_] = [r async for r in client.generate_many(["there"], history=elsewhere, **SMALL)]
        await client.generate("mine", **SMALL)
        other = client.with_provider("fal")  # a provider switch keeps where it keeps
        await other.generate("mine too", **SMALL)
        await other.aclose()
    assert [image.params.prompt for image in History(tmp_path / "elsewhere").load()] == ["there"]
    assert sorted(i.params.prompt for i in History(tmp_path / "mine").load()) == [
        "mine",
        "mine too",
    ]
    assert job_files(tmp_path / "mine") == job_files(tmp_path / "elsewhere") == []


class FullDisk(History):
    """A history whose disk is full: every write fails."""

    def add(self, image: GeneratedImage) -> Path:
        raise OSError(28, "No space left on device")


async def test_a_failed_write_returns_the_image_warns_and_recovery_stores_it_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="flux_widgets")
    async with FluxClient.mock(config=FAST, history=FullDisk(tmp_path)) as client:
        (image,) = await client.generate("a paid boat", **SMALL)  # no exception
        assert type(image) is GeneratedImage and image.data  # the image itself
        assert "was not saved to the history" in caplog.text
        assert "No space left on device" in caplog.text
        assert len(job_files(tmp_path)) == 1  # still owed to the history
        # The disk has room again: a new kernel's recovery stores it, once.
        report = await History(tmp_path).recover(client)
    assert str(report) == "recovered 1 image from 1 job"
    assert kept(tmp_path) == {(image.prediction_id, 0): 1}


async def test_storing_an_image_the_client_kept_again_does_not_store_it_twice(
    tmp_path: Path,
) -> None:
    async with FluxClient.mock(config=FAST, history=History(tmp_path)) as client:
        (image,) = await client.generate("a kept gull", **SMALL)
    same_folder = History(tmp_path)
    assert same_folder.store(image) is image
    assert sum(kept(tmp_path).values()) == 1
    assert isinstance(History(tmp_path / "other").store(image), StoredImage)  # another folder
    assert sum(kept(tmp_path / "other").values()) == 1


async def test_a_history_that_is_not_one_is_refused_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"History\(path\) keeps in that folder"):
        FluxClient.mock(config=FAST, history=str(tmp_path))  # type: ignore[arg-type]
    async with FluxClient.mock(config=FAST, history=False) as client:
        with pytest.raises(TypeError, match="not str"):
            await client.generate("a boat", history=str(tmp_path), **SMALL)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"not (Posix|Windows)Path"):
            client.generate_many(["a boat"], history=tmp_path)  # type: ignore[arg-type]
        assert client.usage.session.generations == 0  # nothing sent, nothing held
