"""The benchmark code's correctness (statistics, request counting, tables), never its timings.

Timings on a shared 2-core machine are information, not assertions: the one end-to-end test
here runs a tiny quick benchmark and checks the shape of what it prints.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench_client, bench_history, bench_import, bench_providers
from benchmarks.mockproc import (
    count_requests,
    parse_timestamp,
    prediction_ids,
    query_times,
)
from benchmarks.stats import COLUMNS, Row, format_table, median, peak_count, percentile
from flux_widgets.mock.predictions import iso_timestamp
from flux_widgets.transport.polling import DurationEstimate, PollSchedule


def record(method: str, path: str, time: float = 0.0) -> dict[str, Any]:
    return {"method": method, "path": path, "time": time}


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    values = [float(v) for v in range(1, 11)]  # 1..10
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    assert percentile(values, 50) == 5.5
    assert percentile(values, 95) == pytest.approx(9.55)
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_peak_count_finds_the_busiest_window() -> None:
    times = [0.0, 0.1, 0.2, 1.5, 1.6, 1.7, 1.8, 5.0]
    assert peak_count(times, 1.0) == 4
    assert peak_count(times, 0.05) == 1
    assert peak_count([], 1.0) == 0


def test_requests_are_sorted_into_creates_queries_cancels_and_files() -> None:
    records = [
        record("POST", "/replicate/v1/models/black-forest-labs/flux-schnell/predictions", 1.0),
        record("GET", "/replicate/v1/predictions/abc", 1.5),
        record("GET", "/replicate/v1/predictions/abc", 1.6),
        record("POST", "/replicate/v1/predictions/abc/cancel", 1.7),
        record("GET", "/files/abc/out-0.webp", 1.8),
        record("GET", "/files/abc/out-1.webp", 1.9),
        record("GET", "/files/def/out-0.webp", 2.0),
    ]
    counts = count_requests(records)
    assert (counts.creates, counts.queries, counts.cancels, counts.files) == (1, 2, 1, 3)
    assert counts.api == 4
    assert query_times(records) == [1.5, 1.6, 1.7]
    assert prediction_ids(records) == ["abc", "def"]


def test_timestamps_parse_back_to_the_nanosecond_mock_clock() -> None:
    ns = 1_740_582_123_355_487_090
    assert parse_timestamp(iso_timestamp(ns)) == pytest.approx(ns / 1e9, abs=1e-6)
    assert parse_timestamp("2025-02-26T15:02:03Z") == pytest.approx(1740582123.0)


def test_table_has_a_header_a_separator_and_aligned_rows() -> None:
    rows = [
        Row("1", "latency", "810 ms", "replicate 1010 ms", "1.01x", "<= 1.05x", True),
        Row("2", "lag", "25 ms", "-", "-", "<= 20 ms", False),
        Row("", "detail", "x", "-", "-", "-", None),
    ]
    text = format_table("Title", rows, notes=["a note"])
    lines = text.splitlines()
    assert lines[0] == "### Title"
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + len(rows)
    assert [c.strip() for c in table[0].strip("|").split("|")] == list(COLUMNS)
    assert len({len(line) for line in table}) == 1, "columns are aligned"
    verdicts = [line.rstrip(" |").rsplit("|", 1)[1].strip() for line in table[2:]]
    assert verdicts == ["yes", "NO", "-"]
    assert lines[-1] == "- a note"


def test_duration_estimate_learns_faster_at_once_and_slower_only_when_it_repeats() -> None:
    estimate = DurationEstimate()
    estimate.observe(0.05)
    assert estimate.seconds == 0.05  # faster than the prior: learnt at once
    estimate.observe(1.05)
    assert estimate.seconds == 0.05  # one slower generation: not yet believed
    estimate.observe(1.05)  # most of the latest agree: now it moves, a bounded step
    assert estimate.seconds == pytest.approx(0.05 + 0.3 * 1.0)
    estimate.observe(-1.0)  # nonsense durations are ignored
    assert estimate.observations == 3


def test_poll_schedule_waits_until_just_after_the_expected_end_then_backs_off() -> None:
    schedule = PollSchedule(0.8, margin=0.005, first_gap=0.02, growth=1.5, max_gap=0.05)
    assert schedule.next_delay(0.01) == pytest.approx(0.795)
    assert [schedule.next_delay(1.0) for _ in range(4)] == pytest.approx([0.02, 0.03, 0.045, 0.05])
    late = PollSchedule(0.8)
    assert late.next_delay(2.0) == pytest.approx(0.02), "already late: poll soon"


def test_quick_client_benchmark_prints_every_row() -> None:
    text = asyncio.run(bench_client.main(quick=True, iterations=2))
    numbers = [
        line.strip("|").split("|")[0].strip() for line in text.splitlines() if line.startswith("|")
    ][2:]
    assert numbers == ["1", "2", "3", "3b", "3b", "4", "4b", "5"]
    for line in text.splitlines()[4:12]:
        assert len(line.strip("|").split("|")) == len(COLUMNS)
        assert re.search(r"\| (yes|NO|-) +\|$", line), line


def test_quick_providers_benchmark_has_a_row_per_registered_provider_and_the_grid() -> None:
    from flux_widgets.providers import PROVIDERS

    text = asyncio.run(bench_providers.main(quick=True, iterations=1))
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("|")][2:]
    numbers = [row[0].strip() for row in rows]
    assert numbers == [f"P{n}" for n in range(1, len(PROVIDERS) + 1)] + ["PG"]
    for name, row in zip(PROVIDERS, rows, strict=False):
        # Every provider the mock serves is measured (an error would be named in its row).
        assert row[1].strip().startswith(f"{name}: median latency; API requests per image")
        assert re.search(r"\d+\.\d ms", row[2]) and "cometapi" in row[3]
    assert "PromptGrid" in rows[-1][1] and re.search(r"\d+\.\d ms", rows[-1][2])


def test_requests_to_the_file_host_are_not_counted_as_api_requests() -> None:
    records = [record("POST", "/fal/fal-ai/flux/schnell"), record("GET", "/files/a/out-0.jpg")]
    assert bench_providers.api_requests(records) == 1


def test_quick_import_benchmark_compares_with_the_dependencies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bench_import, "import_seconds", lambda statement: 0.1)
    text = bench_import.main(quick=True, repeats=2)
    assert "| 9 " in text and "100.0 ms" in text and "1.000x" in text


async def test_history_benchmark_opens_one_page_and_reports_every_row(tmp_path: Path) -> None:
    bench_history.make_fixture(tmp_path / "h", 40)
    index = bench_history.measure_index(tmp_path / "h")
    assert index["count"] == 40
    new = await bench_history.measure(tmp_path / "h", "new")
    old = await bench_history.measure(tmp_path / "h", "old")
    # The new start-up reads the newest page; the old one read every image.
    assert (new["gallery_images"], new["tiles"], old["gallery_images"]) == (24, 24, 40)
    assert new["page_count"] == 4 and new["thumbs_on_page"] == new["records_on_page"] > 0
    assert len(new["search"]) == len(old["search"]) == len(bench_history.SEARCH_WORDS)
    rows = bench_history.rows_for(40, index, new, old, new)
    rows += bench_history.growth_rows({40: new, 400: new})
    text = format_table("History", rows)
    numbers = [line.strip("|").split("|")[0].strip() for line in text.splitlines()[4:]]
    assert numbers == ["H1", "H2", "H3", "H4", "H4b", "H5", "H5b", *["H6"] * 4]
    assert "| yes |" in text.splitlines()[-1]  # no growth from identical results
