"""The client with templates, styles, progress, usage and a spending cap (mock and fake servers)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from flux_widgets import BudgetExceededError, FluxClient, FluxParams, read_recipe
from flux_widgets.mock import MockConfig
from flux_widgets.prompts.progress import BatchProgress
from flux_widgets.prompts.templates import PromptOrigin
from flux_widgets.recipes import recipe_json
from flux_widgets.spending.prices import Price


class CountingServer:
    """A fake Replicate API: every create succeeds at once with one tiny image; counts creates."""

    def __init__(self, fail_prompts: tuple[str, ...] = ()) -> None:
        self.creates = 0
        self.fail_prompts = fail_prompts
        out = io.BytesIO()
        Image.new("RGB", (16, 16), (10, 120, 200)).save(out, "WEBP")
        self.image = out.getvalue()

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/predictions"):
            body = json.loads(request.content)["input"]
            if body["prompt"] in self.fail_prompts:
                return httpx.Response(
                    422, json={"title": "Input validation failed", "detail": "nope", "status": 422}
                )
            self.creates += 1
            n = self.creates
            return httpx.Response(
                201,
                json={
                    "id": f"p{n}",
                    "status": "succeeded",
                    "input": body,
                    "output": [f"https://files.fake/p{n}/out-0.webp"],
                    "logs": "",
                    "error": None,
                },
            )
        if request.url.host == "files.fake":
            return httpx.Response(200, content=self.image)
        return httpx.Response(404, json={"detail": "not found"})

    def client(self, **kwargs: object) -> FluxClient:
        return FluxClient(
            api_key="r8_fake",
            provider="replicate",
            base_url="https://api.fake",
            transport=httpx.MockTransport(self.handler),
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture
async def mock_client() -> AsyncIterator[FluxClient]:
    async with FluxClient.mock(
        config=MockConfig(generation_time=0.02),
        prices={"cometapi": Price(per_image=0.003, source="test")},
    ) as client:
        yield client


async def test_two_hundred_concurrent_generations_never_pass_the_cap() -> None:
    server = CountingServer()
    client = server.client(max_spend=0.003 * 37, max_concurrency=50)
    params = FluxParams(prompt="a fox", seed=1)
    async with client:
        results = await asyncio.gather(
            *(client.generate(params) for _ in range(200)), return_exceptions=True
        )
    refused = [r for r in results if isinstance(r, BudgetExceededError)]
    assert server.creates == 37
    assert len(refused) == 163 and sum(isinstance(r, list) for r in results) == 37
    assert client.spending_cap is not None
    assert client.spending_cap.spent == pytest.approx(0.003 * 37)
    assert client.spending_cap.reserved == pytest.approx(0)


async def test_refused_creates_release_their_share_of_the_cap() -> None:
    server = CountingServer(fail_prompts=("bad",))
    client = server.client(max_spend=0.003)
    async with client:
        with pytest.raises(Exception, match="nope"):
            await client.generate("bad")
        await client.generate("good")  # the refused one was not charged
    assert server.creates == 1
    usage = client.usage_report(history=[])
    assert usage.session.failures == {"InvalidRequestError": 1}
    assert usage.session.generations == 2 and usage.session.images == 1


async def test_a_batch_the_cap_cannot_finish_is_refused_before_any_request() -> None:
    server = CountingServer()
    client = server.client(max_spend=0.003 * 3)
    async with client:
        with pytest.raises(BudgetExceededError, match="batch of 4"):
            async for _ in client.generate_many("a {red|green} {car|bicycle}"):
                pass
    assert server.creates == 0


async def test_template_expands_into_every_combination_with_its_origin(
    mock_client: FluxClient,
) -> None:
    results = [
        r
        async for r in mock_client.generate_many(
            "a {red|green} {car|bicycle}", seed=5, megapixels="0.25"
        )
    ]
    prompts = sorted(r.params.prompt for r in results)
    assert prompts == ["a green bicycle", "a green car", "a red bicycle", "a red car"]
    for result in results:
        [image] = result.images
        assert image.origin == PromptOrigin("a {red|green} {car|bicycle}")
        assert image.params.seed == 5
        recipe = json.loads(recipe_json(image))
        assert recipe["origin"]["template"] == "a {red|green} {car|bicycle}"
        assert recipe["params"]["prompt"] == result.params.prompt


async def test_random_picks_and_style(mock_client: FluxClient) -> None:
    results = [
        r
        async for r in mock_client.generate_many(
            "a __animals__",
            random_count=3,
            seed_template=4,
            style="pixel art",
            megapixels="0.25",
        )
    ]
    assert len(results) == 3
    for result in results:
        assert result.params.prompt.startswith("pixel art of a ")
        assert result.params.output_format == "png"  # the style's parameter
        origin = result.images[0].origin
        assert origin is not None and origin.style == "pixel art"


async def test_saved_image_keeps_template_and_style(mock_client: FluxClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    [result] = [
        r async for r in mock_client.generate_many("a {fox}", style="watercolor", megapixels="0.25")
    ]
    path = result.images[0].save(tmp_path / "fox")
    assert read_recipe(path).prompt.startswith("a watercolor painting of a fox")
    from flux_widgets.recipes import read_origin

    assert read_origin(path) == PromptOrigin(
        "a {fox}", style="watercolor", style_template=result.images[0].origin.style_template
    )


async def test_progress_counts_done_failed_running(mock_client: FluxClient) -> None:
    counts = BatchProgress(3, bar=False)
    seen_running: list[int] = []
    counts._listener = lambda p: seen_running.append(p.running)
    results = [
        r
        async for r in mock_client.generate_many(
            ["a cat", "[mock:fail] a dog", "a cow"], megapixels="0.25", progress=counts
        )
    ]
    assert len(results) == 3
    assert (counts.done, counts.failed, counts.running) == (2, 1, 0)
    assert max(seen_running) >= 1


async def test_progress_true_writes_a_tqdm_bar(mock_client: FluxClient, capsys) -> None:  # type: ignore[no-untyped-def]
    results = [r async for r in mock_client.generate_many(["a", "b"], progress=True)]
    assert len(results) == 2
    err = capsys.readouterr().err
    assert "2/2" in err and "done=2, failed=0, running=0" in err


async def test_usage_and_key_quota_on_the_mock(mock_client: FluxClient) -> None:
    await mock_client.generate("a cat", num_outputs=2, megapixels="0.25")
    usage = mock_client.usage_report(history=[])
    assert usage.session.generations == 1 and usage.session.images == 2
    assert usage.session.spend == {"cometapi": pytest.approx(0.006)}
    assert usage.session.latency_p50 is not None
    quota = await mock_client.key_quota()
    assert quota is not None and quota.total_used is not None and quota.total_used >= 3000
    assert mock_client.usage_report(history=[]).quota == quota


async def test_key_quota_is_none_where_the_route_is_missing() -> None:
    server = CountingServer()
    async with server.client() as client:
        assert await client.key_quota() is None  # Replicate: no such route, none asked


async def test_unknown_price_under_a_cap_is_refused_before_any_request() -> None:
    async with FluxClient.mock(config=MockConfig(generation_time=0.02), max_spend=1) as client:
        with pytest.raises(BudgetExceededError, match="price is unknown"):
            await client.generate("a cat")
        assert client._mock_server.state.creates == 0


async def test_another_provider_keeps_the_prices_and_the_same_cap() -> None:
    async with FluxClient.mock(
        config=MockConfig(generation_time=0.02),
        prices={"cometapi": Price(per_image=0.01)},
        max_spend=0.05,
    ) as client:
        await client.generate("a cat", megapixels="0.25")
        fal = client.with_provider("fal")
        assert fal.spending_cap is client.spending_cap
        assert fal.prices["cometapi"].per_image == 0.01
        assert fal.estimate_cost(FluxParams(prompt="x", megapixels="0.25")) == pytest.approx(0.003)


@pytest.mark.parametrize(
    ("provider", "prices", "each"),
    [
        ("replicate", None, 0.003),
        ("fal", None, 0.003),  # 1 MP: one megapixel
        ("cometapi", None, None),  # no published price: recorded as unknown, never 0
        ("cometapi", {"cometapi": Price(per_image=0.01)}, 0.01),  # the client's own price
    ],
)
async def test_each_image_records_the_provider_and_the_price_it_was_made_at(
    provider: str, prices: dict[str, Price] | None, each: float | None
) -> None:
    async with FluxClient.mock(
        config=MockConfig(generation_time=0.01), provider=provider, prices=prices
    ) as client:
        images = await client.generate("a red car", num_outputs=2, megapixels="1")
    assert [(image.provider, image.price) for image in images] == [(provider, each)] * 2


async def test_a_price_set_on_the_client_is_what_its_images_and_the_cap_use() -> None:
    async with FluxClient.mock(
        config=MockConfig(generation_time=0.01), provider="cometapi", max_spend=0.05
    ) as client:
        with pytest.raises(BudgetExceededError, match="price is unknown"):
            await client.generate("a red car")
        client.set_price(0.02)
        [image] = await client.generate("a red car")
        assert image.price == 0.02
        assert client.spending_cap is not None and client.spending_cap.spent == 0.02
        with pytest.raises(ValueError, match="dollars"):
            client.set_price(-1)


async def test_usage_of_a_session_survives_a_switch_of_provider() -> None:
    async with FluxClient.mock(
        config=MockConfig(generation_time=0.01), provider="replicate"
    ) as client:
        await client.generate("a red car", megapixels="0.25")
        other = client.with_provider("together")
        await other.generate("a red car", megapixels="0.25")
        for either in (client, other):
            session = either.usage_report(history=[]).session
            assert session.generations == 2
            assert session.spend == {
                "replicate": pytest.approx(0.003),
                "together": pytest.approx(0.0027),
            }
        await other.aclose()


_STUCK_AFTER_ONE = ["a boat", *(f"[mock:stuck] boat {n}" for n in range(7))]


def _stuck_client() -> FluxClient:
    return FluxClient.mock(
        config=MockConfig(generation_time=0.02),
        prices={"cometapi": Price(per_image=0.01, source="test")},
        max_spend=1.0,
        max_concurrency=2,
    )


async def _cancelled_on_the_server(client: FluxClient, count: int) -> None:
    """Wait (bounded) until ``count`` predictions were cancelled on the mock."""
    state = client._mock_server.state
    for _ in range(500):
        if sum(p.canceled_at is not None for p in state.predictions.values()) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the running items were not cancelled on the server")


async def test_aclose_on_generate_many_sends_nothing_queued_and_cancels_the_running() -> None:
    async with _stuck_client() as client:
        batch = client.generate_many(_STUCK_AFTER_ONE)
        first = await anext(batch)  # "a boat"; then 2 stuck items run, 5 wait
        assert first.ok
        await asyncio.sleep(0.05)  # the two running items reach the server
        await batch.aclose()
        state = client._mock_server.state
        assert state.creates == 3
        await _cancelled_on_the_server(client, 2)
        assert client.spending_cap is not None
        assert client.spending_cap.reserved == pytest.approx(0.0)  # unsent items: released


async def test_a_cancelled_task_iterating_generate_many_stops_the_batch() -> None:
    async with _stuck_client() as client:
        seen: list[int] = []

        async def consume() -> None:
            async for result in client.generate_many(_STUCK_AFTER_ONE):
                seen.append(result.index)

        task = asyncio.ensure_future(consume())
        for _ in range(500):  # until item 0 is done, two stuck items running
            if seen:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the two running items reach the server
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0.05)  # a generation's time: nothing more is sent
        assert seen == [0]
        assert client._mock_server.state.creates == 3
        await _cancelled_on_the_server(client, 2)


async def test_a_task_cancelled_in_its_loop_body_stops_the_generate_many_it_left_open() -> None:
    # The studio's case: the cancel lands while a result is handled (filed, shown), outside
    # the generator, which stays open; its workers went on sending the whole batch.
    async with _stuck_client() as client:
        handling = asyncio.Event()

        async def consume() -> None:
            batch = client.generate_many(_STUCK_AFTER_ONE)
            async for _ in batch:
                handling.set()
                await asyncio.sleep(10)  # handling a result: cancelled here

        task = asyncio.ensure_future(consume())
        await handling.wait()
        await asyncio.sleep(0.05)  # the two stuck items reach the server
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await _cancelled_on_the_server(client, 2)
        assert client._mock_server.state.creates == 3
        assert client.spending_cap is not None
        assert client.spending_cap.reserved == pytest.approx(0.0)
