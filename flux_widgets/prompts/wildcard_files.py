"""Wildcard folders: ``__colors__`` is ``colors.txt``, one value per line, read as its author
wrote it (``user_files.py``) and turned into template text in one place (``_value_text``).

The folders are the few shipped in the package, then the user's own
(``FLUX_WIDGETS_WILDCARDS_DIR``, else ``wildcards`` in the user data folder); a user file
replaces a shipped one of the same name. The ``dynamicprompts`` library draws from them through
its ``WildcardManager``; this module gives it the files' values, so that the library's own file
reader (which drops the bytes it cannot decode and keeps a byte-order mark in the first value)
never runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TemplateError
from .syntax import TEMPLATE_MARKS, parse_template, protect, restore
from .user_files import read_user_text

if TYPE_CHECKING:
    from dynamicprompts.wildcards import WildcardManager
    from dynamicprompts.wildcards.collection import WildcardCollection

logger = logging.getLogger("flux_widgets")

WILDCARDS_DIR_ENV = "FLUX_WIDGETS_WILDCARDS_DIR"
SHIPPED_WILDCARDS = Path(__file__).parent / "wildcards"
"""The wildcard files that ship with flux-widgets (``colors``, ``animals``, ...)."""
# A line starting with "#" is a comment, as in dynamic-prompts, unless it is a hex colour
# ("#ff8800"): a colour list would otherwise lose every value without a word.
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})(?![\w-])")


def user_wildcards_dir() -> Path:
    """Where users put their own wildcard files: ``FLUX_WIDGETS_WILDCARDS_DIR``, else
    ``wildcards`` in the user data folder (it need not exist)."""
    configured = os.environ.get(WILDCARDS_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("flux-widgets")) / "wildcards"


@dataclass(frozen=True, eq=False)
class Wildcards:
    """The wildcard folders a template draws from, later ones winning on equal names.

    A wildcard ``__name__`` is ``name.txt`` (one value per line, ``#`` comments) in any folder,
    ``__sub/name__`` a file in a subfolder, and ``__sub/*__`` every file there. Files are read
    once (a name not found makes them read again); call ``reload`` after editing one. A file
    that is not text, or a line the template grammar cannot read, raises ``TemplateError``
    naming the file and the line when the wildcard is used.
    """

    folders: tuple[Path, ...]

    @classmethod
    def default(cls, *extra: str | os.PathLike[str]) -> Wildcards:
        """The shipped folder, the user's folder, then ``extra`` folders."""
        return cls((SHIPPED_WILDCARDS, user_wildcards_dir(), *(Path(p) for p in extra)))

    @cached_property
    def manager(self) -> WildcardManager:
        from dynamicprompts.wildcards import WildcardManager

        roots: list[Any] = [_folder_files(folder) for folder in self.folders if folder.is_dir()]
        return WildcardManager(root_map={"": roots})

    def reload(self) -> None:
        """Forget what was read, so edited files (and a folder created since) are read again."""
        # The manager's files are listed when it is made, and only existing folders are listed.
        self.__dict__.pop("manager", None)

    def names(self) -> list[str]:
        """Every wildcard name available, sorted (``"colors"``, ``"sub/name"``)."""
        return sorted(self.manager.get_collection_names())

    def values(self, name: str) -> list[str]:
        """The values of ``name`` (with or without the ``__``), sorted and without repeats.

        Raises ``TemplateError`` when no file matches, or naming the file and line that
        cannot be read.
        """
        return [restore(value) for value in self.template_values(name)]

    def template_values(self, name: str) -> list[str]:
        """The values of ``name`` as the template grammar reads them (see ``_value_text``)."""
        if name.startswith("__") and name.endswith("__") and len(name) > 4:
            name = name[2:-2]
        values = list(self.manager.get_values(name).string_values)
        if not values:
            # A file added since the folders were read (the studio stays open while you add
            # one): read them again once before calling it missing.
            self.reload()
            values = list(self.manager.get_values(name).string_values)
        if not values:
            raise self._missing(name)
        return values

    def _missing(self, name: str) -> TemplateError:
        folders = ", ".join(str(f) for f in self.folders)
        known = ", ".join(self.names()[:12]) or "none"
        return TemplateError(
            f"wildcard __{name}__ has no file: add {name}.txt (one value per line) to one of "
            f"the wildcard folders ({folders}). Known wildcards: {known}"
        )


_default_wildcards: Wildcards | None = None


def default_wildcards() -> Wildcards:
    """The shared ``Wildcards.default()`` (made again if the user folder setting changed)."""
    global _default_wildcards
    folder = user_wildcards_dir()
    if _default_wildcards is None or _default_wildcards.folders[1] != folder:
        _default_wildcards = Wildcards.default()
    return _default_wildcards


def _value_text(value: str, where: str) -> str:
    """One wildcard value as template text: the one place where file text meets the grammar.

    Characters the grammar would misread in plain text (``#``, ``$5``, ``50%``) are made
    literal; ``[orange]`` and a ``|`` outside braces are literal to the grammar already;
    braces and ``__nested__`` wildcards keep their meaning (a value may be a template), and
    a value the grammar cannot read raises ``TemplateError`` naming ``where``.
    """
    text = protect(value)
    if TEMPLATE_MARKS.search(text):
        parse_template(text, where=where)
    return text


def _text_values(path: Path) -> list[str]:
    values = []
    for number, line in enumerate(read_user_text(path).splitlines(), start=1):
        value = line.strip()
        if not value or (value.startswith("#") and not _HEX_COLOUR.match(value)):
            continue
        values.append(_value_text(value, f"wildcard file {path}, line {number}"))
    return values


class _UserTextFile:
    """A wildcard ``.txt`` file, read when first used (the library only calls
    ``get_values``, so this needs no base class from it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._values: list[str] | None = None

    def __repr__(self) -> str:
        return f"<wildcard file {self.path}>"

    def get_values(self) -> list[str]:
        if self._values is None:
            self._values = _text_values(self.path)
        return self._values


def _structured(path: Path, root: Path) -> Iterator[tuple[str, WildcardCollection]]:
    """The wildcards of a JSON or YAML file (dynamic-prompts' "pantry" files), each value
    made template text as a ``.txt`` line is."""
    from dynamicprompts.wildcards.collection.list import ListWildcardCollection
    from dynamicprompts.wildcards.collection.structured import _parse_structured_file_dict
    from dynamicprompts.wildcards.item import WildcardItem

    text = read_user_text(path)
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml  # type: ignore[import-untyped]  # dynamic-prompts reads YAML with it

        data = yaml.safe_load(text)
    if isinstance(data, list):
        data = {path.stem: data}
    if not isinstance(data, dict):
        return
    prefix = _name(path.parent, root)
    for name, collection in _parse_structured_file_dict(data, file_path=path):
        entries = [
            WildcardItem(_value_text(str(e), f"wildcard file {path}"), e.weight)
            if isinstance(e, WildcardItem)
            else _value_text(str(e), f"wildcard file {path}")
            for e in collection.get_values()
        ]
        yield f"{prefix}/{name}" if prefix else name, ListWildcardCollection(entries)


def _folder_files(root: Path) -> dict[str, Any]:
    """Every wildcard under ``root`` by name (``"colors"``, ``"sub/name"``), as the library's
    own folder walk names them (hidden folders skipped, links followed)."""
    found: dict[str, Any] = {}
    for folder, subfolders, files in os.walk(root, followlinks=True):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for file_name in sorted(files):
            path = Path(folder) / file_name
            if path.suffix == ".txt":
                found[_name(path.with_suffix(""), root)] = _UserTextFile(path)
            elif path.suffix in (".json", ".yaml"):
                try:
                    found.update(_structured(path, root))
                except (OSError, ValueError, ImportError) as error:
                    # As dynamic-prompts does: one damaged pantry file does not stop the rest.
                    logger.warning("wildcard file %s skipped: %s", path, error)
    return found


def _name(path: Path, root: Path) -> str:
    return "" if path == root else path.relative_to(root).as_posix()
