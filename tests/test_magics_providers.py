"""%%flux --provider a,b,c: the same prompt on each provider, side by side, with the grid's
captions; one provider keeps the magic as it was."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image

import flux_widgets
from flux_widgets import FluxClient
from flux_widgets.history.store import StoredImage
from flux_widgets.magics import parse_magic
from flux_widgets.mock import MockConfig, MockServer
from flux_widgets.providers import PROVIDERS

NAMES = list(PROVIDERS)
KEY = "sk-magic-compare-0123456789"


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig(generation_time=0.05)) as server:
        yield server


@pytest.fixture
def shell(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    for provider in PROVIDERS.values():
        for name in provider.key_env_vars:
            monkeypatch.delenv(name, raising=False)
    for name in ("FLUX_PROVIDER", "FLUX_WIDGETS_MOCK", "FLUX_PRICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLUX_BASE_URL", server.url)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "flux_widgets")
    yield shell
    InteractiveShell.clear_instance()


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What the magic displays (IPython.display.display's arguments)."""
    seen: list[Any] = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda *objects: seen.extend(objects))
    return seen


def test_several_providers_run_the_prompt_on_each_with_captions(
    shell: InteractiveShell, shown: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    line = f"--provider {','.join(NAMES)} --seed 40 -n 2 --megapixels 0.25 --format webp"
    images = shell.run_cell_magic("flux", line, "a paper boat\n")

    # Kept in the history (the default folder) as they arrived: the stored copies.
    assert [type(image) for image in images] == [StoredImage] * 2 * len(NAMES)
    # Row by row: seeds 40 then 41, each on every provider in the order given.
    assert [image.seed for image in images] == [40] * len(NAMES) + [41] * len(NAMES)
    out = capsys.readouterr().out
    assert f"{2 * len(NAMES)} images on {len(NAMES)} providers" in out
    for name, image in zip(NAMES * 2, images, strict=True):
        webp = "webp" in PROVIDERS[name].capabilities.allowed_choices("output_format")
        assert (image.format == "webp") == webp
        line_of = next(text for text in out.splitlines() if text.startswith(f"{name}: seed"))
        assert " s · " in line_of
        if not webp:
            assert f"format {image.format}, not webp" in out
    # Side by side: one HTML table, a column per provider, each image inline with its caption.
    (table,) = shown
    assert table.data.count("<th ") == len(NAMES)
    assert table.data.count("<img src='data:image/webp;base64,") == 2 * len(NAMES)
    assert table.data.count("seed 41") == len(NAMES)


def test_one_provider_keeps_the_magic_as_it_was(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    params, options = parse_magic("--provider FAL --seed 3", "a kite")
    assert options.provider == "fal" and options.providers == ["fal"]
    assert params.output_format == PROVIDERS["fal"].capabilities.default("output_format")
    with pytest.raises(UsageError, match="fal cannot give output_format='webp'"):
        parse_magic("--provider fal --format webp", "a kite")
    images = shell.run_cell_magic("flux", "--provider fal --seed 3 --megapixels 0.25", "a kite")
    assert len(images) == 1 and images[0].seed == 3
    out = capsys.readouterr().out
    assert "1 image in" in out and "providers" not in out


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("--provider cometapi,nope", "'nope'"),
        ("--provider fal,FAL", "named twice"),
        ("--provider ,", "give a provider name"),
    ],
)
def test_bad_provider_lists_are_usage_errors_that_name_the_problem(
    shell: InteractiveShell, line: str, named: str
) -> None:
    with pytest.raises(UsageError, match=named):
        shell.run_cell_magic("flux", line, "a boat")


@pytest.mark.parametrize(
    ("line", "cell"),
    [("", "a {red|blue} boat"), ("--random 2", "a boat"), ("--style nope", "a boat")],
)
def test_several_providers_compare_one_prompt_as_written(
    shell: InteractiveShell, line: str, cell: str
) -> None:
    with pytest.raises(UsageError, match="one prompt as written"):
        shell.run_cell_magic("flux", f"--provider cometapi,fal {line}", cell)


def test_a_provider_without_a_key_says_so_and_the_others_still_run(
    shell: InteractiveShell,
    shown: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("FLUX_BASE_URL")
    sent: list[httpx.Request] = []

    def comet(request: httpx.Request) -> httpx.Response:
        """CometAPI as docs/protocol.md tells it: a prediction; its output on a file host."""
        sent.append(request)
        if request.url.host == "replicate.delivery":
            out = io.BytesIO()
            Image.new("RGB", (1024, 1024)).save(out, "WEBP")
            return httpx.Response(200, content=out.getvalue())
        seed = json.loads(request.content)["input"]["seed"]
        output = ["https://replicate.delivery/x/out.webp"]
        return httpx.Response(
            201, json={"id": "p1", "status": "succeeded", "output": output, "input": {"seed": seed}}
        )

    def keyed(force_mock: bool, names: list[str]) -> FluxClient:
        return FluxClient(api_key=KEY, provider="cometapi", transport=httpx.MockTransport(comet))

    monkeypatch.setattr(flux_widgets.magics, "_compare_client", keyed)
    images = shell.run_cell_magic("flux", "--provider cometapi,fal --seed 9", "a boat")

    assert [image.seed for image in images] == [9]
    captured = capsys.readouterr()
    assert "flux: fal: no key for fal: set FAL_KEY" in captured.err
    assert "MissingAPIKeyError" not in captured.err  # words for people, no class name
    assert "no key for fal" in captured.out  # in the count line, before anything runs
    assert "no key for fal: set FAL_KEY" in shown[0].data
    assert KEY not in captured.out + captured.err + shown[0].data
    assert {r.url.host for r in sent} == {"api.cometapi.com", "replicate.delivery"}
    assert all(
        (KEY in r.headers.get("authorization", "")) == (r.url.host == "api.cometapi.com")
        for r in sent
    )
