"""Compile time of one training trial per algorithm, as the runner compiles it.

    python -m eggroll_bench.benchmarks.compile [--quick] [--envs CartPole-v1,hopper] [--presets default,paper]

For each (task, network preset, algorithm) this calls the runner's own compile step
(`algos.runner._compile`: build the algorithm, lower and compile the vmapped `init` and the
`eval_every`-updates chunk) with its cache cleared, and reports the runner's `compile_s` (jit
lowering + XLA compilation, what a results row records) and the wall time of the whole call
(which adds building the environment and the algorithm). Compilation is single-threaded in XLA
and other processes slow it down, so `--repeats N` compiles N times and keeps the median.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import jax

from eggroll_bench.algos import runner
from eggroll_bench.algos.config import ConfigError
from eggroll_bench.algos.registry import algorithm_names, resolve
from eggroll_bench.benchmarks import common
from eggroll_bench.benchmarks.options import BenchError
from eggroll_bench.envs.registry import get_task

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"hidden": 16, "depth": 2, "activation": "tanh"},  # tests
    "default": {},  # the project's defaults (2 x 64 tanh)
    "paper": {"hidden": 256, "depth": 3, "activation": "pqn"},  # the paper's RL preset
}
# the tiny preset also shrinks what a trial batches, so a test compiles in seconds
TINY_BATCH = {"eggroll": {"pop_size": 8}, "openes": {"pop_size": 8}, "ppo": {"num_envs": 4, "num_steps": 16}}
DEFAULT_ENVS, QUICK_ENVS = ("CartPole-v1", "hopper"), ("CartPole-v1",)
SEEDS = 1

COLUMNS = ["env", "preset", "algo", "hidden", "depth", "activation", "seeds", "compile_s", "total_s", "repeats",
           "load", "status"]
KEYS = ["env", "preset", "algo"]


def overrides(algo: str, preset: str) -> dict[str, Any]:
    return {**PRESETS[preset], **(TINY_BATCH[algo] if preset == "tiny" else {})}


def compile_once(algo: str, env: str, preset: str) -> tuple[float, float]:
    """(the runner's compile_s, wall seconds of the whole compile call), nothing cached."""
    task = get_task(env)
    config = resolve(algo, task.defaults, overrides(algo, preset))
    runner._compile.cache_clear()  # the runner caches compiled trials per process
    start = time.perf_counter()
    compiled = runner._compile(algo, env, runner.static_key(config), int(task.budget_quick), SEEDS, None)
    total = time.perf_counter() - start
    runner._compile.cache_clear()  # do not keep the executables alive
    return compiled.compile_s, total


def measure(algo: str, env: str, preset: str, repeats: int) -> dict[str, Any]:
    net = resolve(algo, get_task(env).defaults, overrides(algo, preset))
    row = {"env": env, "preset": preset, "algo": algo, "hidden": net.hidden, "depth": net.depth,
           "activation": net.activation, "seeds": SEEDS, "status": "ok"}
    try:
        times = [compile_once(algo, env, preset) for _ in range(repeats)]
    except Exception as err:  # noqa: BLE001 - reported in the table, the grid goes on
        row["status"] = common.short_error(err)
        return row
    row.update(compile_s=statistics.median(t[0] for t in times), total_s=statistics.median(t[1] for t in times),
               repeats=repeats, load=common.load())
    return row


def check(envs: list[str], algos: list[str], presets: list[str]) -> None:
    """Refuse unknown names before compiling anything."""
    for name in presets:
        if name not in PRESETS:
            raise BenchError(f"--presets: unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    for name in algos:
        if name not in algorithm_names():
            raise BenchError(f"--algos: unknown algorithm {name!r}; allowed: {', '.join(algorithm_names())}")
    for name in envs:
        try:
            get_task(name)
        except KeyError as err:
            raise BenchError(f"--envs: {err.args[0]}") from None


def run(args: argparse.Namespace) -> int:
    if jax.config.jax_compilation_cache_dir:
        print(f"  note: the persistent compilation cache ({jax.config.jax_compilation_cache_dir}) may serve "
              "these compilations; unset it for cold compile times", flush=True)
    envs = args.envs or list(QUICK_ENVS if args.quick else DEFAULT_ENVS)
    algos = args.algos or list(algorithm_names())
    presets = args.presets or ["default"]
    check(envs, algos, presets)
    common.header("compile", args.quick)
    repeats = args.repeats or 1
    rows = []
    for env in envs:
        for preset in presets:
            for algo in algos:
                try:
                    row = measure(algo, env, preset, repeats)
                except ConfigError as err:
                    raise BenchError(str(err)) from None
                rows.append(row)
                print(f"  {env:24s} {preset:8s} {algo:8s} compile {common.fmt(row.get('compile_s', float('nan')))} s"
                      f"  ({row['status']})", flush=True)
    common.print_table(rows, ["env", "preset", "algo", "hidden", "depth", "compile_s", "total_s", "status"],
                       f"compile time of one trial ({SEEDS} seed), median of {repeats}")
    path = common.write_csv(rows, Path(args.out) / "compile.csv", COLUMNS, KEYS if args.append else None)
    print(f"\nwrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run_main("compile", run, argv)


if __name__ == "__main__":
    sys.exit(main())
