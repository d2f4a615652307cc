"""Prompt templates: variants ``{a|b}`` and wildcards ``__colors__``, in the dynamic-prompts syntax.

``a {red|green} {car|bicycle}`` expands to every combination (4 prompts) or to N random picks;
``__colors__`` draws the lines of ``colors.txt`` from the wildcard folders: the few shipped in
the package, then the user's own (``FLUX_WIDGETS_WILDCARDS_DIR``, else ``wildcards`` in the user
data folder; a user file replaces a shipped one of the same name).

The ``dynamicprompts`` library (the syntax of the A1111/ComfyUI dynamic-prompts extensions) parses
every template and draws the random picks. A few of its behaviours do not fit a tool that sends
paid requests, so this module adds to it rather than hiding them:

- A wildcard with no file is silently kept as the text ``__name__`` by the library; here it is a
  ``TemplateError`` naming the wildcard and the folders searched, raised before any request.
- Its grammar reads ``#`` as the start of a comment (a hashtag would silently cut the prompt)
  and refuses a ``$`` or ``%`` not followed by ``{`` ("$5", "50%"): those stay plain text here,
  and a prompt without ``{``, ``}`` or ``__`` is sent exactly as typed, never parsed.
- Its combinatorial generator builds a result object per fragment (about 16 ms per 1,000
  prompts); the common forms (text, ``{a|b}`` variants, wildcards, nesting) are expanded here
  from its parse tree with plain string products, with the same order and de-duplication, and
  every other form (``{2$$a|b}``, ``${var}``, ``{~a|b}``, ``%{wrap}``) goes to the library's own
  generator. Tests check both give the same prompts.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TemplateError as TemplateError  # re-exported: its home is errors.py
from ..params import PromptOrigin as PromptOrigin  # re-exported: its home is params.py

if TYPE_CHECKING:
    from dynamicprompts.commands import Command
    from dynamicprompts.wildcards import WildcardManager

WILDCARDS_DIR_ENV = "FLUX_WIDGETS_WILDCARDS_DIR"
SHIPPED_WILDCARDS = Path(__file__).parent / "wildcards"
"""The wildcard files that ship with flux-widgets (``colors``, ``animals``, ...)."""
MAX_COMBINATIONS = 100_000
"""A template that makes more prompts than this is refused: pick random ones instead."""


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
    once (a name not found makes them read again); call ``reload`` after editing one.
    """

    folders: tuple[Path, ...]

    @classmethod
    def default(cls, *extra: str | os.PathLike[str]) -> Wildcards:
        """The shipped folder, the user's folder, then ``extra`` folders."""
        return cls((SHIPPED_WILDCARDS, user_wildcards_dir(), *(Path(p) for p in extra)))

    @cached_property
    def manager(self) -> WildcardManager:
        from dynamicprompts.wildcards import WildcardManager

        roots: list[Any] = [folder for folder in self.folders if folder.is_dir()]
        return WildcardManager(root_map={"": roots})

    def reload(self) -> None:
        """Forget what was read, so edited files (and a folder created since) are read again."""
        # The manager's roots are fixed when it is made, and only existing folders are roots.
        self.__dict__.pop("manager", None)

    def names(self) -> list[str]:
        """Every wildcard name available, sorted (``"colors"``, ``"sub/name"``)."""
        return sorted(self.manager.get_collection_names())

    def values(self, name: str) -> list[str]:
        """The values of ``name`` (with or without the ``__``), sorted and without repeats.

        Raises ``TemplateError`` when no file matches.
        """
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


@dataclass(frozen=True, eq=False)
class PromptTemplate:
    """A prompt that may hold variants and wildcards; plain text is a template of one prompt.

    ``count()`` says how many prompts ``expand()`` gives (every combination, in order: the
    first variant changes slowest); ``sample(n, seed=)`` draws ``n`` random prompts instead.
    Every method raises ``TemplateError`` on bad syntax or a missing wildcard.
    """

    text: str
    wildcards: Wildcards = field(default_factory=default_wildcards)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TemplateError(f"a prompt template is text, got {type(self.text).__name__}")

    @cached_property
    def _tree(self) -> Command:
        from dynamicprompts.commands import LiteralCommand
        from dynamicprompts.parser.parse import parse
        from pyparsing import ParseBaseException

        if not _TEMPLATE_MARKS.search(self.text):
            return LiteralCommand(self.text)  # no template syntax: the prompt as typed
        try:
            tree = parse(protect(self.text))
        except ParseBaseException as error:
            raise TemplateError(
                f"prompt template: {error.msg} at character {error.loc + 1} of {self.text!r} "
                "(every { needs its }, and | separates the choices inside)"
            ) from None
        _Walker(self.wildcards).check(tree)
        return tree

    @property
    def is_dynamic(self) -> bool:
        """True when the text holds a variant or a wildcard (more than one plain prompt)."""
        from dynamicprompts.commands import LiteralCommand

        return not isinstance(self._tree, LiteralCommand)

    def count(self) -> int:
        """How many prompts ``expand()`` makes: exact up to ``MAX_COMBINATIONS``, an upper
        bound (repeats not removed) beyond it. Cheap: nothing beyond that is expanded."""
        walker = _Walker(self.wildcards)
        if not walker.supported(self._tree):
            return len(self._library_expand(MAX_COMBINATIONS + 1))
        return walker.count(self._tree)

    def expand(self, limit: int = MAX_COMBINATIONS) -> list[str]:
        """Every prompt the template makes (repeats removed as dynamic-prompts does).

        Raises ``TemplateError`` when there are more than ``limit``, or when one is empty.
        """
        total = self.count()
        if total > limit:
            raise TemplateError(
                f"{self.text!r} makes {total:,} prompts, more than the limit of {limit:,}: "
                "use random picks (sample) or fewer choices"
            )
        walker = _Walker(self.wildcards)
        if walker.supported(self._tree):
            prompts = walker.expand(self._tree)
        else:
            prompts = self._library_expand(limit)
        return _checked(prompts, self.text)

    def sample(self, n: int, *, seed: int | None = None) -> list[str]:
        """``n`` prompts drawn at random (repeats possible, as in dynamic-prompts); the same
        ``seed`` draws the same prompts."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TemplateError(f"the number of random prompts must be at least 1, got {n!r}")
        from dynamicprompts.generators import RandomPromptGenerator

        self._tree  # noqa: B018 - syntax and wildcards are checked before drawing
        if not self.is_dynamic:
            return _checked([self.text] * n, self.text)
        generator = RandomPromptGenerator(self.wildcards.manager, seed=_seed(seed))
        return _checked(generator.generate(protect(self.text), n), self.text)

    def _library_expand(self, limit: int) -> list[str]:
        from dynamicprompts.generators import CombinatorialPromptGenerator

        generator = CombinatorialPromptGenerator(self.wildcards.manager)
        return generator.generate(protect(self.text), max_prompts=limit)

    def __repr__(self) -> str:
        return f"PromptTemplate({self.text!r})"


def expand_prompts(
    template: str,
    *,
    random_count: int | None = None,
    seed: int | None = None,
    wildcards: Wildcards | None = None,
    limit: int = MAX_COMBINATIONS,
) -> list[str]:
    """The prompts of ``template``: every combination, or ``random_count`` random picks.

    Raises ``TemplateError`` (a ``ValueError``) on bad syntax, a missing wildcard, an empty
    prompt, or more than ``limit`` combinations.
    """
    made = PromptTemplate(template, wildcards or default_wildcards())
    if random_count is not None:
        return made.sample(random_count, seed=seed)
    return made.expand(limit)


def _seed(seed: int | None) -> int:
    # RandomPromptGenerator(seed=None) shares one process-wide Random: draw a fresh seed instead.
    return random.randrange(2**32) if seed is None else seed


# Where the library's grammar gives plain prompt characters a meaning: "#" starts a comment (a
# hashtag would silently cut the prompt), and "$" and "%" not followed by "{" are parse errors
# ("$5", "50%"). They stand in as private-use characters while the library parses, and are put
# back in every prompt (``_checked``). "${var}" and "%{wrap}" keep their meaning.
_PROTECTED = {"#": "\ue000", "$": "\ue001", "%": "\ue002"}
# "$$" (a variant's "{2$$a|b}" bound separator) keeps its meaning too.
_PROTECT = re.compile(r"#|%(?!\{)|(?<!\$)\$(?![{$])")
_RESTORE = str.maketrans({v: k for k, v in _PROTECTED.items()})
_TEMPLATE_MARKS = re.compile(r"[{}]|__")


def protect(text: str) -> str:
    """``text`` with the characters the library would misread replaced (see ``_PROTECTED``)."""
    return _PROTECT.sub(lambda m: _PROTECTED[m.group(0)], text)


def _restore(text: str) -> str:
    return text.translate(_RESTORE)


def _checked(prompts: Sequence[str], template: str) -> list[str]:
    result = [_restore(prompt) for prompt in prompts]
    for prompt in result:
        if not prompt.strip():
            raise TemplateError(
                f"{template!r} makes an empty prompt (an empty choice, or a blank wildcard "
                "line, is the whole prompt): give every choice some text"
            )
    return result


class _Walker:
    """Checks, counts and expands a dynamic-prompts parse tree.

    Handles literals, plain sequences, one-of variants ``{a|b}`` and named wildcards, the forms
    nearly every template uses; ``supported`` says when a tree holds anything else, which then
    goes to the library's generator.
    """

    def __init__(self, wildcards: Wildcards) -> None:
        self.wildcards = wildcards
        self._parsed: dict[str, Command] = {}
        self._counts: dict[int, int] = {}

    def _parse(self, text: str) -> Command:
        tree = self._parsed.get(text)
        if tree is None:
            from dynamicprompts.parser.parse import parse

            tree = self._parsed[text] = parse(protect(text))
        return tree

    def _wildcard_values(self, name: str) -> list[str]:
        return self.wildcards.values(name)

    def children(self, node: Command) -> Iterable[Command]:
        from dynamicprompts.commands import SequenceCommand, VariantCommand, WildcardCommand

        if isinstance(node, SequenceCommand):
            yield from node.tokens
        elif isinstance(node, VariantCommand):
            yield from node.values
        elif isinstance(node, WildcardCommand) and isinstance(node.wildcard, str):
            for value in self._wildcard_values(node.wildcard):
                yield self._parse(value)
        else:
            for name in ("value", "wildcard", "inner", "wrapper", "default"):
                child = getattr(node, name, None)
                if child is not None and not isinstance(child, str):
                    yield child

    def check(self, node: Command, active: tuple[str, ...] = ()) -> None:
        """Every named wildcard (also inside wildcard files) exists, and none includes itself."""
        from dynamicprompts.commands import WildcardCommand

        if isinstance(node, WildcardCommand) and isinstance(node.wildcard, str):
            name = node.wildcard
            if name in active:
                chain = " -> ".join(f"__{n}__" for n in (*active, name))
                raise TemplateError(f"wildcard __{name}__ includes itself ({chain})")
            active = (*active, name)
        for child in self.children(node):
            self.check(child, active)

    def supported(self, node: Command) -> bool:
        from dynamicprompts.commands import (
            LiteralCommand,
            SamplingMethod,
            SequenceCommand,
            VariantCommand,
            WildcardCommand,
        )

        if node.sampling_method not in (None, SamplingMethod.COMBINATORIAL):
            return False
        if isinstance(node, LiteralCommand):
            return True
        if isinstance(node, SequenceCommand):
            ok = node.separator == ""
        elif isinstance(node, VariantCommand):
            ok = node.min_bound == node.max_bound == 1
        elif isinstance(node, WildcardCommand):
            ok = isinstance(node.wildcard, str) and not node.variables
        else:
            return False
        return ok and all(self.supported(child) for child in self.children(node))

    def count(self, node: Command) -> int:
        from dynamicprompts.commands import SequenceCommand, VariantCommand

        known = self._counts.get(id(node))
        if known is not None:
            return known
        if isinstance(node, SequenceCommand):
            total = 1
            for token in node.tokens:
                total *= self.count(token)
        elif isinstance(node, VariantCommand):
            total = sum(self.count(child) for child in node.values)
            if total <= MAX_COMBINATIONS:
                total = len(self.expand(node))  # exact: repeated choices count once
        else:
            total = sum(self.count(child) for child in self.children(node)) or 1
        self._counts[id(node)] = total
        return total

    def expand(self, node: Command) -> list[str]:
        from dynamicprompts.commands import (
            LiteralCommand,
            SequenceCommand,
            VariantCommand,
        )

        if isinstance(node, LiteralCommand):
            return [node.literal]
        if isinstance(node, SequenceCommand):
            prompts = [""]
            for token in node.tokens:
                parts = self.expand(token)
                if len(parts) == 1:
                    part = parts[0]
                    prompts = [prompt + part for prompt in prompts]
                else:
                    prompts = [prompt + part for prompt in prompts for part in parts]
            return prompts
        if isinstance(node, VariantCommand):
            # dynamic-prompts drops a choice that repeats an earlier one.
            return list(dict.fromkeys(p for child in node.values for p in self.expand(child)))
        # A wildcard: each value in turn, itself expanded (no de-duplication, as the library).
        return [p for child in self.children(node) for p in self.expand(child)]
