"""`eggroll-bench plot RESULTS_DIR [--out DIR] [--style robust|paper] [--inference CSV]`.

Plotting libraries are imported only when the command runs, so `eggroll-bench --help` and the
other subcommands stay fast.
"""
from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from eggroll_bench.plots.load import ResultsError
    from eggroll_bench.plots.render import render

    try:
        result = render(args.results_dir, args.out, args.style, args.inference)
    except ResultsError as err:
        print(f"eggroll-bench plot: {err}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"note: {note}")
    for name, value in result.outputs.items():
        if isinstance(value, str):
            print(f"{'FAILED' if value.startswith('error:') else 'skipped'} {name}: {value}")
        else:
            print(f"wrote {name}: {', '.join(str(p) for p in value)}")
    return 1 if result.errors else 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("plot", help="render the figures and summary table of a results directory",
                              description="Render figures (PNG + PDF) and summary.csv / summary.md from "
                                          "RESULTS_DIR/results.csv alone.")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="a sweep's results directory (results/<sweep>)")
    p.add_argument("--out", metavar="DIR", default=None, help="output directory (default: RESULTS_DIR/figures)")
    p.add_argument("--style", choices=("robust", "paper"), default="robust",
                   help="robust: rliable-style IQM with bootstrap CIs (default); paper: also the paper's "
                        "R / R_PPO curve averaged over tasks")
    p.add_argument("--inference", metavar="CSV", default=None,
                   help="pure-inference throughput ceiling (columns hidden, pop_size, steps_per_s; "
                        "default: RESULTS_DIR/inference.csv if present)")
    p.set_defaults(func=run)
