"""The studio's exploration widgets, driven without a front end (ipywidgets' dummy comm)."""

from __future__ import annotations

from pathlib import Path

import pytest
from html_text import hover_text, visible_text

from flux_widgets.prompts.progress import BatchProgress
from flux_widgets.prompts.styles import SHIPPED_STYLES, StyleError, StyleLibrary
from flux_widgets.spending.usage import GenerationRecord, UsageReport, UsageSummary
from flux_widgets.widgets._compat import is_shown
from flux_widgets.widgets.explore import (
    NO_STYLE,
    BatchRow,
    ConfirmRow,
    EstimateLine,
    StylePicker,
    UsageView,
)


def test_style_picker_lists_shipped_styles_and_shows_the_template(tmp_path: Path) -> None:
    picker = StylePicker(StyleLibrary(tmp_path))
    assert picker.dropdown.options[0] == NO_STYLE
    assert picker.names() == [s.name for s in SHIPPED_STYLES]
    assert picker.value is None and picker.selected() is None
    picker.value = "diagram for slides"
    assert picker.selected() is not None
    assert "aspect_ratio=16:9" in picker.detail.value
    with pytest.raises(StyleError):
        picker.value = "nope"


def test_saving_a_style_writes_json_and_selects_it(tmp_path: Path) -> None:
    library = StyleLibrary(tmp_path)
    picker = StylePicker(library)
    style = picker.save("chalk", "a chalkboard drawing of {prompt}", {"aspect_ratio": "4:3"})
    assert (tmp_path / "chalk.json").is_file()
    assert picker.value == "chalk" and picker.selected() == style
    assert "saved in" in picker.message.value
    with pytest.raises(StyleError):
        picker.save("bad", "no slot here", {})
    shown = visible_text(picker.message.value)
    assert shown.startswith("could not save the style: ") and "{prompt}" in shown
    assert "StyleError" not in shown  # the class name only in the hover text
    assert hover_text(picker.message.value) == []  # refused input: its message is all there is
    assert StylePicker(library).names()[-1] == "chalk"


def test_a_styles_folder_that_cannot_be_made_is_said_in_words(tmp_path: Path) -> None:
    blocker = tmp_path / "styles"
    blocker.write_text("a file where the folder should be")
    picker = StylePicker(StyleLibrary(blocker))
    with pytest.raises(FileExistsError):
        picker.save("chalk", "a chalkboard drawing of {prompt}", {})
    assert visible_text(picker.message.value) == (
        f"could not save the style: {blocker} is a file, not a folder; choose another folder, "
        "or move the file away"
    )


def test_a_style_file_that_cannot_be_read_is_named_not_dropped_in_silence(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "latin.json").write_bytes(b'{"name": "caf\xe9"}')
    picker = StylePicker(StyleLibrary(tmp_path))
    shown = visible_text(picker.message.value)
    assert "style file broken.json skipped: Expecting property name" in shown
    assert "style file latin.json skipped: " in shown and "save it as UTF-8" in shown
    assert "Error" not in shown
    assert picker.names() == [style.name for style in SHIPPED_STYLES]  # the rest still work


def test_confirm_row_runs_the_action_only_on_send() -> None:
    row = ConfirmRow()
    sent: list[int] = []
    assert not is_shown(row)
    row.ask("Send 40 generations?", lambda: sent.append(1))
    assert is_shown(row) and row.asking and "40 generations" in row.question.value
    row.cancel_button.click()
    assert sent == [] and not is_shown(row) and not row.asking
    row.ask("Send 40 generations?", lambda: sent.append(1))
    row.send_button.click()
    assert sent == [1] and not row.asking


def test_batch_row_follows_progress_and_cancel() -> None:
    cancelled: list[bool] = []
    row = BatchRow(10, "a {red|green} fox", lambda: cancelled.append(True))
    progress = BatchProgress(10, bar=False, listener=row.update)
    progress.status(0, "starting")
    progress.finish(0, ok=True)
    progress.finish(1, ok=False)
    assert row.bar.value == 2 and row.bar.max == 10
    assert "2/10 · 1 done · 1 failed · 0 running" in row.label.value
    progress.status(2, "processing")
    assert "2/10 · 1 done · 1 failed · 1 running" in row.label.value
    row.cancel_button.click()
    assert cancelled == [True]
    row.finish("cancelled: 1 done, 7 not sent")
    assert not is_shown(row.cancel_button) and "cancelled: 1 done, 7 not sent" in row.label.value
    assert "running" not in row.label.value  # a cancelled batch has nothing running


def test_estimate_line_shows_summary_or_error() -> None:
    line = EstimateLine()
    line.show_summary("4 generations · 4 images · about $0.0120 on replicate")
    assert "about $0.0120" in line.value and line.text.startswith("4 generations")
    line.show_error(ValueError("bad <template>"))
    assert "bad &lt;template&gt;" in line.value


def test_usage_view_renders_the_report_and_survives_errors() -> None:
    summary = UsageSummary.of_records([GenerationRecord("replicate", 2, 0.006, 0.7)])
    reports = [UsageReport("replicate", summary)]
    view = UsageView(lambda: reports[-1])
    assert "<table>" in view.table.value and "$0.0060 replicate" in view.table.value

    def broken() -> UsageReport:
        raise OSError("disk gone")

    view._source = broken
    view.refresh_button.click()
    assert "disk gone" in view.table.value


def test_saving_over_a_taken_style_name_asks_first(tmp_path: Path) -> None:
    picker = StylePicker(StyleLibrary(tmp_path))
    built_in = SHIPPED_STYLES[0]
    with pytest.raises(StyleError, match="is a built-in style: click save again"):
        picker.save(built_in.name, "{prompt}, ugly", {})
    assert not list(tmp_path.glob("*.json"))  # nothing replaced yet
    assert "click save again" in visible_text(picker.message.value)
    picker.save(built_in.name, "{prompt}, ugly", {})  # the second save replaces it
    assert picker.selected() is not None and picker.selected().template == "{prompt}, ugly"
    picker.save("chalk", "a chalkboard drawing of {prompt}", {})
    with pytest.raises(StyleError, match="one of your styles"):
        picker.save("chalk", "chalk on slate, {prompt}", {})
