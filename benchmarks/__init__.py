"""Benchmarks: scripts that measure flux-widgets side by side with a baseline and print tables.

Run them with ``make bench`` or ``python -m benchmarks.run_all [--quick]``; see README.md.
They are not tests: timings are printed, never asserted.
"""
