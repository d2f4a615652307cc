"""Row 9: ``import flux_widgets`` against importing its heavy dependencies alone.

Each import runs in a fresh interpreter (nothing cached in ``sys.modules``) and times itself
with ``perf_counter`` around the import statement, so interpreter start-up is not counted. The
two kinds alternate, many times, and the medians are compared.

    python -m benchmarks.bench_import [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from .stats import Row, format_table, machine, median, ms, ratio

OURS = "import flux_widgets"
# The same, widgets included (what a notebook that shows the studio pays).
OURS_WITH_WIDGETS = "import flux_widgets; flux_widgets.PromptStudio"
# What any user of the package pays anyway: the widget library, the HTTP client, Pillow's core.
BASELINE = "import ipywidgets, httpx, PIL.Image"
_TIMER = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"


def import_seconds(statement: str) -> float:
    """Seconds ``statement`` takes in a fresh interpreter."""
    code = _TIMER.format(statement=statement)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def main(quick: bool, repeats: int | None) -> str:
    n = repeats or (3 if quick else 25)
    statements = (OURS, OURS_WITH_WIDGETS, BASELINE)
    samples: dict[str, list[float]] = {statement: [] for statement in statements}
    for statement in statements:  # warm the file system cache and the .pyc files
        import_seconds(statement)
    for i in range(n):
        for statement in statements if i % 2 == 0 else statements[::-1]:
            samples[statement].append(import_seconds(statement))
    baseline = median(samples[BASELINE])
    rows = [
        Row(
            number,
            f"`{statement}` (median of {n} fresh interpreters)",
            ms(median(samples[statement])),
            f"`{BASELINE}` {ms(baseline)}",
            ratio(median(samples[statement]), baseline),
            "<= 1.15x" if number == "9" else "- (reported)",
            median(samples[statement]) <= 1.15 * baseline if number == "9" else None,
        )
        for number, statement in (("9", OURS), ("9b", OURS_WITH_WIDGETS))
    ]
    notes = [
        "flux_widgets loads its widgets (and so ipywidgets) lazily, on first use of PromptStudio;"
        " 9b pays for them too (a kernel has asyncio, tornado and IPython loaded already, which"
        " a fresh interpreter pays here: `python -X importtime` shows where the rest goes)",
        machine(),
    ]
    return format_table("Import time (row 9)", rows, notes)


def cli() -> None:
    parser = argparse.ArgumentParser(description="Row 9: import time.")
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="interpreters per kind")
    args = parser.parse_args()
    print(main(args.quick, args.repeats), flush=True)


if __name__ == "__main__":
    cli()
