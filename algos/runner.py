"""The one runner: every algorithm trains through `train` (or `train_many`), compiled whole.

    result = train("eggroll", "CartPole-v1", seeds=[0, 1, 2], overrides={"pop_size": 128})
    results = train_many("ppo", "CartPole-v1", [0, 1], [{"lr": 1e-3}, {"lr": 3e-4, "clip_eps": 0.1}])

Everything is validated first (config, the algorithm's own `check`, budget). Then two functions
are compiled, vmapped over *rows* (one row per (configuration, seed)): `start` (each row's initial
state) and `chunk` (up to `eval_every` updates, a `lax.while_loop`, then the current policy's
evaluation episodes, from a key stream of their own). The host loop calls chunk after chunk,
shows progress and stops when every row has spent its env-step budget. Inside the chunk a row
that has reached the budget (or diverged) stops updating, so each stops exactly at the first
update that reaches its budget, and the chunk's loop ends once every row has. Every row is also
evaluated once before its first update (env step 0), by a chunk in which every row is halted.

Hyperparameters whose rule is `TRACED` (algos/config.py) are passed to the compiled function as
data, one value per row, rather than baked into the program: configurations that differ only in
traced values share one compile and train side by side (`train_many`), and a single trial runs
the very same program with one configuration. The algorithm object is built inside the traced
function from a config whose traced fields hold those values, so an algorithm needs no special
code for it, only no Python `if` on a traced field.

Env steps are counted the same way for every algorithm: each environment transition of each
population member / PPO environment counts once (ES: Σ episode lengths; PPO: envs × steps).
Evaluation episodes are not counted. compile_s and run_s are measured apart; a call's seconds are
shared by its configurations, each trial recording its share (`algos.result.CallTiming`);
throughput is env steps / run_s.
"""
from __future__ import annotations

import dataclasses
import inspect
import os
import platform
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from eggroll_bench.algos.base import Algorithm
from eggroll_bench.algos.checkpoint import TrialArtifacts, checkpointed_groups
from eggroll_bench.algos.host_memory import host_memory_bytes
from eggroll_bench.algos.config import TRACED, BaseConfig, ConfigError, as_dict, rules, static_part
from eggroll_bench.algos.registry import get_algorithm, resolve
from eggroll_bench.algos import compile_cache, sharding
from eggroll_bench.algos.result import CallTiming, EvalPoint, SeedResult, TrainResult
from eggroll_bench.algos.rollout import run_episodes
from eggroll_bench.envs.registry import get_task, make
from eggroll_bench.provenance import library_versions


class RunnerState(struct.PyTreeNode):
    algo_state: Any
    key: jax.Array  # training's stream: split once per update, never by evaluation
    eval_key: jax.Array  # evaluation's stream: the evaluation after update n draws fold_in(eval_key, n)
    env_steps: jax.Array
    updates: jax.Array


# fold_in tag that derives a row's evaluation stream from its seed key, apart from split(key)'s
# init and training keys: how often a trial evaluates cannot change what it learns.
EVAL_STREAM = 0x65766131


def build_algorithm(algo: str, env_name: str, config: BaseConfig, total_steps: int) -> Algorithm:
    """The registered algorithm `algo` on a fresh environment of task `env_name`."""
    return get_algorithm(algo).make(make(env_name), config, total_steps)


def check_trial(algo: str, algorithm: Algorithm, total_steps: int, shard: bool | None = None) -> None:
    """Refuse, before compiling, what would fail or mean nothing once compiled."""
    if total_steps < algorithm.min_steps_per_update:
        raise ConfigError(f"total_steps={total_steps:,} is smaller than one update "
                          f"({algorithm.min_steps_per_update:,} env steps at least for {algo}); "
                          "raise the budget or shrink the population / rollout")
    algorithm.check()
    mesh = sharding.make_mesh(shard)
    axis = getattr(algorithm, "parallel_axis", None)  # optional: an algorithm without one runs unsplit
    if mesh is not None and axis is not None:
        sharding.check_divisible(axis[0], axis[1], mesh.size, axis[2])


@dataclass(frozen=True)
class Compiled:
    """The compiled functions of one static configuration and row count, reusable across calls.

    Two executables: `start` and `chunk` (updates, then the evaluation). The evaluation at env step
    0 is a `chunk` call with every row halted, which computes no update: so the evaluation loop is
    traced and compiled once, in one program with the updates. As a third executable of its own it
    cost one more lowering and compile (PPO on CartPole compiled in 7.7 s instead of 6.2; the ES
    about the same; the same bits either way); inlined into `start` as well, it was compiled twice."""

    start: Any  # (keys (R, 2), traced values {name: (R,)}) -> RunnerState
    # (RunnerState, traced values, halted (R,)) -> (RunnerState, report): up to `eval_every` updates
    # (none for a row that is halted or past its budget, none at all once every row is), then the
    # evaluation; the report's `computed` is how many updates the call computed for the batch of rows
    chunk: Any
    compile_s: float
    cached: bool | None = None  # all loaded from JAX's persistent cache (None: the cache is off)

    def init(self, keys: jax.Array, values: Mapping[str, jax.Array]) -> tuple[RunnerState, dict]:
        """Every row's initial state and its evaluation at env step 0."""
        return self.chunk(self.start(keys, values), values, jnp.ones(keys.shape[0], bool))


def traced_values(config: BaseConfig) -> dict[str, Any]:
    """The config's traced hyperparameters: what the compiled program takes as data."""
    return {name: getattr(config, name) for name, rule in rules(type(config)).items() if rule.kind == TRACED}


def static_key(config: BaseConfig) -> BaseConfig:
    """`config` with every traced field at its class default: configurations equal here share a compile."""
    cls = type(config)
    return dataclasses.replace(config, **traced_values(cls()))


def _traced_arrays(configs: Sequence[BaseConfig], seeds_per_config: int) -> dict[str, jax.Array]:
    """{name: (configs × seeds,)} in row order (configuration-major), each in its field's type."""
    out = {}
    for name, default in traced_values(configs[0]).items():
        dtype = jnp.int32 if isinstance(default, int) else jnp.float32
        values = np.repeat(np.asarray([getattr(c, name) for c in configs]), seeds_per_config)
        out[name] = jnp.asarray(values, dtype)
    return out


def _make_functions(algo: str, env_name: str, static_config: BaseConfig, budget: int):
    """start and chunk, vmapped over rows; traced inside `sharding.use_mesh` they split each row's
    parallel axis over the mesh's devices."""
    entry, env = get_algorithm(algo), make(env_name)

    def algorithm_for(values: Mapping[str, jax.Array]) -> Algorithm:
        return entry.make(env, dataclasses.replace(static_config, **values), budget)

    def evaluate(rs: RunnerState, values) -> dict:
        algorithm = algorithm_for(values)
        eval_key = jax.random.fold_in(rs.eval_key, rs.updates)
        # no observation moments: nothing reads them here, and their per-step sums over the batch
        # made each evaluation step (and its compile) dearer
        episodes = run_episodes(env, algorithm.eval_act(rs.algo_state), eval_key, static_config.eval_episodes,
                                moments=False)
        params = algorithm.policy_params(rs.algo_state)
        finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(params)]))
        finite = jnp.logical_and(finite, jnp.all(jnp.isfinite(episodes.returns)))
        report = {"env_steps": rs.env_steps, "updates": rs.updates, "return_mean": episodes.returns.mean(),
                  "return_std": episodes.returns.std(), "finite": finite}
        return report

    def start(key, values) -> RunnerState:
        init_key, run_key = jax.random.split(key)
        eval_key = jax.random.fold_in(key, EVAL_STREAM)
        return RunnerState(algorithm_for(values).init(init_key), run_key, eval_key, jnp.asarray(0), jnp.asarray(0))

    def updates(rs: RunnerState, values, halted: jax.Array) -> tuple[RunnerState, jax.Array]:
        """One row's updates: up to `eval_every`, none once it has spent its budget or is halted.

        A `while_loop`, not a scan: vmapped over rows, it runs while any row is active (rows that
        are done keep their state), so the compiled chunk ends as soon as every row has spent its
        budget instead of computing ES generations past it only to mask them. Returns the updates
        done, whose maximum over rows is the number the call computed."""
        algorithm = algorithm_for(values)
        # Vmapped, the loop's body runs for every row while any is active, and an inactive row's
        # update is discarded: told so (`live`), an ES row skips its episodes, which would
        # otherwise hold the batched rollout for as long as its own policy's episodes last.
        tell_live = "live" in inspect.signature(algorithm.update).parameters

        def active(carry) -> jax.Array:
            done, rs = carry
            return jnp.logical_and(done < static_config.eval_every,
                                   jnp.logical_and(rs.env_steps < budget, jnp.logical_not(halted)))

        def one_update(carry):
            done, rs = carry
            key, update_key = jax.random.split(rs.key)
            told = {"live": active(carry)} if tell_live else {}
            new_state, metrics = algorithm.update(rs.algo_state, update_key, **told)
            steps = metrics["env_steps"].astype(jnp.int32)
            return done + 1, RunnerState(new_state, key, rs.eval_key, rs.env_steps + steps, rs.updates + 1)

        done, rs = jax.lax.while_loop(active, one_update, (jnp.asarray(0, jnp.int32), rs))
        return rs, done

    def chunk(rs: RunnerState, values, halted: jax.Array) -> tuple[RunnerState, dict]:
        rs, done = jax.vmap(updates)(rs, values, halted)
        return rs, {**jax.vmap(evaluate)(rs, values), "computed": done.max()}

    return jax.vmap(start), chunk


@lru_cache(maxsize=16)
def _compile(algo: str, env_name: str, static_config: BaseConfig, budget: int, rows: int,
             shard: bool | None) -> Compiled:
    compile_cache.configure()  # the command's persistent-cache setting, before anything compiles
    start, chunk = _make_functions(algo, env_name, static_config, budget)
    values = {k: jax.ShapeDtypeStruct(v.shape, v.dtype)
              for k, v in _traced_arrays([static_config], rows).items()}
    began = time.perf_counter()
    mesh = sharding.make_mesh(shard)
    # Traced and lowered here, one after another (tracing holds the GIL); compiled on threads at
    # once, since XLA compiles outside the GIL. On 2 cores this gains nothing measurable (OpenES
    # CartPole 64 x 64: 3.23-3.28 s one after another, 3.26-3.35 s on threads): XLA:CPU already
    # spreads one compile over both (5.7 CPU s in 3.2 s). With more cores they may overlap (not measured).
    with compile_cache.CacheWatch() as watch, sharding.use_mesh(mesh), ThreadPoolExecutor(2) as pool:
        keys = jax.ShapeDtypeStruct((rows, 2), jnp.uint32)
        start_c = pool.submit(jax.jit(start).lower(keys, values).compile)
        state_shape = jax.eval_shape(start, keys, values)
        chunk_c = pool.submit(jax.jit(chunk, donate_argnums=0).lower(
            state_shape, values, jax.ShapeDtypeStruct((rows,), bool)).compile)
        start_c, chunk_c = start_c.result(), chunk_c.result()
    return Compiled(start_c, chunk_c, time.perf_counter() - began, watch.cached)


def release_compiled() -> None:
    """Forget every compiled trial and JAX's own trace caches, freeing their host/device memory.

    Called between a sweep's trials: each trial compiles its own functions, and keeping them all
    (16 here, plus JAX's caches) grew one sweep process until an XLA CPU compile ran out of memory.
    """
    _compile.cache_clear()
    jax.clear_caches()


def device_name() -> str:
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return f"cpu ({os.cpu_count()} cores, {platform.machine()})"
    return f"{dev.device_kind} x{jax.device_count()}"


def train(algo: str, env: str, seeds: Sequence[int], overrides: Mapping[str, Any] | None = None,
          total_steps: int | None = None, progress: bool = True, shard: bool | None = None,
          hooks: TrialArtifacts | None = None) -> TrainResult:
    """Train `algo` on task `env` for every seed in one compiled, vmapped call.

    `shard`: None (default) splits the algorithm's parallel axis (ES population, PPO environments)
    over every local device when there are several; False keeps the trial on one device.
    `hooks` (`algos.checkpoint.TrialArtifacts`): resume from the trial's checkpoint, checkpoint
    between chunks, save each seed's final policy."""
    return train_many(algo, env, seeds, [overrides or {}], total_steps, progress, shard, hooks)[0]


def resolve_group(algo: str, env: str, overrides: Sequence[Mapping[str, Any]], total_steps: int | None = None,
                  shard: bool | None = None) -> tuple[list[BaseConfig], int]:
    """Validated configs of one group and its budget; refuses configurations that differ in a static
    hyperparameter (they need different programs) and names the configuration at fault."""
    task = get_task(env)
    budget = int(total_steps if total_steps is not None else task.budget_quick)
    if not overrides:
        raise ConfigError("configurations: give at least one")
    configs = []
    for i, o in enumerate(overrides):
        try:
            config = resolve(algo, task.defaults, o)
            check_trial(algo, build_algorithm(algo, env, config, budget), budget, shard)
        except ConfigError as err:
            if len(overrides) == 1:
                raise
            raise ConfigError(f"configuration {i} ({_describe(o)}): {err}") from None
        configs.append(config)
    for i, config in enumerate(configs[1:], 1):
        if static_key(config) != static_key(configs[0]):
            differ = [k for k, v in static_part(config).items() if static_part(configs[0])[k] != v]
            raise ConfigError(f"configuration {i} ({_describe(overrides[i])}) differs from configuration 0 in "
                              f"static hyperparameters ({', '.join(differ)}): they need separate compiles, so "
                              f"they cannot train in one call")
    return configs, budget


def train_many(algo: str, env: str, seeds: Sequence[int], overrides: Sequence[Mapping[str, Any]],
               total_steps: int | None = None, progress: bool = True, shard: bool | None = None,
               hooks: TrialArtifacts | None = None) -> list[TrainResult]:
    """Train several configurations of `algo` that differ only in traced hyperparameters, every
    seed of each, in one compiled call (vmapped over configuration x seed). Returns one result per
    configuration, equal to what a separate `train` call of that configuration returns."""
    configs, budget = resolve_group(algo, env, overrides, total_steps, shard)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("seeds: give at least one seed")
    rows = len(configs) * len(seeds)
    compiled = _compile(algo, env, static_key(configs[0]), budget, rows, shard)
    values = _traced_arrays(configs, len(seeds))
    keys = jnp.stack([jax.random.PRNGKey(s) for _ in configs for s in seeds])

    halted = np.zeros(rows, bool)
    errors = [""] * rows
    evals: list[list[EvalPoint]] = [[] for _ in range(rows)]
    run_s = 0.0  # the call's (all rows'): each configuration's share is run_s / len(configs)
    computed = 0

    def record(report, rows_now) -> None:
        for i in rows_now:
            evals[i].append(EvalPoint(int(report["env_steps"][i]), int(report["updates"][i]),
                                      float(report["return_mean"][i]), float(report["return_std"][i]), run_s))
            if not report["finite"][i]:
                halted[i] = True
                errors[i] = (f"non-finite parameters or returns after update {int(report['updates'][i])} "
                             f"(env step {int(report['env_steps'][i]):,})")

    start = time.perf_counter()
    state, report = compiled.init(keys, values)
    report = jax.tree.map(np.asarray, jax.block_until_ready(report))
    run_s += time.perf_counter() - start
    record(report, range(rows))
    if hooks is not None and (resumed := hooks.resume(state, [s for _ in configs for s in seeds])) is not None:
        state, evals, errors, run_s = resumed.state, resumed.evals, resumed.errors, resumed.run_s
        halted[:] = resumed.halted

    label = f"{algo} {env} x{len(seeds)} seeds" + (f" x{len(configs)} configs" if len(configs) > 1 else "")
    bar = _progress(progress, budget, label)
    while True:
        active = (np.asarray(state.env_steps) < budget) & ~halted
        if not active.any():
            break
        start = time.perf_counter()
        state, report = compiled.chunk(state, values, jnp.asarray(halted))
        report = jax.tree.map(np.asarray, jax.block_until_ready(report))
        run_s += time.perf_counter() - start
        computed += int(report["computed"])
        record(report, np.flatnonzero(active))
        if hooks is not None:  # outside run_s: checkpointing is not training time
            hooks.after_chunk(state, evals, halted, errors, run_s)
        if bar is not None:
            bar.update(int(np.minimum(report["env_steps"], budget).min()) - bar.n)
            bar.set_postfix(ret=f"{float(np.mean(report['return_mean'])):.1f}")
    if bar is not None:
        bar.close()

    env_steps, updates = np.asarray(state.env_steps), np.asarray(state.updates)
    device, versions, agents = device_name(), library_versions(), make(env).spec.num_agents
    call = CallTiming(uuid.uuid4().hex[:16], len(configs), rows, compiled.compile_s, run_s, computed)
    results = []
    for c, config in enumerate(configs):
        seed_results = tuple(
            SeedResult(seed, "diverged" if halted[i] else "done", errors[i], int(env_steps[i]), int(updates[i]),
                       tuple(dataclasses.replace(p, wall_s=p.wall_s * call.share) for p in evals[i]))
            for seed, i in zip(seeds, range(c * len(seeds), (c + 1) * len(seeds))))
        results.append(TrainResult(algo, env, as_dict(config), budget, seed_results, call.compile_s * call.share,
                                   run_s * call.share, device, versions, agents, compile_cached=compiled.cached,
                                   call=call))
    if hooks is not None:
        hooks.finished(state, results)
    return results


def train_group(algo: str, env: str, seeds: Sequence[int], overrides: Sequence[Mapping[str, Any]],
                total_steps: int | None = None, progress: bool = True, shard: bool | None = None,
                hooks: TrialArtifacts | None = None, max_group: int | None = None,
                memory_fraction: float = 0.5) -> list[TrainResult]:
    """`train_many` in calls small enough for this device: at most `max_group` configurations each,
    and halved until the compiled chunk's memory (updates and evaluation: arguments, outputs and
    temporaries, from XLA's own analysis) fits in `memory_fraction` of the device's memory. One
    result per configuration, in order; `hooks.trial_ids` (one per configuration) are split with
    the calls. A group that left a checkpoint (`hooks`) is trained as that group again, so that it
    resumes whatever the memory figure says now."""
    if max_group is not None and max_group < 1:
        raise ConfigError(f"max_group must be >= 1, got {max_group}")
    overrides = list(overrides)
    size = max_group or len(overrides)
    spans = [(start, min(start + size, len(overrides))) for start in range(0, len(overrides), size)]
    results: list[TrainResult] = []
    while spans:
        start, end = spans.pop(0)
        held = [] if hooks is None or hooks.checkpoint_every_s is None else \
            [n for n in checkpointed_groups(hooks.out_dir, hooks.trial_ids[start]) if n <= end - start]
        if held and held[0] < end - start:
            spans[:0] = [(start, start + held[0]), (start + held[0], end)]
            continue
        if not held and end - start > 1 and \
                not _fits(algo, env, seeds, overrides[start:end], total_steps, shard, memory_fraction):
            middle = (start + end) // 2
            spans[:0] = [(start, middle), (middle, end)]
            continue
        part = None if hooks is None else dataclasses.replace(hooks, trial_ids=tuple(hooks.trial_ids[start:end]))
        results += train_many(algo, env, seeds, overrides[start:end], total_steps, progress, shard, part)
    return results


def _fits(algo, env, seeds, overrides, total_steps, shard, memory_fraction) -> bool:
    configs, budget = resolve_group(algo, env, overrides, total_steps, shard)
    compiled = _compile(algo, env, static_key(configs[0]), budget, len(configs) * len(seeds), shard)
    have = device_bytes()
    need = compiled_bytes(compiled.chunk)
    return have is None or need <= memory_fraction * have


def compiled_bytes(compiled: Any) -> int:
    """What running `compiled` holds at once: its arguments, outputs and temporaries."""
    m = compiled.memory_analysis()
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)


def device_bytes() -> int | None:
    """The first device's memory: an accelerator's limit, or on CPU this process's stable share of the
    host's RAM (`algos.host_memory`; never the momentary free RAM, so a rerun splits groups alike)."""
    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    return host_memory_bytes()


def _describe(overrides: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())) or "defaults"


def _progress(enabled: bool, total: int, desc: str):
    """A bar on a terminal; plain lines every few seconds in a file or pipe (`algos.progress`)."""
    if not enabled:
        return None
    from eggroll_bench.algos.progress import progress_bar

    return progress_bar(total, desc)
