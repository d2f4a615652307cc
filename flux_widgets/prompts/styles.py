"""Styles: a named prompt template with a ``{prompt}`` slot, plus any parameters.

``watercolor`` turns ``a lighthouse`` into ``a watercolor painting of a lighthouse, soft washes,
paper texture``; ``diagram for slides`` also sets a 16:9 PNG. A handful ship; users save their
own as JSON files (one per style) in ``FLUX_WIDGETS_STYLES_DIR``, else ``styles`` in the user
data folder, where a user style replaces a shipped one of the same name. The recipe of every
image made with a style records its name and template.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import StyleError as StyleError  # re-exported: its home is errors.py
from ..params import FIELD_NAMES, input_errors
from .user_files import read_user_text

logger = logging.getLogger("flux_widgets")

STYLES_DIR_ENV = "FLUX_WIDGETS_STYLES_DIR"
PROMPT_SLOT = "{prompt}"
"""Where a style puts the user's prompt (the A1111 styles convention)."""
_MAX_NAME = 60
_UNSAFE = re.compile(r"[^a-z0-9]+")
# The slot as people may type it: ``{prompt}``, ``{ prompt }``, ``{Prompt}``. The template
# syntax reads it as a one-option variant, so left in a prompt it sends the word "prompt".
_SLOT_LEFT = re.compile(r"\{\s*prompt\s*\}", re.IGNORECASE)


@dataclass(frozen=True)
class Style:
    """A named prompt template with one ``{prompt}`` slot and parameters to use with it.

    ``params`` holds FluxParams fields other than ``prompt`` (e.g. ``{"aspect_ratio": "16:9"}``);
    values the caller gives explicitly win over them. Raises ``StyleError`` when the name is
    empty or too long, the slot is missing, or a parameter is not valid for flux-schnell.
    """

    name: str
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        name = self.name.strip() if isinstance(self.name, str) else ""
        if not name or len(name) > _MAX_NAME:
            raise StyleError(f"a style needs a name of 1 to {_MAX_NAME} characters")
        object.__setattr__(self, "name", name)
        if not isinstance(self.template, str) or PROMPT_SLOT not in self.template:
            raise StyleError(
                f"style {name!r}: the template must hold {PROMPT_SLOT} where the prompt goes, "
                f"e.g. 'a watercolor painting of {PROMPT_SLOT}'"
            )
        params = dict(self.params)
        if "prompt" in params or "num_outputs" in params:
            raise StyleError(
                f"style {name!r}: a style cannot set prompt or num_outputs (the template and "
                "the Images control do that)"
            )
        unknown = sorted(set(params) - set(FIELD_NAMES))
        if unknown:
            raise StyleError(f"style {name!r}: unknown parameter(s) {', '.join(unknown)}")
        errors = input_errors({"prompt": "-", **params})
        if errors:
            raise StyleError(f"style {name!r}: " + "; ".join(e.message for e in errors))
        object.__setattr__(self, "params", MappingProxyType(params))

    def apply(self, prompt: str) -> str:
        """The style's template with ``prompt`` in its slot (a template itself, if either holds
        variants or wildcards). Raises ``StyleError`` for an empty prompt."""
        if not prompt.strip():
            raise StyleError(f"write a prompt: the style {self.name!r} only wraps it")
        check_slot_filled(prompt)
        return self.template.replace(PROMPT_SLOT, prompt.strip())

    def merged(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The style's parameters overridden by ``params`` (what the caller set explicitly)."""
        return {**self.params, **params}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "template": self.template,
            "params": dict(self.params),
            "description": self.description,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Style:
        """A style from its JSON object; raises ``StyleError`` when it is not one."""
        if not isinstance(data, Mapping) or not set(data) <= {
            "name",
            "template",
            "params",
            "description",
        }:
            raise StyleError("a style is an object with name, template, params and description")
        params = data.get("params") or {}
        if not isinstance(params, Mapping):
            raise StyleError("a style's params must be an object of parameter -> value")
        return cls(
            name=str(data.get("name", "")),
            template=str(data.get("template", "")),
            params=params,
            description=str(data.get("description", "")),
        )


SHIPPED_STYLES: tuple[Style, ...] = (
    Style(
        "watercolor",
        f"a watercolor painting of {PROMPT_SLOT}, soft washes, visible paper texture, "
        "loose brushwork",
        description="soft, hand-painted look",
    ),
    Style(
        "35mm photo",
        f"a 35mm film photograph of {PROMPT_SLOT}, natural light, shallow depth of field, "
        "fine grain",
        {"aspect_ratio": "3:2"},
        description="analog photo, 3:2 frame",
    ),
    Style(
        "pixel art",
        f"pixel art of {PROMPT_SLOT}, 16-bit video game sprite style, limited palette, crisp "
        "pixels",
        {"output_format": "png"},
        description="retro game look, lossless PNG",
    ),
    Style(
        "diagram for slides",
        f"a clean flat vector diagram of {PROMPT_SLOT}, white background, simple shapes, "
        "clear labels, minimal colors",
        {"aspect_ratio": "16:9", "output_format": "png"},
        description="16:9 PNG for presentations",
    ),
    Style(
        "line drawing",
        f"a black ink line drawing of {PROMPT_SLOT}, clean outlines, white paper, no shading",
        description="ink outlines on white",
    ),
    Style(
        "isometric 3D",
        f"an isometric 3D render of {PROMPT_SLOT}, soft studio lighting, pastel colors, "
        "miniature diorama",
        description="tiny 3D diorama",
    ),
)


def check_slot_filled(prompt: str) -> None:
    """Refuse a prompt that still holds a style's ``{prompt}`` slot, before anything is sent.

    Left there (a style's template typed or saved, then Generate), the template syntax would
    send the word "prompt" and pay for "a blueprint drawing of prompt". Raises ``StyleError``
    saying what to do instead.
    """
    found = _SLOT_LEFT.search(prompt)
    if found is not None:
        raise StyleError(
            f"the prompt still holds {found.group(0)}, the place where a style puts a subject: "
            "write what to draw in its place (or save this prompt as a style and pick it)"
        )


def user_styles_dir() -> Path:
    """Where saved styles live: ``FLUX_WIDGETS_STYLES_DIR``, else ``styles`` in the user data
    folder (created on the first save)."""
    configured = os.environ.get(STYLES_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("flux-widgets")) / "styles"


class StyleLibrary:
    """The shipped styles plus the user's saved ones (read from disk on each ``styles()``)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory else user_styles_dir()

    def __repr__(self) -> str:
        return f"StyleLibrary({str(self.directory)!r})"

    def styles(self) -> dict[str, Style]:
        """Every style by name: shipped first, then saved ones (a saved one replaces a shipped
        one of the same name). Damaged files are logged and skipped."""
        found = {style.name: style for style in SHIPPED_STYLES}
        found.update((style.name, style) for _, style in self._saved())
        return found

    def names(self) -> list[str]:
        return list(self.styles())

    def get(self, name: str) -> Style:
        """The style called ``name``; raises ``StyleError`` listing the known ones."""
        styles = self.styles()
        try:
            return styles[name]
        except KeyError:
            raise StyleError(
                f"no style named {name!r}; known styles: {', '.join(styles)}"
            ) from None

    def save(self, style: Style) -> Path:
        """Write ``style`` as JSON in the user's folder, replacing the saved style of the same
        name (never one of another name, even if both names make the same file name)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        same = [path for path, saved in self._saved() if saved.name == style.name]
        target = same[0] if same else self._claim_file(style.name)
        data = json.dumps(style.to_json(), ensure_ascii=False, indent=1).encode()
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".style-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            if not same:
                target.unlink(missing_ok=True)  # the empty file claimed above
            raise
        for older in same[1:]:  # copies made by hand: the saved style is the one to keep
            older.unlink(missing_ok=True)
        return target

    def delete(self, name: str) -> bool:
        """Delete the saved style called exactly ``name``; True when there was one (shipped
        styles stay, and so does every style of another name)."""
        deleted = False
        for path, saved in self._saved():
            if saved.name == name:
                path.unlink(missing_ok=True)
                deleted = True
        return deleted

    def _saved(self) -> list[tuple[Path, Style]]:
        """The saved styles with their files, in file order; damaged files logged and skipped."""
        saved = []
        for path in self._files():
            try:
                text = read_user_text(path, kind="style file", error=StyleError)
                saved.append((path, Style.from_json(json.loads(text))))
            except (OSError, ValueError) as error:
                logger.warning("style file %s skipped: %s", path.name, error)
        return saved

    def _claim_file(self, name: str) -> Path:
        """A new file for the style ``name``: its slug (``my-poster.json``), else the slug with
        the first free number (``my-poster-2.json``). A file is claimed by creating it, so two
        names that make the same slug (``C++ look``, ``C look``; ``Ink``, ``ink`` on a
        case-insensitive disk; ``水彩``, ``油絵``) never share a file."""
        slug, number = _slug(name), 1
        while True:
            path = self.directory / (f"{slug}.json" if number == 1 else f"{slug}-{number}.json")
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                number += 1
                continue
            return path

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.json"))


def _slug(name: str) -> str:
    """A readable ASCII file stem for a style name (accents dropped; ``style`` when nothing
    readable is left). Not a key: two names may share it (see ``StyleLibrary._claim_file``)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _UNSAFE.sub("-", ascii_name.strip().lower()).strip("-") or "style"


def resolve_style(style: Style | str | None, library: StyleLibrary | None = None) -> Style | None:
    """A ``Style`` from a style or a name (looked up in ``library``, default the user's)."""
    if style is None or isinstance(style, Style):
        return style
    return (library or StyleLibrary()).get(style)
