"""What a chosen style set in the studio's controls, so another choice can give it back.

A style sets parameters (``diagram for slides``: a 16:9 PNG). Choosing another style that does
not set them, or no style, puts back what the controls held before the style, so a 16:9 frame
does not outlive the style that asked for it. A value changed by hand since the style set it is
the user's and stays.
"""

from __future__ import annotations

from typing import Any

from ...prompts.styles import Style
from ..controls import ParameterControls


class StyleParameters:
    """The parameters the current style set, and what the controls held before it."""

    def __init__(self, controls: ParameterControls) -> None:
        self._controls = controls
        self._before: dict[str, Any] = {}  # field: its value before the style
        self._set: dict[str, Any] = {}  # field: the value the style put there

    def switch(self, style: Style | None) -> list[str]:
        """Undo the last style's parameters that ``style`` does not set, then set ``style``'s;
        returns notes of what went back ("aspect ratio back to 1:1"). Raises ``ValueError``
        for a value the controls refuse (a style saved for another provider)."""
        values = self._controls.values()
        wanted = dict(style.params) if style is not None else {}
        notes = []
        for name, before in self._before.items():
            if name not in wanted and values[name] == self._set[name] and before != values[name]:
                self._controls.set(name, before)
                notes.append(f"{name.replace('_', ' ')} back to {before}")
        # A field both styles set keeps its value from before the first one, unless changed.
        before_new = {
            name: self._before[name]
            if name in self._before and values[name] == self._set[name]
            else values[name]
            for name in wanted
        }
        self._before, self._set = {}, {}
        for name, value in wanted.items():
            self._controls.set(name, value)
        now = self._controls.values()
        self._before = before_new
        self._set = {name: now[name] for name in wanted}
        return notes

    def forget(self) -> None:
        """The controls were set from elsewhere (reuse): nothing to give back."""
        self._before, self._set = {}, {}
