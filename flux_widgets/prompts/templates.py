"""Prompt templates: variants ``{a|b}`` and wildcards ``__colors__``, in the dynamic-prompts syntax.

``a {red|green} {car|bicycle}`` expands to every combination (4 prompts) or to N random picks;
``__colors__`` draws the lines of ``colors.txt`` from the wildcard folders (``wildcard_files.py``,
which reads them as their authors wrote them).

The ``dynamicprompts`` library (the syntax of the A1111/ComfyUI dynamic-prompts extensions) parses
every template and draws the random picks. A few of its behaviours do not fit a tool that sends
paid requests, so this module adds to it rather than hiding them:

- A wildcard with no file is silently kept as the text ``__name__`` by the library; here it is a
  ``TemplateError`` naming the wildcard and the folders searched, raised before any request.
- Its grammar reads ``#`` as the start of a comment (a hashtag would silently cut the prompt)
  and refuses a ``$`` or ``%`` not followed by ``{`` ("$5", "50%"): those stay plain text here
  (``syntax.py``), and a prompt without ``{``, ``}`` or ``__`` is sent exactly as typed.
- Its immediate variables (``${v=!{a|b}}``) keep one value for every combination, so fewer
  prompts are made than shown: a combinatorial template holding one is refused before sending.
- Counting a template never expands it (``counting.py``): the studio recounts as you type.
- Its combinatorial generator builds a result object per fragment (about 16 ms per 1,000
  prompts); the common forms (text, ``{a|b}`` variants, wildcards, nesting) are expanded here
  from its parse tree with plain string products, with the same order and de-duplication, and
  every other form (``{2$$a|b}``, ``${var}``, ``{~a|b}``, ``%{wrap}``) goes to the library's own
  generator. Tests check both give the same prompts.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from ..errors import TemplateError as TemplateError  # re-exported: its home is errors.py
from ..params import PromptOrigin as PromptOrigin  # re-exported: its home is params.py
from .counting import TemplateCounter
from .syntax import TEMPLATE_MARKS, parse_template, restore
from .syntax import protect as protect  # re-exported: its home is syntax.py
from .wildcard_files import SHIPPED_WILDCARDS as SHIPPED_WILDCARDS
from .wildcard_files import WILDCARDS_DIR_ENV as WILDCARDS_DIR_ENV
from .wildcard_files import Wildcards as Wildcards
from .wildcard_files import default_wildcards as default_wildcards
from .wildcard_files import user_wildcards_dir as user_wildcards_dir

if TYPE_CHECKING:
    from dynamicprompts.commands import Command

MAX_COMBINATIONS = 100_000
"""A template that makes more prompts than this is refused: pick random ones instead."""


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

        if not TEMPLATE_MARKS.search(self.text):
            return LiteralCommand(self.text)  # no template syntax: the prompt as typed
        tree = parse_template(self.text, where="prompt template")
        _Walker(self.wildcards).check(tree)
        return tree

    @property
    def is_dynamic(self) -> bool:
        """True when the text holds a variant or a wildcard (more than one plain prompt)."""
        from dynamicprompts.commands import LiteralCommand

        return not isinstance(self._tree, LiteralCommand)

    def count(self) -> int:
        """How many prompts ``expand()`` makes, computed without making them (see
        ``counting.py``): exact, unless two choices of one variant each make over
        ``TEXTS_LIMIT`` prompts and some repeat between them (then an upper bound)."""
        return TemplateCounter(self.wildcards).count(self._tree)

    def expand(self, limit: int = MAX_COMBINATIONS) -> list[str]:
        """Every prompt the template makes (repeats removed as dynamic-prompts does).

        Raises ``TemplateError`` when there are more than ``limit``, or when one is empty.
        """
        total = self.count()
        if total == 0:
            # e.g. "{2$$a|a}": two different picks from one text (the library fails on it).
            raise TemplateError(
                f"{self.text!r} makes no prompt: a {{n$$...}} asks for more different "
                "choices than it has"
            )
        if total > limit:
            raise TemplateError(
                f"{self.text!r} makes {total:,} prompts, more than the limit of {limit:,}: "
                "use random picks (sample) or fewer choices"
            )
        walker = _Walker(self.wildcards)
        if walker.supported(self._tree):
            prompts = walker.expand(self._tree)
        else:
            # At most ``total``: a random pick alone ("{~a|b}") is endless in the library.
            prompts = self._library_expand(total)
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


def _checked(prompts: Sequence[str], template: str) -> list[str]:
    result = [restore(prompt) for prompt in prompts]
    for prompt in result:
        if not prompt.strip():
            raise TemplateError(
                f"{template!r} makes an empty prompt (an empty choice, or a blank wildcard "
                "line, is the whole prompt): give every choice some text"
            )
    return result


class _Walker:
    """Checks and expands a dynamic-prompts parse tree (``counting.py`` counts it).

    Handles literals, plain sequences, one-of variants ``{a|b}`` and named wildcards, the forms
    nearly every template uses; ``supported`` says when a tree holds anything else, which then
    goes to the library's generator.
    """

    def __init__(self, wildcards: Wildcards) -> None:
        self.wildcards = wildcards
        self._parsed: dict[str, Command] = {}

    def _parse(self, text: str) -> Command:
        tree = self._parsed.get(text)
        if tree is None:
            tree = self._parsed[text] = parse_template(text, where="wildcard value")
        return tree

    def _wildcard_values(self, name: str) -> list[str]:
        return self.wildcards.template_values(name)

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
