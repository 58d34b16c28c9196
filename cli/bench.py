"""`eggroll-bench bench NAME [--quick] [--out DIR] ...` (NAME: one of benchmarks.options.NAMES, or all)

Registers the `bench` subcommand (see cli/__init__.py). The sub-commands come from
`eggroll_bench.benchmarks.commands`, which `python -m eggroll_bench.benchmarks NAME` uses too; each
benchmark module (which imports JAX) is imported only when its sub-command runs.
"""
from __future__ import annotations

from eggroll_bench.benchmarks.commands import add_scripts


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="throughput, update-cost, memory, compile-time and PPO benchmarks",
        description="Throughput benchmarks. Each prints a table and writes OUT/NAME.csv; see benchmarks/README.md.")
    add_scripts(p)
