"""Usage: session counts, history periods, percentiles, the key quota, and progress counts."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from factories import make_image

from flux_widgets.images import GeneratedImage
from flux_widgets.mock.cometapi import GRANTED_UNITS, key_usage_json
from flux_widgets.params import FluxParams
from flux_widgets.prompts.progress import BatchProgress
from flux_widgets.spending.ledger import Ledger
from flux_widgets.spending.usage import (
    GenerationRecord,
    KeyQuota,
    UsageReport,
    UsageSummary,
    fetch_key_quota,
    percentile,
)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0


def test_summary_of_records_splits_spend_failures_and_latency() -> None:
    records = [
        GenerationRecord("replicate", 2, 0.006, 0.8),
        GenerationRecord("replicate", 1, 0.003, 1.2),
        GenerationRecord("replicate", 0, 0.003, None, error="ContentFilteredError"),
        GenerationRecord("replicate", 0, 0.0, None, error="InvalidRequestError"),
        GenerationRecord("cometapi", 1, None, 0.9),
    ]
    summary = UsageSummary.of_records(records)
    assert summary.generations == 5 and summary.images == 4
    assert summary.spend == {"replicate": pytest.approx(0.012)}
    assert summary.unpriced == {"cometapi": 1}
    assert summary.failures == {"ContentFilteredError": 1, "InvalidRequestError": 1}
    # The table a person reads says them in words (wording.failure_words).
    report = UsageReport("replicate", summary, today=None, total=None)
    text = str(report)
    assert "refused by the safety filter 1, request refused 1" in text
    assert "Error" not in text and "Error" not in report._repr_html_()
    assert summary.latency_p50 == 0.9 and summary.latency_p95 == 1.2


def _image(
    prediction: str,
    index: int,
    when: datetime,
    n: int = 2,
    *,
    provider: str | None = "replicate",
    price: float | None = 0.003,
) -> GeneratedImage:
    return GeneratedImage(
        data=b"",
        format="webp",
        width=1024,
        height=1024,
        params=FluxParams(prompt="p", num_outputs=n),
        prediction_id=prediction,
        index=index,
        created_at=when,
        provider=provider,
        price=price,
    )


def test_history_periods_count_generations_by_prediction() -> None:
    now = datetime.now(timezone.utc)
    old = now - timedelta(days=3)
    entries = [_image("a", 0, old), _image("a", 1, old), _image("b", 0, now), _image("b", 1, now)]
    total = UsageSummary.of_history(entries)
    today = UsageSummary.of_history(entries, since=now - timedelta(hours=1))
    assert (total.generations, total.images) == (2, 4)
    assert total.spend == {"replicate": pytest.approx(4 * 0.003)}
    assert (today.generations, today.images) == (1, 2)
    assert today.spend == {"replicate": pytest.approx(2 * 0.003)}


def _mixed_history() -> list[GeneratedImage]:
    """Images of three providers at their prices then, one unpriced, two from older records."""
    now = datetime.now(timezone.utc)
    return [
        _image("r", 0, now, provider="replicate", price=0.003),
        _image("r", 1, now, provider="replicate", price=0.003),
        _image("f", 0, now, 1, provider="fal", price=0.006),  # 2 MP at $0.003 per megapixel
        _image("c", 0, now, 1, provider="cometapi", price=None),
        _image("o", 0, now, provider=None, price=None),
        _image("o", 1, now, provider=None, price=None),
    ]


@pytest.mark.parametrize("selected", ["replicate", "fal", "cometapi", "together"])
def test_history_is_priced_as_made_whatever_provider_is_selected(selected: str) -> None:
    report = Ledger(selected).report(_mixed_history())
    assert report.total is not None
    assert report.total.spend == {"replicate": pytest.approx(0.006), "fal": pytest.approx(0.006)}
    assert report.total.unpriced == {"cometapi": 1}
    assert report.total.unrecorded == 2
    assert report.rows()[2][3] == (
        "$0.0060 fal, $0.0060 replicate, 1 generation unpriced (cometapi), "
        "2 images made before prices were recorded"
    )


def test_old_records_are_never_priced_at_the_selected_providers_price() -> None:
    now = datetime.now(timezone.utc)
    old = [_image("o", i, now, provider=None, price=None) for i in range(44)]
    for selected in ("replicate", "fal"):
        summary = Ledger(selected).report(old).total
        assert summary is not None
        assert summary.spend == {} and summary.total_spend == 0
        assert summary.unrecorded == 44 and summary.images == 44


def test_report_text_shows_periods_cap_and_quota() -> None:
    session = UsageSummary.of_records([GenerationRecord("replicate", 1, 0.003, 0.5)])
    quota = KeyQuota(total_granted=500000, total_used=1500, total_available=498500)
    report = UsageReport(
        "replicate", session, today=session, total=None, max_spend=1.0, spent=0.003, quota=quota
    )
    text = str(report)
    assert re.search(r"^generations +1 \| 1 \| -$", text, re.MULTILINE)
    assert "$0.0030 replicate" in text
    assert "spending cap: $0.0030 of $1.00 ($0.9970 left)" in text
    assert "1,500 used of 500,000, 498,500 available" in text
    assert "<table>" in report._repr_html_()


def test_key_quota_parses_new_api_envelope_and_top_level() -> None:
    quota = KeyQuota.from_json(
        {
            "code": True,
            "data": {
                "total_granted": 10,
                "total_used": 4,
                "total_available": 6,
                "expires_at": 1_900_000_000,
                "name": "class key",
            },
        }
    )
    assert quota is not None
    assert (quota.total_granted, quota.total_used, quota.total_available) == (10, 4, 6)
    assert quota.expires_at is not None and quota.expires_at.year == 2030
    assert quota.name == "class key"
    flat = KeyQuota.from_json({"total_available": 3, "expires_at": 0})
    assert flat is not None and flat.total_available == 3 and flat.expires_at is None
    assert KeyQuota.from_json({"error": "x"}) is None
    assert KeyQuota.from_json(["x"]) is None


@pytest.mark.parametrize("status", [404, 401, 403, 500])
async def test_key_quota_route_errors_mean_not_available(status: int) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"success": False, "message": "token not found"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        assert await fetch_key_quota(http, "https://api.example", auth=httpx.Auth()) is None


async def test_key_quota_route_answer_is_read() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(
            200, json={"data": {"total_granted": 9, "total_used": 1, "total_available": 8}}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        quota = await fetch_key_quota(http, "https://api.example", auth=httpx.Auth())
    assert quota is not None and quota.total_available == 8
    assert seen == ["https://api.example/api/usage/token"]


async def test_key_quota_html_answer_means_not_available() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        assert await fetch_key_quota(http, "https://api.example", auth=httpx.Auth()) is None


def test_mock_key_usage_goes_down_with_images(session_mock) -> None:  # type: ignore[no-untyped-def]
    data = key_usage_json(session_mock.state)["data"]
    assert data["total_granted"] == GRANTED_UNITS
    assert data["total_used"] + data["total_available"] == GRANTED_UNITS


def test_progress_counts_done_failed_running_and_writes_a_text_bar() -> None:
    out = io.StringIO()
    seen: list[str] = []
    progress = BatchProgress(4, file=out, listener=lambda p: seen.append(p.text()))
    progress.status(0, "queued")
    assert progress.running == 0 and progress.queued == 4
    progress.status(0, "starting")
    progress.status(1, "processing")
    progress.status(1, "downloading")
    assert progress.running == 2 and progress.queued == 2
    progress.finish(0, ok=True)
    progress.finish(1, ok=False)
    progress.finish(1, ok=True)  # a second report changes nothing
    progress.status(1, "starting")
    assert (progress.done, progress.failed, progress.running) == (1, 1, 0)
    progress.close()
    assert seen[-1] == "2/4 · 1 done · 1 failed · 0 running"
    assert "done=1, failed=1, running=0" in out.getvalue()
    assert "2/4" in out.getvalue()


def test_history_index_records_count_by_the_prediction_in_their_stem() -> None:
    from types import SimpleNamespace

    now = datetime.now(timezone.utc)
    params = {"prompt": "p", "num_outputs": 2}
    records = [
        SimpleNamespace(stem="20260101T000000.000001Z-abc-0", params=params, created_at=now),
        SimpleNamespace(stem="20260101T000000.000002Z-abc-1", params=params, created_at=now),
        SimpleNamespace(stem="20260101T000001.000000Z-def-0", params=params, created_at=now),
    ]
    summary = UsageSummary.of_history(records)
    assert (summary.generations, summary.images) == (2, 3)
    assert summary.unrecorded == 3 and summary.total_spend == 0  # records before prices


def test_history_index_records_are_priced_by_their_own_provider_and_price(
    tmp_path: Path,
) -> None:
    from flux_widgets.history.store import History

    history = History(tmp_path)
    made = [
        dataclasses.replace(make_image(0), provider="fal", price=0.006),
        dataclasses.replace(make_image(1), provider="cometapi", price=None),
    ]
    for image in made:
        history.add(image)
    summary = UsageSummary.of_history(history.page(0, 10))
    assert summary.spend == {"fal": pytest.approx(0.006)}
    assert summary.unpriced == {"cometapi": 1} and summary.unrecorded == 0


def test_a_mock_report_labels_itself_and_its_key_quota_as_the_mocks() -> None:
    session = UsageSummary.of_records([GenerationRecord("cometapi", 1, None, 0.5)])
    quota = KeyQuota(total_granted=500000, total_used=1500, total_available=498500)
    mock = UsageReport("cometapi", session, quota=quota, mock=True)
    assert (
        str(mock)
        .splitlines()[0]
        .startswith("usage on cometapi (mock API: placeholders, nothing billed)")
    )
    assert "the mock API's key quota (made-up numbers)" in str(mock)
    assert "mock API" in mock._repr_html_()
    real = UsageReport("cometapi", session, quota=quota)
    assert "mock" not in str(real) and "key quota (provider's units)" in str(real)


async def test_a_generation_billed_without_images_counts_today_as_in_the_session() -> None:
    # Together has no server-side cancel: a cancelled generation is still billed, yet leaves no
    # image in the history, whose records today's and the whole history's counts come from.
    import asyncio
    import contextlib

    from flux_widgets import FluxClient
    from flux_widgets.mock import MockConfig

    client = FluxClient.mock(
        config=MockConfig(generation_time=0.02), provider="together", history=False, timeout=30
    )
    task = asyncio.ensure_future(client.generate("[mock:stuck] a boat", megapixels="0.25"))
    await asyncio.sleep(0.3)  # sent: the mock holds it
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    report = client.usage_report([])
    assert report.session.total_spend > 0
    assert report.today is not None and report.total is not None
    assert report.today.total_spend == report.session.total_spend
    assert report.total.generations == report.today.generations == 1
    await client.aclose()
