"""The one runner: every algorithm trains through `train`, compiled whole.

    result = train("eggroll", "CartPole-v1", seeds=[0, 1, 2], overrides={"pop_size": 128})

`train` validates everything first (config, rank, budget), then compiles one function that
runs `eval_every` updates with `lax.scan` and evaluates the current policy, vmapped over seeds.
The host loop only calls it chunk after chunk, shows progress and stops when every seed has
spent its env-step budget. Inside the scan a seed that has reached the budget (or diverged)
stops updating, so each seed stops exactly at the first update that reaches its budget.

Env steps are counted the same way for every algorithm: each environment transition of each
population member / PPO environment counts once (ES: Σ episode lengths; PPO: envs × steps).
Evaluation episodes are not counted. compile_s and run_s are measured apart; throughput is
env steps / run_s.
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from eggroll_bench.algos.base import Algorithm
from eggroll_bench.algos.config import BaseConfig, ConfigError, as_dict
from eggroll_bench.algos.registry import get_algorithm, resolve
from eggroll_bench.algos import compile_cache
from eggroll_bench.algos.result import EvalPoint, SeedResult, TrainResult
from eggroll_bench.algos.rollout import run_episodes
from eggroll_bench.envs.registry import get_task, make


class RunnerState(struct.PyTreeNode):
    algo_state: Any
    key: jax.Array
    env_steps: jax.Array
    updates: jax.Array


def build_algorithm(algo: str, env_name: str, config: BaseConfig, total_steps: int) -> Algorithm:
    """The registered algorithm `algo` on a fresh environment of task `env_name`."""
    return get_algorithm(algo).make(make(env_name), config, total_steps)


def check_trial(algo: str, algorithm: Algorithm, total_steps: int) -> None:
    """Refuse, before compiling, what would fail or mean nothing once compiled."""
    if total_steps < algorithm.min_steps_per_update:
        raise ConfigError(f"total_steps={total_steps:,} is smaller than one update "
                          f"({algorithm.min_steps_per_update:,} env steps at least for {algo}); "
                          "raise the budget or shrink the population / rollout")
    algorithm.check()


@dataclass(frozen=True)
class Compiled:
    """The compiled functions of one trial configuration, reusable across calls (cached)."""

    init: Any
    chunk: Any
    compile_s: float
    cached: bool | None = None  # both loaded from JAX's persistent cache (None: the cache is off)


def _make_functions(algorithm: Algorithm, config: BaseConfig, budget: int):
    env = algorithm.env

    def init(key):
        init_key, run_key = jax.random.split(key)
        return RunnerState(algorithm.init(init_key), run_key, jnp.asarray(0), jnp.asarray(0))

    def chunk(rs: RunnerState, halted: jax.Array):
        def one_update(rs: RunnerState, _):
            key, update_key = jax.random.split(rs.key)
            active = jnp.logical_and(rs.env_steps < budget, jnp.logical_not(halted))
            new_state, metrics = algorithm.update(rs.algo_state, update_key)
            algo_state = jax.tree.map(lambda n, o: jnp.where(active, n, o), new_state, rs.algo_state)
            steps = jnp.where(active, metrics["env_steps"].astype(jnp.int32), 0)
            return RunnerState(algo_state, key, rs.env_steps + steps, rs.updates + active), None

        rs, _ = jax.lax.scan(one_update, rs, None, length=config.eval_every)
        key, eval_key = jax.random.split(rs.key)
        episodes = run_episodes(env, algorithm.eval_act(rs.algo_state), eval_key, config.eval_episodes)
        params = algorithm.policy_params(rs.algo_state)
        finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(params)]))
        finite = jnp.logical_and(finite, jnp.all(jnp.isfinite(episodes.returns)))
        report = {"env_steps": rs.env_steps, "updates": rs.updates, "return_mean": episodes.returns.mean(),
                  "return_std": episodes.returns.std(), "finite": finite}
        return rs.replace(key=key), report

    return jax.vmap(init), jax.vmap(chunk)


@lru_cache(maxsize=16)
def _compile(algo: str, env_name: str, config: BaseConfig, budget: int, num_seeds: int) -> tuple[Any, Compiled]:
    compile_cache.configure()  # the command's persistent-cache setting, before anything compiles
    algorithm = build_algorithm(algo, env_name, config, budget)
    init, chunk = _make_functions(algorithm, config, budget)
    start = time.perf_counter()
    with compile_cache.CacheWatch() as watch:
        keys = jax.ShapeDtypeStruct((num_seeds, 2), jnp.uint32)
        init_c = jax.jit(init).lower(keys).compile()
        state_shape = jax.eval_shape(init, jax.random.split(jax.random.PRNGKey(0), num_seeds))
        chunk_c = jax.jit(chunk, donate_argnums=0).lower(state_shape, jax.ShapeDtypeStruct((num_seeds,), bool)).compile()
    return algorithm, Compiled(init_c, chunk_c, time.perf_counter() - start, watch.cached)


def release_compiled() -> None:
    """Forget every compiled trial and JAX's own trace caches, freeing their host/device memory.

    Called between a sweep's trials: each trial compiles its own functions, and keeping them all
    (16 here, plus JAX's caches) grew one sweep process until an XLA CPU compile ran out of memory.
    """
    _compile.cache_clear()
    jax.clear_caches()


def library_versions() -> dict[str, str]:
    out = {}
    for name in ("jax", "jaxlib", "flax", "optax", "gymnax", "brax", "jaxmarl"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["python"] = platform.python_version()
    return out


def device_name() -> str:
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        import os
        return f"cpu ({os.cpu_count()} cores, {platform.machine()})"
    return f"{dev.device_kind} x{jax.device_count()}"


def train(algo: str, env: str, seeds: Sequence[int], overrides: Mapping[str, Any] | None = None,
          total_steps: int | None = None, progress: bool = True) -> TrainResult:
    """Train `algo` on task `env` for every seed in one compiled, vmapped call."""
    task = get_task(env)
    config = resolve(algo, task.defaults, overrides)
    budget = int(total_steps if total_steps is not None else task.budget_quick)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("seeds: give at least one seed")
    check_trial(algo, build_algorithm(algo, env, config, budget), budget)

    algorithm, compiled = _compile(algo, env, config, budget, len(seeds))
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    run_s = 0.0
    start = time.perf_counter()
    state = jax.block_until_ready(compiled.init(keys))
    run_s += time.perf_counter() - start

    halted = np.zeros(len(seeds), bool)
    errors = [""] * len(seeds)
    evals: list[list[EvalPoint]] = [[] for _ in seeds]
    bar = _progress(progress, budget, f"{algo} {env} x{len(seeds)} seeds")
    while True:
        before = np.asarray(state.env_steps)
        active = (before < budget) & ~halted
        if not active.any():
            break
        start = time.perf_counter()
        state, report = compiled.chunk(state, jnp.asarray(halted))
        report = jax.tree.map(np.asarray, jax.block_until_ready(report))
        run_s += time.perf_counter() - start
        for i in np.flatnonzero(active):
            evals[i].append(EvalPoint(int(report["env_steps"][i]), int(report["updates"][i]),
                                      float(report["return_mean"][i]), float(report["return_std"][i]), run_s))
            if not report["finite"][i]:
                halted[i] = True
                errors[i] = (f"non-finite parameters or returns after update {int(report['updates'][i])} "
                             f"(env step {int(report['env_steps'][i]):,})")
        if bar is not None:
            bar.update(int(np.minimum(report["env_steps"], budget).min()) - bar.n)
            bar.set_postfix(ret=f"{float(np.mean(report['return_mean'])):.1f}")
    if bar is not None:
        bar.close()

    seed_results = tuple(
        SeedResult(seed, "diverged" if halted[i] else "done", errors[i], int(state.env_steps[i]),
                   int(state.updates[i]), tuple(evals[i]))
        for i, seed in enumerate(seeds))
    return TrainResult(algo, env, as_dict(config), budget, seed_results, compiled.compile_s, run_s,
                       device_name(), library_versions(), algorithm.env.spec.num_agents,
                       compile_cached=compiled.cached)


def _progress(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", unit_scale=True, dynamic_ncols=True, leave=True)
