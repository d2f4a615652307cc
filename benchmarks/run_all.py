"""Run every benchmark, each in a fresh interpreter, and print their tables one after another.

    python -m benchmarks.run_all [--quick] [--only client,import,mock,render,studio,history,...]

What ``make bench`` runs. A fresh process per script keeps one script's memory and threads out
of another's numbers (row 6 measures RSS).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from .stats import machine

SCRIPTS = {
    "client": "benchmarks.bench_client",  # rows 1-5
    "studio": "benchmarks.bench_studio",  # rows 6-8
    "import": "benchmarks.bench_import",  # row 9
    "mock": "benchmarks.bench_mock",  # row 10
    "render": "benchmarks.bench_render",  # row 11
    "notebook": "benchmarks.bench_notebook",  # row 12
    "history": "benchmarks.bench_history",  # rows H1-H7
    "explore": "benchmarks.bench_explore",  # rows E1-E2
    "browser": "benchmarks.bench_browser",  # rows B1-B2 (JupyterLab in headless Chromium)
    "providers": "benchmarks.bench_providers",  # rows P1-Pn (one per provider), PG
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks and print their tables.")
    parser.add_argument("--quick", action="store_true", help="tiny runs (a smoke test)")
    parser.add_argument(
        "--only", default=",".join(SCRIPTS), help="comma-separated: " + ", ".join(SCRIPTS)
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCRIPTS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    print(f"# flux-widgets benchmarks{' (quick)' if args.quick else ''}\n", flush=True)
    print(f"Machine: {machine()}\n", flush=True)
    failed = 0
    for name in names:
        command = [sys.executable, "-m", SCRIPTS[name], *(["--quick"] if args.quick else [])]
        began = time.perf_counter()
        result = subprocess.run(command, check=False)
        print(f"({name}: {time.perf_counter() - began:.0f} s)\n", flush=True)
        failed += result.returncode != 0
    # Targets missed are printed as "NO" in the tables, not turned into a failing exit code:
    # timings on a shared machine are information, not assertions. A crash is an error.
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
