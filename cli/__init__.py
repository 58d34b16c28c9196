"""`eggroll-bench` — the command-line entry point.

Each subcommand lives in the module that owns its work and exposes `add_parser(subparsers)`,
which registers the subcommand and sets `func` (args -> exit status). This module only
assembles them, so adding a command never touches another's code.
"""
from __future__ import annotations

import argparse
import importlib

# (module, what it provides) in the order `--help` lists them
SUBCOMMAND_MODULES = (
    "eggroll_bench.cli.envs",          # envs
    "eggroll_bench.cli.train",         # train
    "eggroll_bench.cli.sweep",  # sweep, status
    "eggroll_bench.cli.plot",         # plot
    "eggroll_bench.cli.paper",  # paper
    "eggroll_bench.cli.bench",    # bench
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eggroll-bench",
        description="Benchmark EGGROLL, OpenES and PPO on gymnax, brax and jaxmarl tasks.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)

