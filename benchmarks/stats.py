"""Statistics and the result table every benchmark prints.

Each row names the thing measured, the flux-widgets value, the baseline measured in the same
run, their ratio, the target and whether it holds, so a table can be read on its own.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

COLUMNS = ("#", "measure", "flux-widgets", "baseline", "ratio", "target", "ok")


def median(values: Iterable[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between the closest ranks (numpy's default)."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def peak_count(times: Iterable[float], window: float) -> int:
    """The most events in any half-open interval ``[t, t + window)``."""
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:.3f}x" if baseline else "-"


@dataclass(frozen=True)
class Row:
    """One line of a result table; ``ok`` is None where there is no target to hold."""

    number: str
    measure: str
    ours: str
    baseline: str
    ratio: str
    target: str
    ok: bool | None

    def cells(self) -> tuple[str, ...]:
        verdict = "-" if self.ok is None else ("yes" if self.ok else "NO")
        values = (self.number, self.measure, self.ours, self.baseline, self.ratio, self.target)
        return (*values, verdict)


def format_table(title: str, rows: Sequence[Row], notes: Sequence[str] = ()) -> str:
    """A Markdown table (aligned, so it reads in a terminal too), a title and notes under it."""
    lines = [row.cells() for row in rows]
    widths = [max(len(c[i]) for c in [COLUMNS, *lines]) for i in range(len(COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [f"### {title}", "", line(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(cells) for cells in lines]
    if notes:
        out.append("")
        out += [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


def machine() -> str:
    """One line naming the machine: CPU model, cores, Python."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for text in cpuinfo:
                if text.startswith("model name"):
                    model = text.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = os.cpu_count() or 0
    return f"{model}, {cores} cores, Python {sys.version.split()[0]} ({platform.system()})"
