"""The studio as a whole: its static output (text and contact sheet, also in a notebook run by
nbclient), its public names, and closing it."""

from __future__ import annotations

import io
from pathlib import Path

import ipywidgets
import pytest
from PIL import Image

import flux_widgets.widgets as widgets_package
from flux_widgets.client import FluxClient
from flux_widgets.params import FIELD_NAMES
from flux_widgets.widgets import Gallery, HistoryBrowser, PromptStudio
from flux_widgets.widgets.grid import PromptGrid


async def test_static_output_has_a_contact_sheet_and_stable_text(studio: PromptStudio) -> None:
    live_text = "PromptStudio (mock API): its newest images are in the picture below"
    assert studio._repr_mimebundle_()["text/plain"] == live_text
    assert repr(studio) == "PromptStudio: 0 images (mock API)"
    studio.prompt = "a lantern"
    studio.num_outputs = 3
    await studio.generate()

    bundle = studio._repr_mimebundle_()
    # Saved as it is at display time, the live output's text names no count that the picture
    # below (kept up to date) would contradict.
    assert bundle["text/plain"] == live_text
    assert repr(studio) == "PromptStudio: 3 images (mock API)"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    # Live, the picture is not in the studio's own output but in the one displayed under it.
    assert "image/png" not in bundle
    picture = studio._picture.bundle()
    assert picture["text/plain"] == "PromptStudio: 3 images (mock API)"
    view = picture["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == studio._picture.anchor.model_id
    with Image.open(io.BytesIO(picture["image/png"])) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (3 * 160, 160)


def test_public_names_are_sorted_and_complete() -> None:
    assert widgets_package.__all__ == sorted(widgets_package.__all__)
    for name in widgets_package.__all__:
        assert isinstance(getattr(widgets_package, name), type)
    assert issubclass(PromptStudio, ipywidgets.VBox)


FALLBACK_CELLS = [
    "from flux_widgets import FluxClient, PromptStudio\n"
    "studio = PromptStudio(FluxClient.mock(), history=False)\nstudio.megapixels = '0.25'\nstudio",
    "studio.prompt = 'a lantern'\nstudio.num_outputs = 3\nimages = await studio.generate()",
    "import hashlib\nprint(hashlib.sha256(studio.contact_sheet()).hexdigest())",
]


@pytest.mark.slow
def test_a_notebook_executed_by_nbclient_saves_a_contact_sheet_of_the_new_images(
    tmp_path: Path,
) -> None:
    import base64
    import hashlib

    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in FALLBACK_CELLS]
    NotebookClient(notebook, timeout=120).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)
    saved = nbformat.read(path, as_version=4)

    outputs = saved.cells[0].outputs
    live_text = "PromptStudio (mock API): its newest images are in the picture below"
    assert outputs[0]["data"]["text/plain"] == live_text
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 1
    assert pictures[0]["data"]["text/plain"] == "PromptStudio: 3 images (mock API)"
    png = base64.b64decode(pictures[0]["data"]["image/png"])
    expected = saved.cells[2].outputs[0]["text"].strip()
    assert hashlib.sha256(png).hexdigest() == expected  # the studio's sheet of those 3 images
    with Image.open(io.BytesIO(png)) as sheet:
        assert sheet.size == (3 * 160, 160)


async def test_a_closed_studio_leaves_no_live_widget_models(
    client: FluxClient, tmp_path: Path
) -> None:
    from ipywidgets.widgets import widget as widget_module

    instances = getattr(widget_module, "_instances", None)
    live = instances if instances is not None else widget_module.Widget.widgets
    before = set(live)
    studio = PromptStudio(client, history_dir=tmp_path / "history")
    studio.megapixels = "0.25"
    studio.prompt = "a lantern"
    await studio.generate()
    studio.gallery.open_image(studio.images[0])
    await studio.wait()
    assert len(set(live) - before) > 50
    studio.close()
    assert set(live) - before == set()


async def test_the_studio_is_its_panels_in_one_column_each_with_wait_cancel_close(
    studio: PromptStudio,
) -> None:
    assert list(studio.children[1:]) == list(studio.panels)  # after the hidden style sheet
    assert len(studio.panels) == 5
    for panel in studio.panels:
        assert isinstance(panel, ipywidgets.VBox)
        assert all(callable(getattr(panel, name)) for name in ("wait", "cancel", "close"))
    # The old names reach the panels' widgets.
    assert studio.message is studio.controls_panel.message
    assert studio.history_label is studio.history_panel.label


@pytest.mark.parametrize(
    "widget_class",
    [PromptStudio, HistoryBrowser, Gallery, PromptGrid],
    ids=lambda cls: cls.__name__,
)
def test_state_traits_say_what_they_hold_and_stay_in_the_kernel(widget_class: type) -> None:
    # ipywidgets' own traits (layout, children...) are synced; the state declared here is not:
    # a synced trait goes to the browser and into saved notebooks (a client holds its key).
    base = set(ipywidgets.VBox.class_trait_names())
    declared = {
        name: trait
        for name, trait in widget_class.class_traits().items()  # type: ignore[attr-defined]
        if name not in base
    }
    assert len(declared) >= 3, declared
    for name, trait in declared.items():
        assert trait.help, f"{widget_class.__name__}.{name} has no help text"
        assert not trait.metadata.get("sync"), f"{widget_class.__name__}.{name} is synced"


async def test_every_schema_field_is_a_studio_attribute_on_its_control(
    studio: PromptStudio,
) -> None:
    # A field declared once in schema.py is reachable from code with no edit to the studio.
    for name in FIELD_NAMES:
        assert getattr(studio, name) == studio.controls.get(name), name
    studio.prompt = "a lantern"
    studio.go_fast = False
    assert studio.controls.get("go_fast") is False
    assert studio.params().go_fast is False


def test_every_panel_declares_its_state_with_help_text(studio: PromptStudio) -> None:
    for panel in studio.panels:
        base = set(ipywidgets.VBox.class_trait_names())
        for name, trait in panel.traits().items():
            if name not in base:
                assert trait.help, f"{type(panel).__name__}.{name} has no help text"
                assert not trait.metadata.get("sync"), f"{type(panel).__name__}.{name} syncs"


async def test_closing_the_studio_closes_each_panel_through_its_own_close(
    studio: PromptStudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[str] = []
    for panel in studio.panels:
        original = panel.close

        def spy(original: object = original, name: str = type(panel).__name__) -> None:
            closed.append(name)
            original()  # type: ignore[operator]

        monkeypatch.setattr(panel, "close", spy)
    studio.close()
    assert sorted(closed) == sorted(type(panel).__name__ for panel in studio.panels)
