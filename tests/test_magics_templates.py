"""%%flux with templates, random picks, styles, and the confirmation for big batches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from flux_widgets.mock import MockConfig, MockServer
from flux_widgets.prompts.templates import PromptOrigin


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig(generation_time=0.02)) as server:
        yield server


@pytest.fixture
def shell(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    for name in ("COMETAPI_KEY", "FLUX_API_KEY", "FLUX_PROVIDER", "FLUX_WIDGETS_MOCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLUX_BASE_URL", server.url)
    monkeypatch.setenv("FLUX_PRICES", '{"cometapi": {"per_image": 0.003}}')
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "flux_widgets")
    yield shell
    InteractiveShell.clear_instance()


def test_a_template_cell_makes_every_combination_in_order(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    images = shell.run_cell_magic("flux", "--seed 3 --megapixels 0.25", "a {red|blue} {cup|bowl}")
    assert [image.params.prompt for image in images] == [
        "a red cup",
        "a red bowl",
        "a blue cup",
        "a blue bowl",
    ]
    assert all(image.origin == PromptOrigin("a {red|blue} {cup|bowl}") for image in images)
    out = capsys.readouterr()
    assert "4 generations · 4 images · about $0.0120 on cometapi" in out.out
    assert "4/4" in out.err  # the text progress bar


def test_random_picks_and_a_style(shell: InteractiveShell) -> None:
    images = shell.run_cell_magic(
        "flux", "--random 3 --style 'pixel art' --megapixels 0.25", "a __animals__"
    )
    assert len(images) == 3
    for image in images:
        assert image.params.prompt.startswith("pixel art of a ")
        assert image.params.output_format == "png"  # the style's, not the default webp
        assert image.origin is not None and image.origin.style == "pixel art"


def test_options_typed_win_over_the_style(shell: InteractiveShell) -> None:
    [image] = shell.run_cell_magic(
        "flux", "--style 'pixel art' --format jpg --megapixels 0.25", "a fox"
    )
    assert image.params.output_format == "jpg"


def test_a_big_template_needs_yes(shell: InteractiveShell, server: MockServer) -> None:
    before = server.state.creates
    with pytest.raises(UsageError, match="add --yes"):
        shell.run_cell_magic("flux", "--megapixels 0.25", "a {1|2|3|4|5|6} {a|b}")
    assert server.state.creates == before
    images = shell.run_cell_magic("flux", "--yes --megapixels 0.25", "a {1|2|3|4|5|6} {a|b}")
    assert len(images) == 12


def test_template_errors_are_usage_errors(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="__nope__ has no file"):
        shell.run_cell_magic("flux", "", "a __nope__ {x|y}")
    with pytest.raises(UsageError, match="no style named"):
        shell.run_cell_magic("flux", "--style nope", "a fox")
