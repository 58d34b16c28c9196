"""Same seed, same bits? One trial trained several times, each run in a fresh process, under each
XLA flag setting, and every run's evaluation returns compared bit for bit with the setting's first.

    eggroll-bench bench determinism [--algo ppo] [--env CartPole-v1] [--runs 2] [--steps N]
                                    [--variants default,deterministic,no-autotune] [--set KEY=VALUE ...]

On a CPU the same seed gives the same bits (tests/test_runner.py asserts it). On a GPU two things
can break that, and the variants tell them apart:
- `default`: XLA's flags as the user has them;
- `deterministic`: `--xla_gpu_deterministic_ops=true`, XLA's switch for ordered reductions
  (scatter-adds and atomics run in a fixed order) and for kernels chosen without timing;
- `no-autotune`: `--xla_gpu_autotune_level=0`, no timing of candidate kernels (XLA's default kernel
  for each operation), reductions left as they are.
If `default` differs between runs and `no-autotune` does not, the per-process kernel choice is the
cause; if `no-autotune` differs too, unordered reductions are. On a CPU the GPU flags are ignored.

Each run is `eggroll-bench train ... --no-compile-cache` in its own process: a cached executable
would carry the first run's kernel choice into the next and hide the difference. Runs of one
variant follow one another (never at the same time), so no run is compiled under another's load.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eggroll_bench.benchmarks import common
from eggroll_bench.benchmarks.options import VARIANT_FLAGS, BenchError
from eggroll_bench.envs.registry import get_task

COLUMNS = ["algo", "env", "seeds", "steps", "variant", "xla_flags", "run", "final_return", "digest", "same_as_first",
           "wall_s", "status"]
KEYS = ["algo", "env", "steps", "variant", "run"]
QUICK_STEPS = 4_000


def train_once(algo: str, env: str, seeds: str, steps: int, sets: list[str], flags: str, workdir: Path
               ) -> tuple[list[dict[str, str]], float]:
    """The result rows (evaluation and final) of one `eggroll-bench train` run in a fresh process with
    `flags` added to XLA_FLAGS, and its wall seconds (process start, imports and compile included)."""
    environ = dict(os.environ)
    environ["XLA_FLAGS"] = " ".join(x for x in (environ.get("XLA_FLAGS", ""), flags) if x)
    cmd = [sys.executable, "-m", "eggroll_bench.cli", "train", "--algo", algo, "--env", env, "--seeds", seeds,
           "--steps", str(steps), "--out", str(workdir), "--quiet", "--no-save", "--no-compile-cache"]
    cmd += [arg for pair in sets for arg in ("--set", pair)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=environ)
    wall = time.perf_counter() - start
    if done.returncode:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise RuntimeError(lines[-1])
    with open(workdir / "results.csv", newline="") as f:
        return list(csv.DictReader(f)), wall


def digest(rows: list[dict[str, str]]) -> str:
    """A fingerprint of every evaluation's return as written (full float precision): equal
    fingerprints, equal bits."""
    evals = sorted((r for r in rows if r["row_type"] == "eval"), key=lambda r: (int(r["seed"]), int(r["env_steps"])))
    text = "\n".join(f"{r['seed']},{r['env_steps']},{r['return_mean']},{r['return_std']}" for r in evals)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def final_return(rows: list[dict[str, str]]) -> float:
    """Mean over seeds of each seed's final return (its `final` row: the last evaluation)."""
    return statistics.fmean(float(r["return_mean"]) for r in rows if r["row_type"] == "final")


def diagnosis(identical: dict[str, bool | None]) -> str:
    """What the variants' verdicts (None: fewer than two runs) say together, "" when nothing."""
    if identical and all(v is True for v in identical.values()):
        return "same bits run after run under every setting: nothing to fix"
    if identical.get("default") is False and identical.get("no-autotune") is True:
        return ("the runs differ through XLA's per-process kernel choice (autotuning), not reduction order: "
                "export XLA_FLAGS=--xla_gpu_deterministic_ops=true (or --xla_gpu_autotune_level=0) for the same bits")
    if identical.get("default") is False and identical.get("no-autotune") is False:
        return ("the runs differ even with autotuning off: unordered reductions"
                + (" (deterministic ops fix it: export XLA_FLAGS=--xla_gpu_deterministic_ops=true)"
                   if identical.get("deterministic") else ""))
    return ""


def run(args: argparse.Namespace) -> int:
    try:
        task = get_task(args.env)
    except KeyError as err:
        raise BenchError(f"--env: {err.args[0]}") from None
    common.header("determinism", args.quick)
    steps = args.steps or (QUICK_STEPS if args.quick else int(task.budget_quick))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="determinism-") as tmp:
        for variant in args.variants:
            first = None
            for i in range(args.runs):
                row: dict[str, Any] = {"algo": args.algo, "env": args.env, "seeds": args.seeds, "steps": steps,
                                       "variant": variant, "xla_flags": VARIANT_FLAGS[variant], "run": i}
                try:
                    evals, wall = train_once(args.algo, args.env, args.seeds, steps, args.set,
                                             VARIANT_FLAGS[variant], Path(tmp) / f"{variant}-{i}")
                except RuntimeError as err:
                    if not rows:  # the first run failed: a bad --set or --seeds, said by the CLI itself
                        raise BenchError(f"eggroll-bench train failed: {err}") from None
                    rows.append({**row, "status": f"error: {err}"})
                    continue
                fingerprint = digest(evals)
                first = first or fingerprint
                rows.append({**row, "final_return": final_return(evals), "digest": fingerprint,
                             "same_as_first": fingerprint == first, "wall_s": wall, "status": "ok"})
                print(f"{variant:>13} run {i}: final return {rows[-1]['final_return']:.4f}, digest {fingerprint}"
                      f"{'' if fingerprint == first else ' (differs from run 0)'}, {wall:.1f} s", flush=True)
    path = common.write_csv(rows, Path(args.out) / "determinism.csv", COLUMNS,
                            append_keys=KEYS if args.append else None)
    identical = {}
    for variant in args.variants:
        mine = [r for r in rows if r["variant"] == variant and r["status"] == "ok"]
        if len(mine) < 2:
            identical[variant] = None
            print(f"{variant}: {len(mine)} run(s) finished, nothing to compare", flush=True)
            continue
        identical[variant] = all(r["same_as_first"] for r in mine)
        verdict = "bit-identical" if identical[variant] else "NOT bit-identical"
        print(f"{variant}: {verdict} over {len(mine)} runs in fresh processes", flush=True)
    if (why := diagnosis(identical)):
        print(why, flush=True)
    print(f"wrote {path}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    return common.run_main("determinism", run, argv)


if __name__ == "__main__":
    sys.exit(main())
