"""Where keys are read from: variables, Hugging Face's token file, Colab secrets (faked)."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from flux_widgets.errors import MissingAPIKeyError
from flux_widgets.params import FluxParams
from flux_widgets.providers import PROVIDERS, resolve_settings
from flux_widgets.providers.huggingface import token_file
from flux_widgets.providers.settings import forget_colab_secrets

SECRET = "hf_colabsecretvalue0123456789"


class SecretNotFoundError(Exception):
    pass


class NotebookAccessError(Exception):
    pass


@pytest.fixture
def colab(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    """A fake ``google.colab.userdata``: ``secrets`` maps a name to a value or an exception."""
    secrets: dict[str, object] = {}
    asked: list[str] = []

    def get(name: str) -> str:
        asked.append(name)
        value = secrets.get(name, SecretNotFoundError(f"Secret {name} does not exist."))
        if isinstance(value, Exception):
            raise value
        assert isinstance(value, str)
        return value

    userdata = types.ModuleType("google.colab.userdata")
    userdata.get = get  # type: ignore[attr-defined]
    google = types.ModuleType("google")
    colab_module = types.ModuleType("google.colab")
    colab_module.userdata = userdata  # type: ignore[attr-defined]
    google.colab = colab_module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab_module)
    monkeypatch.setitem(sys.modules, "google.colab.userdata", userdata)
    forget_colab_secrets()
    yield {"secrets": secrets, "asked": asked}
    forget_colab_secrets()


@pytest.fixture(autouse=True)
def no_colab_cache() -> Iterator[None]:
    forget_colab_secrets()
    yield
    forget_colab_secrets()


def test_hf_token_then_the_legacy_variable_then_the_token_file(tmp_path: Path) -> None:
    file = tmp_path / "token"
    file.write_text("hf_fromfile\n")
    env = {"HF_TOKEN_PATH": str(file)}
    legacy = {**env, "HUGGING_FACE_HUB_TOKEN": "hf_legacy"}
    both = {**legacy, "HF_TOKEN": "hf_new"}
    assert resolve_settings(provider="huggingface", environ=both).api_key == "hf_new"
    settings = resolve_settings(provider="huggingface", environ=legacy)
    assert (settings.api_key, settings.key_source) == (
        "hf_legacy",
        "HUGGING_FACE_HUB_TOKEN (environment variable)",
    )
    settings = resolve_settings(provider="huggingface", environ=env)
    assert settings.api_key == "hf_fromfile" and settings.key_source == f"token file {file}"


def test_the_token_file_is_where_huggingface_hub_looks(tmp_path: Path) -> None:
    assert token_file({"HF_TOKEN_PATH": "/x/t"}) == Path("/x/t")
    assert token_file({"HF_HOME": "/h"}) == Path("/h/token")
    assert token_file({"XDG_CACHE_HOME": "/c"}) == Path("/c/huggingface/token")
    assert token_file({}) == Path("~/.cache/huggingface/token").expanduser()


def test_a_missing_token_names_every_place_it_is_looked_for(tmp_path: Path) -> None:
    env = {"HF_TOKEN_PATH": str(tmp_path / "absent")}
    with pytest.raises(MissingAPIKeyError, match="HF_TOKEN") as caught:
        resolve_settings(provider="huggingface", environ=env)
    assert "hf auth login" in str(caught.value) and "Colab secret" in str(caught.value)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_providers_key_is_read_from_a_colab_secret_once(
    name: str, colab: dict[str, object], tmp_path: Path
) -> None:
    provider = PROVIDERS[name]
    variable = provider.key_env_vars[-1]
    colab["secrets"][variable] = SECRET  # type: ignore[index]
    # A provider's other settings (Cloudflare's account id) are Colab secrets too.
    for other in provider.setting_env_vars:
        colab["secrets"][other] = "0123456789abcdef0123456789abcdef"  # type: ignore[index]
    env = {"HF_TOKEN_PATH": str(tmp_path / "absent")}
    first = resolve_settings(provider=name, environ=env)
    second = resolve_settings(provider=name, environ=env)
    assert first.api_key == second.api_key == SECRET
    assert first.key_source == f"{variable} (Colab secret)"
    assert colab["asked"].count(variable) == 1  # type: ignore[attr-defined]
    for other in provider.setting_env_vars:
        assert colab["asked"].count(other) == 1  # type: ignore[attr-defined]
        assert (
            "0123456789abcdef0123456789abcdef"
            in first.provider.create_request(
                first.provider.prepare(FluxParams(prompt="a fox", **first.provider.defaults())),
                first.base_url,
                deadline=60,
                sync_wait=False,
            ).url
        )
    assert SECRET not in repr(first)


def test_the_environment_wins_over_a_colab_secret_which_is_then_never_asked(
    colab: dict[str, object],
) -> None:
    colab["secrets"]["FAL_KEY"] = SECRET  # type: ignore[index]
    settings = resolve_settings(provider="fal", environ={"FAL_KEY": "env-key"})
    assert settings.api_key == "env-key" and settings.key_source == "FAL_KEY (environment variable)"
    assert colab["asked"] == []


@pytest.mark.parametrize(
    "failure",
    [SecretNotFoundError("no HF_TOKEN"), NotebookAccessError(f"denied {SECRET}"), TimeoutError()],
)
def test_any_colab_failure_counts_as_no_secret_and_never_shows_it(
    failure: Exception, colab: dict[str, object], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    colab["secrets"]["HF_TOKEN"] = failure  # type: ignore[index]
    colab["secrets"]["HUGGING_FACE_HUB_TOKEN"] = failure  # type: ignore[index]
    env = {"HF_TOKEN_PATH": str(tmp_path / "absent")}
    with pytest.raises(MissingAPIKeyError) as caught:
        resolve_settings(provider="huggingface", environ=env)
    assert SECRET not in str(caught.value) and SECRET not in caplog.text


def test_outside_colab_there_are_no_secrets_and_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.colab.userdata", None)  # import fails
    with pytest.raises(MissingAPIKeyError):
        resolve_settings(provider="together", environ={})


def test_an_argument_key_says_so_and_the_mock_reads_no_key(colab: dict[str, object]) -> None:
    settings = resolve_settings(provider="huggingface", api_key="hf_arg", environ={})
    assert settings.key_source == "argument"
    mock = resolve_settings(provider="huggingface", environ={"FLUX_WIDGETS_MOCK": "1"})
    assert mock.api_key is None and colab["asked"] == []
