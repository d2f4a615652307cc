"""HistoryCard: one history entry on the browser's page, refilled page after page; and
HistoryPreview, where the browser opens an entry when nobody else shows it."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..history.store import HistoryRecord
from ..images import GeneratedImage
from ._compat import set_tooltip, show

# Icon-only buttons: no padding, so no icon is cut into an ellipsis ("☆…").
# An icon with a word (the README's promise; a word is also the button's accessible name).
_ICON_BUTTON = {"width": "auto", "padding": "0 5px", "margin": "1px 2px"}
_BUTTON_ROW = {"flex_flow": "row nowrap", "align_items": "center", "width": "100%"}
_PROMPT_CHARS = 60


class HistoryCard(widgets.VBox):  # type: ignore[misc]
    """One entry on the page: thumbnail, date, seed and prompt, and its buttons."""

    def __init__(self, size: int) -> None:
        self.record: HistoryRecord | None = None
        self._filling = False  # True while the card is refilled: not a user's click
        # Natural size, never upscaled; at most the card's width, aspect ratio kept.
        self.thumbnail = widgets.Image(
            format="webp",
            layout={"max_width": "100%", "height": "auto", "object_fit": "contain"},
        )
        self.caption = widgets.HTML(layout={"width": "100%"})
        self.select = widgets.Checkbox(
            description="select", indent=False, layout={"width": "auto", "margin": "0 4px 0 2px"}
        )
        set_tooltip(self.select, "select (for delete selected)")
        # A plain button (a ToggleButton with an icon only shows a stray mark in Lab 4).
        self.star = widgets.Button(description="star", icon="star-o", layout=_ICON_BUTTON)
        set_tooltip(self.star, "star / unstar (kept in the image's record)")
        self.open_button = widgets.Button(
            description="open", icon="search-plus", layout=_ICON_BUTTON
        )
        set_tooltip(self.open_button, "open at full size")
        self.reuse_button = widgets.Button(
            # Not "undo"'s arrow: that is the undo button's icon, under the cards.
            description="reuse",
            icon="reply",
            layout=_ICON_BUTTON,
        )
        set_tooltip(self.reuse_button, "reuse: put its parameters and seed into the controls")
        self.delete_button = widgets.Button(description="delete", icon="trash", layout=_ICON_BUTTON)
        set_tooltip(self.delete_button, "move to the trash (undo brings it back)")
        super().__init__(
            [
                self.thumbnail,
                self.caption,
                # Two rows by design, each on one line down to the narrowest card (210 px):
                # marking (select, star), then what acts on the image. Five buttons on one
                # wrapping row left "delete" alone on a line of its own.
                widgets.HBox([self.select, self.star], layout=_BUTTON_ROW),
                widgets.HBox(
                    [self.open_button, self.reuse_button, self.delete_button], layout=_BUTTON_ROW
                ),
            ],
            layout={
                "align_items": "center",
                "max_width": f"{size + 16}px",
                "padding": "4px",
                "border": "1px solid var(--jp-border-color2, #ddd)",
            },
            _dom_classes=("flux-history-card",),
        )

    def connect(
        self,
        on_select: Callable[[HistoryRecord, bool], Any],
        *,
        star: Callable[[HistoryRecord], Any],
        open_: Callable[[HistoryRecord], Any],
        reuse: Callable[[HistoryRecord], Any],
        delete: Callable[[HistoryRecord], Any],
    ) -> None:
        """Hand each click to the browser with this card's entry (``on_select`` also gets
        whether it is selected now); nothing fires for an empty card or while it is refilled."""

        def selected(change: dict[str, Any]) -> None:
            if not self._filling and self.record is not None:
                on_select(self.record, bool(change["new"]))

        def clicked(action: Callable[[HistoryRecord], Any]) -> Callable[[Any], None]:
            return lambda _: action(self.record) if self.record is not None else None

        self.select.observe(selected, names="value")
        self.star.on_click(clicked(star))
        self.open_button.on_click(clicked(open_))
        self.reuse_button.on_click(clicked(reuse))
        self.delete_button.on_click(clicked(delete))

    def show_selected(self, selected: bool) -> None:
        """Tick or untick the box from code (selecting a page): not a user's click."""
        self._filling = True
        try:
            self.select.value = selected
        finally:
            self._filling = False

    def fill(self, record: HistoryRecord | None, selected: bool) -> None:
        self.record = record
        if record is None:
            show(self, False)
            self.thumbnail.value = b""
            return
        created = record.created_at.astimezone()
        prompt = record.prompt
        if len(prompt) > _PROMPT_CHARS:
            prompt = prompt[: _PROMPT_CHARS - 1] + "…"
        self.caption.value = (
            "<div style='line-height:1.35;font-size:var(--jp-ui-font-size0, 11px)'>"
            f"{created:%Y-%m-%d %H:%M} · seed {record.seed} · {record.aspect_ratio}<br>"
            f"<span title='{html.escape(record.prompt)}'>{html.escape(prompt)}</span></div>"
        )
        self.show_star(record.favourite)
        self.show_selected(selected)
        self.thumbnail.value = b""
        show(self, True)

    def show_star(self, favourite: bool) -> None:
        self.star.icon = "star" if favourite else "star-o"
        self.star.description = "starred" if favourite else "star"
        self.star.button_style = "warning" if favourite else ""


class HistoryPreview(widgets.VBox):  # type: ignore[misc]
    """An entry's full image with its seed, size, steps and prompt, and a close button."""

    def __init__(self) -> None:
        self.image = widgets.Image(
            layout={"max_width": "100%", "max_height": "70vh", "object_fit": "contain"}
        )
        self.caption = widgets.HTML()
        self.close_button = widgets.Button(description="close", icon="times")
        super().__init__([self.image, self.caption, self.close_button])
        self.close_button.on_click(lambda _: self.hide())
        show(self, False)

    def show_image(self, image: GeneratedImage, prompt: str) -> None:
        self.image.format = "jpeg" if image.format == "jpg" else image.format
        self.image.value = image.data
        self.caption.value = (
            f"<b>seed {image.seed}</b> · {image.width}×{image.height} · "
            f"{image.recipe.num_inference_steps} steps<br><i>{html.escape(prompt)}</i>"
        )
        show(self, True)

    def hide(self) -> None:
        self.image.value = b""
        show(self, False)
