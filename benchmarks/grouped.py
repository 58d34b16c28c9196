"""Many configurations in one compile: a hyperparameter grid trained grouped vs one trial at a time.

    eggroll-bench bench grouped [--quick] [--configs 16] [--seeds 2] [--steps 40000] [--algos eggroll,openes,ppo]
                                [--width 16] [--pop 16]

For each algorithm a grid of configurations that differ only in traced hyperparameters (ES: lr x
sigma; PPO: lr x clip_eps) on one task is trained twice in this process, side by side:
- one at a time: `train` per configuration, its compiled functions released before the next
  (as a sweep's trial process starts with none), so each configuration compiles and runs alone;
- grouped: `train_group` of the whole grid, one compile and one call vmapped over
  (configuration x seed).
Both give the same returns (checked here, configuration by configuration); the table reports the
wall-clock and compile seconds of each and their ratio. One-at-a-time here does not pay the
process start and imports a sweep's trial process pays, so the ratio is a lower bound.

With both ES methods measured, a second table (`grouped_speed_up.csv`) gives the EGGROLL-vs-OpenES
speed-up the time figure would draw from each configuration's run seconds (its share of its call:
the call's / its configurations): both one at a time, both grouped, and grouped EGGROLL against
OpenES one at a time (the mix a sweep produces when only EGGROLL's grid shares a program). A
grouped share is not a lone run's time (a batched rollout runs until the longest of its rows'
episodes ends; batching amortises per-call costs), so this is where the three are compared.
"""
from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

from eggroll_bench.algos.runner import release_compiled, train, train_group
from eggroll_bench.benchmarks import common
from eggroll_bench.benchmarks.options import BenchError

GRIDS = {  # traced hyperparameters only: the whole grid shares one program
    "es": {"lr": (0.01, 0.03, 0.1, 0.3), "sigma": (0.02, 0.05, 0.1, 0.2)},
    "ppo": {"lr": (1e-4, 3e-4, 1e-3, 3e-3), "clip_eps": (0.1, 0.2, 0.3, 0.4)},
}
BASE = {"es": {"pop_size": 16, "hidden": 16, "eval_every": 5, "eval_episodes": 4},
        "ppo": {"num_envs": 8, "num_steps": 64, "hidden": 16, "eval_every": 5, "eval_episodes": 4}}


def grid(algo: str, n: int, width: int | None = None, pop: int | None = None) -> list[dict[str, Any]]:
    kind = "ppo" if algo == "ppo" else "es"
    base = dict(BASE[kind])
    if width:
        base["hidden"] = width
    if pop and kind == "es":
        base["pop_size"] = pop
    points = [dict(zip(GRIDS[kind], values)) for values in itertools.product(*GRIDS[kind].values())]
    if n > len(points):
        shape = "x".join(str(len(v)) for v in GRIDS[kind].values())
        raise BenchError(f"--configs {n}: at most {len(points)} (a {shape} grid)")
    return [{**base, **p} for p in points[:n]]


def _returns(result) -> list[list[float]]:
    return [[e.return_mean for e in s.evals] for s in result.seeds]


def measure(algo: str, env: str, configs: list[dict[str, Any]], seeds: list[int], steps: int) -> list[dict]:
    release_compiled()
    start = time.perf_counter()
    alone = []
    for overrides in configs:
        release_compiled()
        alone.append(train(algo, env, seeds, overrides, steps, progress=False))
    alone_wall = time.perf_counter() - start
    release_compiled()
    start = time.perf_counter()
    grouped = train_group(algo, env, seeds, configs, steps, progress=False)
    grouped_wall = time.perf_counter() - start
    release_compiled()
    same = all(_returns(a) == _returns(g) for a, g in zip(alone, grouped))
    row = {"algo": algo, "env": env, "hidden": configs[0]["hidden"], "pop_size": configs[0].get("pop_size", ""),
           "configs": len(configs), "seeds": len(seeds), "steps": steps, "same_returns": same}
    return [
        {**row, "variant": "one at a time", "wall_s": alone_wall, "compile_s": sum(r.compile_s for r in alone),
         "run_s": sum(r.run_s for r in alone), "speedup": 1.0},
        {**row, "variant": "grouped", "wall_s": grouped_wall, "compile_s": grouped[0].call.compile_s,
         "run_s": grouped[0].call.run_s, "speedup": alone_wall / grouped_wall},
    ]


def speed_ups(rows: list[dict]) -> list[dict]:
    """OpenES's run seconds per configuration / EGGROLL's, for each pairing of the two variants."""
    per_config = {(r["algo"], r["variant"]): r["run_s"] / r["configs"] for r in rows}
    pairs = [("one at a time", "one at a time"), ("grouped", "grouped"), ("grouped", "one at a time")]
    return [{"eggroll": e, "openes": o, "eggroll_run_s": per_config["eggroll", e],
             "openes_run_s": per_config["openes", o], "speed_up": per_config["openes", o] / per_config["eggroll", e],
             "load": common.load()}
            for e, o in pairs if ("eggroll", e) in per_config and ("openes", o) in per_config]


def run(args: argparse.Namespace) -> int:
    common.header("grouped", args.quick)
    n = args.configs or (2 if args.quick else 16)
    seeds = list(range(args.seeds))
    steps = args.steps or (2_000 if args.quick else 40_000)
    rows = []
    for algo in args.algos or ["eggroll", "openes", "ppo"]:
        if algo not in ("eggroll", "openes", "ppo"):
            raise BenchError(f"--algos: unknown algorithm {algo!r}; allowed: eggroll, openes, ppo")
        rows += measure(algo, args.env, grid(algo, n, args.width, args.pop), seeds, steps)
        common.print_table(rows[-2:], ["algo", "variant", "configs", "seeds", "wall_s", "compile_s", "run_s",
                                       "speedup", "same_returns"])
    common.write_csv(rows, f"{args.out}/grouped.csv",
                     append_keys=("algo", "env", "hidden", "pop_size", "configs", "variant") if args.append else None)
    if ratios := speed_ups(rows):
        es = next(r for r in rows if r["algo"] != "ppo")
        ratios = [{"env": args.env, "hidden": es["hidden"], "pop_size": es["pop_size"], "configs": n,
                   "seeds": len(seeds), "steps": steps, **r} for r in ratios]
        common.print_table(ratios, ["eggroll", "openes", "eggroll_run_s", "openes_run_s", "speed_up", "load"],
                           title="EGGROLL vs OpenES: run seconds per configuration")
        common.write_csv(ratios, f"{args.out}/grouped_speed_up.csv",
                         append_keys=("env", "hidden", "pop_size", "configs", "eggroll", "openes")
                         if args.append else None)
    return 0 if all(r["same_returns"] for r in rows) else 1


if __name__ == "__main__":
    import sys

    sys.exit(common.run_main("grouped", run, None))
