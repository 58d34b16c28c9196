"""PPO throughput in env steps / s over the number of parallel environments.

    python -m eggroll_bench.benchmarks.ppo [--quick] [--envs CartPole-v1,hopper] [--num-envs 16,64,256]

One timed call is one `PPO.update` exactly as the runner builds it (`runner.build_algorithm`, the
task's PPO defaults): collect `num_envs` × `num_steps` transitions, GAE, then the minibatch
epochs. Env steps are the ones the update reports (`metrics["env_steps"]`), so throughput is the
training throughput, learning included. Every number of environments of one task is compiled
first and timed interleaved, median of the repeats. The row with the task's default `num_envs`
is the standard configuration (`standard` = yes). `--reset-pool 0,1` times PPO's `reset_pool`
(0: exact auto-reset, K: K fresh starts per step shared by the environments that ended) side by
side, for tasks whose reset costs many steps (Craftax).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import jax

from eggroll_bench.algos.config import ConfigError
from eggroll_bench.algos.registry import resolve
from eggroll_bench.algos.runner import build_algorithm
from eggroll_bench.benchmarks import common
from eggroll_bench.benchmarks.options import BenchError
from eggroll_bench.envs.registry import get_task

CPU_ENVS, ACCEL_ENVS, QUICK_ENVS = (4, 16, 64, 256, 1024), (16, 64, 256, 1024, 4096), (16, 64)
# brax: one update is num_envs x 128 physics steps; compiling takes ~1 min per variant on 2 cores
BRAX_CPU_ENVS = (16, 64, 256)
DEFAULT_TASKS, QUICK_TASKS = ("CartPole-v1", "hopper"), ("CartPole-v1",)

COLUMNS = ["env", "num_envs", "reset_pool", "num_steps", "hidden", "depth", "standard", "env_steps", "seconds",
           "steps_per_s", "best_steps_per_s", "footprint_mb", "repeats", "load", "status"]
KEYS = ["env", "num_envs", "reset_pool", "num_steps", "hidden", "depth"]


def config_for(env: str, num_envs: int, args: argparse.Namespace, reset_pool: int = 0):
    values: dict[str, Any] = {"num_envs": num_envs, "reset_pool": reset_pool}
    if args.num_steps:
        values["num_steps"] = args.num_steps
    if args.hidden:
        values["hidden"] = args.hidden
    try:
        return resolve("ppo", get_task(env).defaults, values)
    except ConfigError as err:
        raise BenchError(str(err)) from None


def job(env: str, num_envs: int, args: argparse.Namespace, reset_pool: int = 0):
    """(fn, args) of one PPO update; fn returns (output, env steps it reports)."""
    task = get_task(env)
    ppo = build_algorithm("ppo", env, config_for(env, num_envs, args, reset_pool), int(task.budget_quick))
    try:
        ppo.check()
    except ConfigError as err:
        raise BenchError(f"--reset-pool: {err}") from None
    state = jax.jit(ppo.init)(jax.random.PRNGKey(0))

    def fn(state, key):
        new_state, metrics = ppo.update(state, key)
        return (new_state, metrics), metrics["env_steps"]

    return fn, (state, jax.random.PRNGKey(1))


def measure(env: str, counts: list[int], args: argparse.Namespace, repeats: int) -> list[dict[str, Any]]:
    standard = resolve("ppo", get_task(env).defaults).num_envs
    variants = [(n, pool) for n in counts for pool in args.reset_pool]
    jobs = {v: job(env, v[0], args, v[1]) for v in variants}
    compiled = common.compile_many(jobs)
    rows, calls = {}, {}
    for v in variants:
        n, pool = v
        cfg = config_for(env, n, args, pool)
        rows[v] = {"env": env, "num_envs": n, "reset_pool": pool, "num_steps": cfg.num_steps, "hidden": cfg.hidden,
                   "depth": cfg.depth, "standard": "yes" if n == standard and pool == 0 else "", "status": "ok"}
        if isinstance(compiled[v], Exception):
            rows[v]["status"] = common.short_error(compiled[v])
            continue
        foot = common.footprint_bytes(compiled[v])
        rows[v]["footprint_mb"] = round(foot / 2**20, 1) if foot is not None else ""
        calls[v] = (lambda c=compiled[v], a=jobs[v][1]: c(*a))
    common.record_throughput(rows, common.interleaved(calls, repeats, 5.0 if args.quick else 30.0))
    return list(rows.values())


def counts_for(env: str, args: argparse.Namespace) -> list[int]:
    try:
        brax = get_task(env).source == "brax" and not common.on_accelerator()
    except KeyError as err:
        raise BenchError(f"--envs: {err.args[0]}") from None
    return common.grid(args.quick, BRAX_CPU_ENVS if brax else CPU_ENVS, ACCEL_ENVS, QUICK_ENVS, args.num_envs)


def run(args: argparse.Namespace) -> int:
    tasks = args.envs or list(QUICK_TASKS if args.quick else DEFAULT_TASKS)
    grids = {env: counts_for(env, args) for env in tasks}  # unknown tasks are refused before any work
    common.header("ppo", args.quick)
    repeats = args.repeats or (3 if args.quick else 5)
    rows: list[dict[str, Any]] = []
    for env, counts in grids.items():
        start = time.perf_counter()
        new = measure(env, counts, args, repeats)
        rows += new
        common.print_table(new, ["num_envs", "reset_pool", "num_steps", "standard", "steps_per_s", "best_steps_per_s", "seconds",
                                 "repeats", "load", "status"],
                           f"PPO on {env}  ({time.perf_counter() - start:.0f} s)")
        sys.stdout.flush()
    path = common.write_csv(rows, Path(args.out) / "ppo.csv", COLUMNS, KEYS if args.append else None)
    print(f"\nwrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run_main("ppo", run, argv)


if __name__ == "__main__":
    sys.exit(main())
