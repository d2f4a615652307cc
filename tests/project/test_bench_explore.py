"""bench_explore's code (not its timings): every row prints, and the cap row holds exactly."""

from __future__ import annotations

import asyncio

from benchmarks import bench_explore


def test_quick_explore_benchmark_prints_every_row_and_the_cap_holds() -> None:
    text = asyncio.run(bench_explore.main(quick=True))
    rows = [line for line in text.splitlines() if line.startswith("| E")]
    assert [row.split("|")[1].strip() for row in rows] == ["E1", "E2", "E2b", "E2c"]
    cap_row = rows[-1]
    assert "37 creates sent, 37 succeeded, 163 refused" in cap_row
    assert cap_row.rstrip(" |").endswith("yes")


def test_the_benchmark_template_has_ten_thousand_combinations() -> None:
    from flux_widgets.prompts.templates import PromptTemplate

    assert PromptTemplate(bench_explore.TEMPLATE).count() == 10_000
