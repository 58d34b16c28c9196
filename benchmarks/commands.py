"""The benchmark commands, shared by `eggroll-bench bench NAME` (cli/bench.py) and
`python -m eggroll_bench.benchmarks NAME`: one sub-command per script plus `all`. Imports no JAX:
a script's module is imported only when its command runs."""
from __future__ import annotations

import argparse
import importlib
import importlib.util

from eggroll_bench.benchmarks import options


def run_one(name: str, args: argparse.Namespace) -> int:
    module = importlib.import_module(f"eggroll_bench.benchmarks.{options.module_name(name)}")
    common = importlib.import_module("eggroll_bench.benchmarks.common")
    return common.run_checked(name, module.run, args)


def run_all(args: argparse.Namespace) -> int:
    """Every benchmark in turn with its default options, sharing --quick, --out, --repeats, --append."""
    shared = ["--out", args.out] + (["--quick"] if args.quick else []) + (["--append"] if args.append else [])
    shared += ["--repeats", str(args.repeats)] if args.repeats else []
    status = 0
    for name in options.NAMES:
        print(f"\n=== bench {name} ===", flush=True)
        if name in options.NEEDS and importlib.util.find_spec(options.NEEDS[name][0]) is None:
            module, extra = options.NEEDS[name]
            print(f"skipped: needs {module}, an optional extra (pip install -e \".[{extra}]\")", flush=True)
            continue
        if name in options.NEEDS_OPTION:
            print(f"skipped: needs {options.NEEDS_OPTION[name]}; run it as `eggroll-bench bench {name}`", flush=True)
            continue
        status = max(status, run_one(name, options.parser(name).parse_args(shared)))
    return status


def add_scripts(p: argparse.ArgumentParser) -> None:
    """One sub-command per benchmark, plus `all`, under parser `p`."""
    scripts = p.add_subparsers(dest="bench", metavar="NAME", required=True,
                               help=f"one of {', '.join(options.NAMES)}, or all")
    for name in options.NAMES:
        sub = scripts.add_parser(name, help=options.DESCRIPTIONS[name], description=options.DESCRIPTIONS[name])
        options.add_arguments(name, sub)
        sub.set_defaults(func=lambda args, name=name: run_one(name, args))
    every = scripts.add_parser("all", help="run every benchmark with its default grid",
                               description="Run " + ", ".join(options.NAMES) + " in turn.")
    options.add_common(every)
    every.set_defaults(func=run_all)
