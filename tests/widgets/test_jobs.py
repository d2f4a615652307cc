"""Job rows without a studio: queue places per client and event loop, and a Cancel button
that keeps its width."""

from __future__ import annotations

from flux_widgets.params import FluxParams
from flux_widgets.widgets import JobRow


def test_queue_places_are_counted_per_client_and_event_loop() -> None:
    from types import SimpleNamespace

    from flux_widgets.widgets.jobs import explain_queue

    # ipykernel 7 may run a click's callback on another event loop than a cell's, and the
    # client keeps one semaphore per loop: each loop's rows queue for their own slots.
    loop_a, loop_b = object(), object()
    client = SimpleNamespace(max_concurrency=1)
    rows = [JobRow(FluxParams(prompt="x")) for _ in range(3)]
    for row, loop in zip(rows, (loop_a, loop_a, loop_b), strict=True):
        row._task = SimpleNamespace(get_loop=lambda loop=loop: loop)
    rows[0]._enter("processing")
    explain_queue(rows, lambda row: client)
    assert rows[0].note == ""
    assert rows[1].note == "waiting for the one slot (busy here); #1 in line"
    assert rows[2].note == (
        "waiting for the one slot (held by other work on this client); #1 in line"
    )


def test_queue_notes_count_slots_in_words() -> None:
    from types import SimpleNamespace

    from flux_widgets.widgets.jobs import explain_queue

    loop = object()
    rows = [JobRow(FluxParams(prompt="x")) for _ in range(4)]
    for row in rows:
        row._task = SimpleNamespace(get_loop=lambda: loop)
    for row in rows[:2]:
        row._enter("processing")
    explain_queue(rows, lambda row: SimpleNamespace(max_concurrency=2))
    assert rows[2].note == "waiting for one of 2 slots (all 2 busy here); #1 in line"
    assert rows[3].note == "waiting for one of 2 slots (all 2 busy here); #2 in line"
    explain_queue(rows, lambda row: SimpleNamespace(max_concurrency=3))
    assert rows[2].note == (
        "waiting for one of 3 slots (2 busy here, the rest by other work on this client); "
        "#1 in line"
    )


def test_a_queued_rows_cancel_button_keeps_its_width_beside_a_long_line() -> None:
    row = JobRow(FluxParams(prompt="x"))
    assert row.cancel_button.layout.flex == "0 0 auto"  # never shrunk to "Can…"
    assert row.cancel_button.layout.width == "90px"
    assert row.label.layout.flex == "1 1 auto" and row.label.layout.min_width == "0"


def test_rows_keep_their_height_in_a_long_scrolling_list() -> None:
    from flux_widgets.widgets._html import STUDIO_CSS
    from flux_widgets.widgets.jobs import JobList

    jobs = JobList(keep_finished=20)
    for n in range(14):
        jobs.add(JobRow(FluxParams(prompt=f"job {n}")))
    box = jobs._box
    assert box.layout.max_height == "260px" and box.layout.overflow == "hidden auto"
    assert "flux-job-rows" in box._dom_classes
    # Flex items shrink by default: past ~9 rows they squashed to 15 px, text over buttons.
    assert all(row.layout.flex == "0 0 auto" for row in jobs.rows)
    assert ".flux-job-rows > .flux-job { flex: 0 0 auto; }" in STUDIO_CSS
    # tests/browser/test_studio.py measures the rows' heights in a page.
    jobs.close()
