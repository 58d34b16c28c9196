"""`eggroll-bench` — the command-line entry point.

Each subcommand lives in the module that owns its work and exposes `add_parser(subparsers)`,
which registers the subcommand and sets `func` (args -> exit status). This module only
assembles them, so adding a command never touches another's code.

Every command takes `--import MODULE` (repeatable): a module of the user's that registers tasks or
algorithms. Those modules are loaded before the parser is built, so `--algo` and `--env` choices,
sweep files and every trial process see what they register (see `eggroll_bench.plugins`).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from eggroll_bench import plugins

# (module, what it provides) in the order `--help` lists them
SUBCOMMAND_MODULES = (
    "eggroll_bench.cli.envs",   # envs
    "eggroll_bench.cli.train",  # train
    "eggroll_bench.cli.sweep",  # sweep, status
    "eggroll_bench.cli.plot",   # plot
    "eggroll_bench.cli.validate",  # validate
    "eggroll_bench.cli.report",  # report
    "eggroll_bench.cli.rollout",  # rollout
    "eggroll_bench.cli.paper",  # paper
    "eggroll_bench.cli.bench",  # bench
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eggroll-bench",
        description="Benchmark EGGROLL, OpenES and PPO on gymnax, brax and jaxmarl tasks.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    for command in subparsers.choices.values():
        add_import_option(command)
    return parser


def add_import_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="import MODULE first (repeatable): a module of yours that registers tasks or "
                             "algorithms; the current directory is searched too")


def load_imports(argv: list[str]) -> None:
    """Load the `--import` modules named anywhere in `argv`, before any name is resolved."""
    pre = argparse.ArgumentParser(add_help=False)
    add_import_option(pre)
    known, _ = pre.parse_known_args(argv)
    if known.imports:
        plugins.search_current_directory()
    plugins.load_modules(known.imports)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        load_imports(argv)
    except plugins.PluginError as err:
        print(f"eggroll-bench: error: {err}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)

