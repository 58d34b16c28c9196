"""`eggroll-bench paper [--quick]`: regenerate the paper's RL figures — run the sweeps, then plot.

Each sweep resumes (finished trials are skipped), so re-running after an interruption, or after
adding seeds to a sweep file, only runs what is missing. Figures go to `<results>/figures/`.

    --quick        sweeps/quick.toml (CPU-sized: 3 algorithms x 3 small tasks, < 10 min on 2 cores)
    (default)      sweeps/core16.toml, sweeps/marl.toml and sweeps/scaling.toml at GPU budgets
    --suite S      only the sweeps of S: core16, marl or scaling (default: all three)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SWEEP_DIR = Path(__file__).parent
FULL = {"core16": "core16.toml", "marl": "marl.toml", "scaling": "scaling.toml"}
INFERENCE_CSV = Path("results/bench/inference.csv")  # written by `eggroll-bench bench generation`


def sweep_files(quick: bool, suite: str | None) -> list[Path]:
    if quick:
        return [SWEEP_DIR / "quick.toml"]
    names = [suite] if suite else list(FULL)
    return [SWEEP_DIR / FULL[n] for n in names]


def run(args: argparse.Namespace) -> int:
    from algos.config import ConfigError
    from plots import render_all
    from sweeps.manager import run_sweep
    from sweeps.store import StoreError
    from sweeps.sweepfile import SweepError, load_sweep

    if args.quick and args.suite:
        print("eggroll-bench paper: error: --quick runs sweeps/quick.toml; drop --suite "
              f"(allowed without --quick: {', '.join(FULL)})", file=sys.stderr)
        return 2
    try:  # validate every sweep before running any of them
        sweeps = [load_sweep(path) for path in sweep_files(args.quick, args.suite)]
    except (SweepError, ConfigError) as err:
        print(f"eggroll-bench paper: error: {err}", file=sys.stderr)
        return 2
    status = 0
    for sweep in sweeps:
        try:
            summary = run_sweep(sweep, log=lambda line: print(line, flush=True))
        except StoreError as err:
            print(f"eggroll-bench paper: error: {err}", file=sys.stderr)
            return 2
        status = max(status, summary.exit_status)
        inference = INFERENCE_CSV if INFERENCE_CSV.exists() else None
        outputs = render_all(sweep.out, style=args.style, inference=inference)
        for name, written in outputs.items():
            if isinstance(written, str):
                print(f"  {name}: skipped — {written}")
            else:
                print(f"  {name}: " + ", ".join(str(p) for p in written))
    return status


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("paper", help="run the paper's sweeps (resuming) and render every figure",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the CPU-sized sweep (sweeps/quick.toml)")
    p.add_argument("--suite", choices=sorted(FULL), help="only this sweep (full runs)")
    p.add_argument("--style", choices=("robust", "paper"), default="robust",
                   help="normalisation style of the score figures (paper: R / R_PPO, mean ± SEM)")
    p.set_defaults(func=run)
