"""Exact repeats in the history: which recipes have a key, and which stored sets are served."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from factories import make_image

from flux_widgets.history.records import recipe_key
from flux_widgets.history.repeats import find_repeat, find_repeats
from flux_widgets.history.store import History
from flux_widgets.images import GeneratedImage
from flux_widgets.params import FluxParams
from flux_widgets.providers import get_provider
from flux_widgets.providers.huggingface import HuggingFaceRouter

EXACT = FluxParams(prompt="a boat", seed=7, go_fast=False)


def _made(
    n: int, index: int, params: FluxParams = EXACT, source: str = "replicate"
) -> GeneratedImage:
    return replace(make_image(n), params=params, index=index, seed=params.seed, source=source)


def test_only_a_deterministic_recipe_from_a_known_source_has_a_key() -> None:
    key = recipe_key(EXACT, "replicate")
    assert key is not None and len(key) == 64
    assert recipe_key(asdict(EXACT), "replicate") == key  # a record's dict: the same key
    assert recipe_key(EXACT.replace(go_fast=True), "replicate") is None
    assert recipe_key(EXACT.replace(seed=None), "replicate") is None
    assert recipe_key(EXACT, None) is None  # images from before the source was recorded
    # Every input field is part of it, and so is the service that made it.
    others = [
        recipe_key(EXACT.replace(**{name: value}), "replicate")
        for name, value in [
            ("seed", 8),
            ("prompt", "a boat "),
            ("aspect_ratio", "3:2"),
            ("megapixels", "0.25"),
            ("num_inference_steps", 3),
            ("num_outputs", 2),
            ("output_format", "png"),
            ("output_quality", 79),
            ("disable_safety_checker", True),
        ]
    ]
    sources = [recipe_key(EXACT, name) for name in ("cometapi", "mock/replicate")]
    assert len({key, *others, *sources}) == 2 + len(others) + 1


def test_a_record_missing_a_newer_field_gets_the_same_key_as_its_default() -> None:
    data = asdict(EXACT)
    del data["megapixels"]  # written before the field existed: its default then and now
    assert recipe_key(data, "replicate") == recipe_key(EXACT, "replicate")


def test_each_provider_names_its_source_and_the_mock_has_its_own() -> None:
    assert get_provider("replicate").image_source() == "replicate"
    assert get_provider("replicate").image_source(mock=True) == "mock/replicate"
    assert HuggingFaceRouter("fal-ai").image_source() == "huggingface/fal-ai"
    assert HuggingFaceRouter("together").image_source() == "huggingface/together"
    assert HuggingFaceRouter("auto").image_source() is None  # the Hub picks: not one source


def test_a_complete_set_is_served_newest_first_in_output_order(tmp_path: Path) -> None:
    history = History(tmp_path)
    two = EXACT.replace(num_outputs=2)
    for n, index in [(0, 1), (1, 0), (2, 0)]:  # the first output made twice ("make again")
        history.add(_made(n, index, two))
    found = find_repeat(history, two, "replicate")
    assert found is not None
    assert [(image.index, image.created_at.second) for image in found] == [(0, 32), (1, 30)]
    assert all(image.source == "replicate" for image in found)
    assert find_repeat(history, two, "mock/replicate") is None  # the mock's are its own
    assert find_repeat(history, two, "cometapi") is None


def test_an_incomplete_or_changed_set_is_not_served(tmp_path: Path) -> None:
    history = History(tmp_path)
    two = EXACT.replace(num_outputs=2)
    history.add(_made(0, 0, two))
    assert find_repeat(history, two, "replicate") is None  # output 1 was never stored
    history.add(_made(1, 1, two))
    assert find_repeat(history, two, "replicate") is not None
    record = history.page()[0]
    (tmp_path / record.file).write_bytes(b"not the image it was")
    assert find_repeat(history, two, "replicate") is None  # its file no longer matches
    history.delete(record.stem)
    assert find_repeat(history, two, "replicate") is None


def test_a_server_picked_seed_serves_the_same_recipe_with_that_seed_fixed(tmp_path: Path) -> None:
    history = History(tmp_path)
    image = replace(_made(0, 0, EXACT.replace(seed=None)), seed=4242)
    history.add(image)
    assert find_repeat(history, EXACT.replace(seed=4242), "replicate") is not None
    assert find_repeat(history, EXACT.replace(seed=None), "replicate") is None


def test_a_batch_is_looked_up_at_once_and_only_its_held_items_are_found(tmp_path: Path) -> None:
    history = History(tmp_path)
    prompts = [f"a boat {n}" for n in range(4)]
    for n in (1, 3):
        history.add(_made(n, 0, EXACT.replace(prompt=prompts[n])))
    items = [EXACT.replace(prompt=p) for p in [*prompts, prompts[3]]]
    found = find_repeats(history, items, "replicate")
    assert sorted(found) == [1, 3, 4]
    assert [image.params.prompt for image in found[4]] == ["a boat 3"]
    assert find_repeats(history, [item.replace(go_fast=True) for item in items], "replicate") == {}


def test_the_source_is_kept_in_the_record(tmp_path: Path) -> None:
    history = History(tmp_path)
    path = history.add(_made(0, 0, source="mock/cometapi"))
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["source"] == "mock/cometapi"
    assert history.open(path.stem).source == "mock/cometapi"
    old = history.add(make_image(1))  # unknown source: no key, never served
    assert "source" not in json.loads(old.with_suffix(".json").read_text())


@pytest.mark.parametrize("bad", [{"num_outputs": 9}, {"unknown": 1}])
def test_a_record_this_version_refuses_is_listed_but_never_served(
    tmp_path: Path, bad: dict[str, object]
) -> None:
    history = History(tmp_path)
    path = history.add(_made(0, 0))
    record_path = path.with_suffix(".json")
    record = json.loads(record_path.read_text())
    record["params"].update(bad)
    record_path.write_text(json.dumps(record))
    history.reindex()
    assert len(history) == 1
    assert find_repeat(history, EXACT, "replicate") is None
