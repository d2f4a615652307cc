"""How many prompts a template makes, computed from its parse tree without expanding it.

The studio recounts as the prompt is typed, so a count must cost the size of the template,
not the number of prompts: products over a sequence, sums over a variant's choices, ``k!``
times the k-th elementary symmetric sum for ``{n-m$$...}`` (ordered picks of k different
choices, as dynamic-prompts makes them), the lines of a wildcard, one for a random ``{~...}``
or cyclical ``{@...}`` pick. It follows dynamic-prompts' combinatorial sampler
(``samplers/combinatorial.py`` in the installed library), including its de-duplication: a
variant drops a result it already gave, so where two choices can give the same text the
texts themselves are compared, for choices small enough to list (``TEXTS_LIMIT``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import TemplateError
from .syntax import parse_template
from .wildcard_files import Wildcards

if TYPE_CHECKING:
    from dynamicprompts.commands import Command, VariantCommand, WildcardCommand

TEXTS_LIMIT = 4096
"""A part of a template that makes more texts than this is counted, not listed: repeats
between two such parts of one variant are then not seen (the count is an upper bound)."""
_LIST_LIMIT = 100_000
"""Overlapping choices of one ``{n-m$$...}`` variant are listed up to this many picks."""


@dataclass(frozen=True)
class _Tally:
    """A part's prompts: how many it yields, and their distinct texts when listed."""

    count: int
    texts: frozenset[str] | None = None


class TemplateCounter:
    """Counts the prompts of parse trees drawing on ``wildcards`` (files read once)."""

    def __init__(self, wildcards: Wildcards) -> None:
        self.wildcards = wildcards
        self._parsed: dict[str, Command] = {}

    def count(self, tree: Command) -> int:
        """The number of prompts dynamic-prompts' combinatorial generator makes from ``tree``.

        Raises ``TemplateError`` for an immediate variable (``${v=!...}``, one value for all
        combinations), a variable used but never set, or a missing wildcard.
        """
        return self._tally(tree, {}, (), listed=False).count

    def _tally(
        self, node: Command, variables: Mapping[str, Command], using: tuple[str, ...], listed: bool
    ) -> _Tally:
        from dynamicprompts.commands import (
            LiteralCommand,
            SamplingMethod,
            SequenceCommand,
            VariantCommand,
            WildcardCommand,
            WrapCommand,
        )
        from dynamicprompts.commands.variable_commands import (
            VariableAccessCommand,
            VariableAssignmentCommand,
        )

        if node.sampling_method in (SamplingMethod.RANDOM, SamplingMethod.CYCLICAL):
            # One random (or cyclical) pick per combination of the rest. Its text is known only
            # where every choice reads the same ({~a}, {~a|a}): then a sibling may repeat it.
            if listed and isinstance(node, VariantCommand) and len(node.values) <= 64:
                picks = [self._tally(c, variables, using, listed=True) for c in node.values]
                texts = _union(picks)
                if texts is not None and len(texts) == 1 and all(t.count == 1 for t in picks):
                    return _Tally(1, texts)
            return _Tally(1)
        if isinstance(node, LiteralCommand):
            return _Tally(1, frozenset((node.literal,)))
        if isinstance(node, SequenceCommand):
            return self._sequence(node.tokens, node.separator, variables, using, listed)
        if isinstance(node, VariantCommand):
            return self._variant(node, variables, using, listed)
        if isinstance(node, WildcardCommand):
            parts = [self._parse(v) for v in self._wildcard_values(node)]
            scope = {**variables, **node.variables}
            tallies = [self._tally(part, scope, using, listed) for part in parts]
            return _Tally(sum(t.count for t in tallies), _union(tallies) if listed else None)
        if isinstance(node, VariableAccessCommand):
            value = variables.get(node.name, node.default)
            if value is None:
                raise TemplateError(f"the variable ${{{node.name}}} is used but never set")
            if node.name in using:
                raise TemplateError(f"the variable ${{{node.name}}} is set from itself")
            return self._tally(value, variables, (*using, node.name), listed)
        if isinstance(node, WrapCommand):
            wrapper = self._tally(node.wrapper, variables, using, listed=False)
            inner = self._tally(node.inner, variables, using, listed=False)
            return _Tally(wrapper.count * inner.count)
        if isinstance(node, VariableAssignmentCommand):
            return self._sequence([node], "", variables, using, listed)
        raise TemplateError(f"this template form ({type(node).__name__}) cannot be counted")

    def _sequence(
        self,
        tokens: Sequence[Command],
        separator: str,
        variables: Mapping[str, Command],
        using: tuple[str, ...],
        listed: bool,
    ) -> _Tally:
        from dynamicprompts.commands.variable_commands import VariableAssignmentCommand

        scope = dict(variables)
        parts = []
        for token in tokens:
            if not isinstance(token, VariableAssignmentCommand):
                parts.append(token)
            elif token.immediate:
                # dynamic-prompts picks one value for every combination, so fewer prompts are
                # made than the rest of the template shows.
                raise TemplateError(
                    f"${{{token.name}=!...}} keeps one value for all prompts, which only "
                    "random picks support: use random picks, or write the choices where "
                    f"${{{token.name}}} is used"
                )
            elif token.overwrite or token.name not in scope:
                scope[token.name] = token.value
        tallies = [self._tally(part, scope, using, listed) for part in parts]
        total = 1
        for tally in tallies:
            total *= tally.count
        texts = None
        if listed and total <= TEXTS_LIMIT and all(t.texts is not None for t in tallies):
            choices = [sorted(t.texts or ()) for t in tallies]
            texts = frozenset(separator.join(p) for p in itertools.product(*choices))
        return _Tally(total, texts)

    def _variant(
        self,
        node: VariantCommand,
        variables: Mapping[str, Command],
        using: tuple[str, ...],
        listed: bool,
    ) -> _Tally:
        from dynamicprompts.commands import WildcardCommand

        choices: list[Command] = list(node.values)
        if len(choices) == 1 and isinstance(choices[0], WildcardCommand):
            # {2$$__name__}: the wildcard's values are the choices (``wildcard_to_variant``).
            wildcard = choices[0]
            choices = [self._parse(v) for v in self._wildcard_values(wildcard)]
            variables = {**variables, **wildcard.variables}
        low, high = min(node.min_bound, len(choices)), min(node.max_bound, len(choices))
        # A pick never repeats a choice, and equal choices are one (``get_value_combinations``).
        distinct: list[Command] = []
        for choice in choices:
            if choice not in distinct:
                distinct.append(choice)
        tallies = [self._tally(c, variables, using, listed=True) for c in distinct]
        sizes = [len(t.texts) if t.texts is not None else t.count for t in tallies]
        upper = sum(_ordered_picks(sizes, k) for k in range(low, high + 1))
        listable = all(t.texts is not None for t in tallies)
        overlap = listable and len(_union(tallies) or ()) < sum(sizes)
        if listable and (overlap or listed) and upper <= _LIST_LIMIT:
            return _listed_picks(tallies, low, high, node.separator)
        return _Tally(upper)

    def _wildcard_values(self, node: WildcardCommand) -> list[str]:
        if not isinstance(node.wildcard, str):
            raise TemplateError("a wildcard's name cannot itself hold choices: name one file")
        return self.wildcards.template_values(node.wildcard)

    def _parse(self, text: str) -> Command:
        tree = self._parsed.get(text)
        if tree is None:
            tree = self._parsed[text] = parse_template(text, where="wildcard value")
        return tree


def _union(tallies: Sequence[_Tally]) -> frozenset[str] | None:
    if any(t.texts is None for t in tallies):
        return None
    return frozenset().union(*(t.texts or () for t in tallies))


def _ordered_picks(sizes: Sequence[int], k: int) -> int:
    """Ordered picks of ``k`` different choices, one text from each: ``k!`` times the k-th
    elementary symmetric sum of the choices' sizes."""
    sums = [1] + [0] * k
    for size in sizes:
        for j in range(k, 0, -1):
            sums[j] += sums[j - 1] * size
    return sums[k] * _factorial(k)


def _factorial(k: int) -> int:
    result = 1
    for i in range(2, k + 1):
        result *= i
    return result


def _listed_picks(tallies: Sequence[_Tally], low: int, high: int, separator: str) -> _Tally:
    """A variant's distinct picks, listed: each pick is a tuple of different texts, one from
    each of k different choices, and a tuple already made is not made again."""
    texts = [sorted(t.texts or ()) for t in tallies]
    picks: set[tuple[str, ...]] = set()
    for k in range(low, high + 1):
        for order in itertools.permutations(range(len(texts)), k):
            for pick in itertools.product(*(texts[i] for i in order)):
                if len(set(pick)) == k:
                    picks.add(pick)
    joined = frozenset(_joined(pick, separator) for pick in picks)
    return _Tally(len(picks), joined if len(joined) <= TEXTS_LIMIT else None)


def _joined(parts: Sequence[str], separator: str) -> str:
    """As dynamic-prompts joins a pick: one part as it is; more joined, one separator cut
    from each end."""
    if len(parts) == 1:
        return parts[0]
    text = separator.join(parts)
    if separator:
        text = text.removeprefix(separator).removesuffix(separator)
    return text
