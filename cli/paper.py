"""`eggroll-bench paper [--quick] [--suite S]`: regenerate the paper's RL figures — run the sweeps, then plot.

Each sweep resumes (finished trials are skipped), so re-running after an interruption, or after
adding seeds to a sweep file, only runs what is missing. Figures go to `<results>/figures/`.

    --quick                 sweeps/quick.toml (CPU-sized: 3 algorithms x 4 small tasks, 3-8 min on 2 cores)
    --quick --suite paper16 sweeps/paper16_quick.toml (CPU-sized: 3 algorithms x the 16 paper tasks)
    (default)               sweeps/core16.toml, sweeps/marl.toml and sweeps/scaling.toml at GPU budgets
    --suite S               only the sweeps of S: core16, marl, scaling, or paper16 (the paper's 16
                            tasks: sweeps/paper16_tune.toml's random search, then sweeps/paper16_final.toml
                            with the configurations it chose, 10 seeds)

paper16 needs the optional environment libraries (`pip install -e ".[paper]"`); without them the
command stops before any work with the install line. Its figures are drawn in both styles: the
paper style is a superset (every robust figure plus the paper's R / R_PPO figures, under other
file names), so one rendering holds both. A tune sweep is not plotted: its best.json feeds the
final sweep.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from eggroll_bench.cli.sweep import (add_executor_flags, add_group_flags, add_in_process_flag, executor_settings,
                                     group_settings)
from eggroll_bench.cli.train import add_compile_cache_flags, add_mixed_versions_flag, apply_compile_cache

SWEEP_DIR = Path(__file__).parents[1] / "sweeps"  # the sweep files ship in eggroll_bench.sweeps
INFERENCE_CSV = Path("results/bench/inference.csv")  # written by `eggroll-bench bench generation`


@dataclass(frozen=True)
class Plan:
    """The sweep files of one suite, run in order (a tune sweep before the final that reads its best.json)."""

    files: tuple[str, ...]
    both_styles: bool = False  # plot in the paper style too (a superset of the robust figures)


FULL = {
    "core16": Plan(("core16.toml",)),
    "marl": Plan(("marl.toml",)),
    "scaling": Plan(("scaling.toml",)),
    "paper16": Plan(("paper16_tune.toml", "paper16_final.toml"), both_styles=True),
}
DEFAULT_SUITES = ("core16", "marl", "scaling")  # paper16 is opt-in: it needs the [paper] extra
QUICK = {None: Plan(("quick.toml",)), "paper16": Plan(("paper16_quick.toml",), both_styles=True)}


def plan_for(quick: bool, suite: str | None) -> list[Plan]:
    """The plans to run; KeyError for a --quick --suite combination without a quick sweep."""
    if quick:
        return [QUICK[suite]]
    return [FULL[name] for name in ([suite] if suite else DEFAULT_SUITES)]


def _error(message: object) -> int:
    print(f"eggroll-bench paper: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from eggroll_bench.algos.config import ConfigError
    from eggroll_bench.sweeps.executors import ExecutorError
    from eggroll_bench.sweeps.sweepfile import SweepError, load_sweep

    try:
        plans = plan_for(args.quick, args.suite)
    except KeyError:
        return _error(f"--quick runs sweeps/quick.toml, or with --suite {', '.join(s for s in QUICK if s)} that "
                      f"suite's quick sweep; drop --suite or pick one of those "
                      f"(allowed without --quick: {', '.join(FULL)})")
    # Validate every sweep before running any: a final sweep whose tune sweep has not run yet is
    # checked without its best.json, and loaded for real once the tune sweep has written it.
    try:
        for plan in plans:
            for name in plan.files:
                load_sweep(SWEEP_DIR / name, defer_from_tune=True)
                executor_settings(args, SWEEP_DIR / name)
        grouping = {**group_settings(args), "allow_mixed_versions": args.allow_mixed_versions}
    except (SweepError, ConfigError, ExecutorError) as err:
        return _error(err)
    if (code := apply_compile_cache("paper", args)) is not None:
        return code
    status = 0
    for plan in plans:
        for name in plan.files:
            try:
                sweep = load_sweep(SWEEP_DIR / name)
            except (SweepError, ConfigError) as err:  # e.g. the tune sweep chose nothing for a pair
                return _error(err)
            code = _run_and_plot(sweep, args.style or ("paper" if plan.both_styles else "robust"), not args.in_process,
                                 executor_settings(args, SWEEP_DIR / name), grouping)
            if code == 2:
                return 2
            status = max(status, code)
    return status


def _run_and_plot(sweep, style: str, isolate: bool, executor, grouping: dict) -> int:
    """Run one sweep (resuming) and render its figures; the exit status (2: could not start)."""
    from eggroll_bench.plots import render_all
    from eggroll_bench.sweeps.executors import ExecutorError
    from eggroll_bench.sweeps.manager import run_sweep
    from eggroll_bench.sweeps.store import StoreError
    from eggroll_bench.sweeps.sweepfile import SweepError

    try:
        summary = run_sweep(sweep, isolate=isolate, log=lambda line: print(line, flush=True), executor=executor,
                            **grouping)
    except (StoreError, ExecutorError, SweepError) as err:
        return _error(err)
    if sweep.mode == "tune":
        return summary.exit_status
    inference = INFERENCE_CSV if INFERENCE_CSV.exists() else None
    print(f"figures of {sweep.name} ({style} style) -> {sweep.out / 'figures'}")
    for name, written in render_all(sweep.out, style=style, inference=inference).items():
        if isinstance(written, str):
            print(f"  {name}: skipped — {written}")
        else:
            print(f"  {name}: " + ", ".join(str(p) for p in written))
    return summary.exit_status


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("paper", help="run the paper's sweeps (resuming) and render every figure",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="the CPU-sized sweep (sweeps/quick.toml; with --suite paper16, sweeps/paper16_quick.toml)")
    p.add_argument("--suite", choices=sorted(FULL), help="only this suite's sweeps")
    p.add_argument("--style", choices=("robust", "paper"), default=None,
                   help="normalisation style of the score figures (paper: R / R_PPO, mean ± SEM, as well as "
                        "every robust figure); default: paper for paper16, else robust")
    add_in_process_flag(p)
    add_executor_flags(p)
    add_group_flags(p)
    add_mixed_versions_flag(p)
    add_compile_cache_flags(p)
    p.set_defaults(func=run)
