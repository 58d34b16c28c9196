"""Our engine against a bare JAX loop: how much of the raw library's speed do we keep?

    python -m eggroll_bench.benchmarks.ceiling [--quick] [--envs CartPole-v1] [--sizes 64x64,256x256]
                                                [--variants inference,es-generation,es-live,ppo-update]

The ceiling ("bare") is the least code that steps the same batch with the same policy: a fixed-length
`lax.scan` of the RAW library step (gymnax `env.step_env(key, state, action, params)`, brax
`env.step(state, action)`), vmapped over the batch, with a flax MLP of the same shape and
activation as `algos/network.py`'s (one shared set of parameters, greedy action / Gaussian mean).
No wrapper, no auto-reset, no masking, no counters, no early stop, no observation normalisation;
the only preprocessing is what an MLP needs (MinAtar's boolean grid flattened to float32).

Per task and (population × width) every variant below is compared with that bare loop's env
steps / s (`x_bare`), and its compile time with the bare loop's (`x_bare_compile`):
- inference:     `algos.rollout.run_episodes` with the mean parameters and no noise (the runner's
                 evaluation loop), on a `FixedHorizonEnv` so it steps exactly T times like the bare loop;
- es-generation: one `EvolutionStrategy.update` (EGGROLL r=1: noise, rollout, fitness, gradient,
                 optimiser), also for exactly T steps per member;
- es-live:       the same update on the real task, as the runner runs it: each member's episode ends at
                 its first `done` and a `while_loop` stops when all have ended. `steps_per_s` counts live
                 steps (what the runner reports); `stepped_per_s` counts every transition the loop
                 actually computed (batch × the longest episode), the fair per-step comparison.
PPO is compared with its own bare loop of `num_envs` environments × `num_steps` steps and PPO's
network: `ppo-update` is one `PPO.update` (collection, GAE, minibatch epochs), env steps as it
reports them.

Every variant is compiled ahead of time, one after the other (so each compile time is its own),
warmed up, then timed interleaved with the others of its group, median of the repeats.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from eggroll_bench.algos.network import activation_fn
from eggroll_bench.algos.rollout import run_episodes
from eggroll_bench.benchmarks import common, workloads
from eggroll_bench.benchmarks import ppo as ppo_bench
from eggroll_bench.benchmarks.options import BenchError, ceiling_variants
from eggroll_bench.envs.core import import_chatter_to_stderr
from eggroll_bench.envs.registry import get_task, make

DEFAULT_ENVS = ("CartPole-v1", "Breakout-MinAtar", "Pendulum-v1", "inverted_double_pendulum")
QUICK_ENVS = ("CartPole-v1",)
CPU_SIZES, ACCEL_SIZES, QUICK_SIZES = ((64, 64), (256, 256), (1024, 1024)), \
    ((256, 256), (1024, 1024), (4096, 1024)), ((8, 8),)
# the PPO group of --quick: a tiny update (4 envs x 8 steps, hidden 8) so the test stays in seconds
QUICK_PPO = {"num_envs": 4, "num_steps": 8, "hidden": 8}
SOURCES = ("gymnax", "brax")

COLUMNS = ["env", "group", "variant", "batch", "hidden", "depth", "activation", "horizon", "env_steps",
           "stepped_steps", "seconds", "steps_per_s", "stepped_per_s", "x_bare", "x_bare_stepped",
           "best_steps_per_s", "x_bare_best", "compile_s", "x_bare_compile", "repeats", "load", "status"]
KEYS = ["env", "group", "variant", "hidden", "depth", "activation", "horizon"]


# --- the bare loop ---------------------------------------------------------------------------------
class BareMLP(nn.Module):
    """`algos.network.MLP`'s shape and activation with plain `nn.Dense` layers."""

    hidden: int
    depth: int
    out: int
    activation: str

    @nn.compact
    def __call__(self, x):
        for _ in range(self.depth):
            x = nn.Dense(self.hidden)(x)
            x = nn.relu(nn.LayerNorm()(x)) if self.activation == "pqn" else activation_fn(self.activation)(x)
        return nn.Dense(self.out)(x)


class RawLibraryEnv:
    """The library's own env object and its un-wrapped reset / step, nothing else."""

    def __init__(self, name: str):
        task = get_task(name)
        if task.source not in SOURCES:
            raise BenchError(f"--envs: {name} comes from {task.source}; the bare loop supports {', '.join(SOURCES)}")
        self.source, spec = task.source, make(name).spec
        self.discrete = spec.discrete
        self.action_dim = spec.action_space.n if spec.discrete else int(spec.action_space.shape[0])
        self.obs_dim = 1
        for d in spec.obs_shape:
            self.obs_dim *= d
        if self.source == "gymnax":
            import gymnax

            self.env, self.params = gymnax.make(name)
        else:
            with import_chatter_to_stderr():
                from brax import envs as brax_envs
            # the same backend as the registered task's adapter
            self.env = brax_envs.get_environment(name, backend=task.factory().backend)

    def reset(self, key):
        if self.source == "gymnax":
            obs, state = self.env.reset_env(key, self.params)
            return obs, state
        state = self.env.reset(key)
        return state.obs, state

    def step(self, key, state, action):
        if self.source == "gymnax":
            obs, state, reward, _, _ = self.env.step_env(key, state, action, self.params)
            return obs, state, reward
        state = self.env.step(state, action)
        return state.obs, state, state.reward


def bare_loop(raw: RawLibraryEnv, hidden: int, depth: int, activation: str, batch: int, horizon: int):
    """(fn(params, key) -> (Σ reward, env steps), params)."""
    net = BareMLP(hidden, depth, raw.action_dim, activation)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, raw.obs_dim)))
    reset, step = jax.vmap(raw.reset), jax.vmap(raw.step)

    def fn(params, key):
        key, reset_key = jax.random.split(key)
        obs, state = reset(jax.random.split(reset_key, batch))

        def body(carry, k):
            obs, state, total = carry
            out = net.apply(params, obs.reshape(batch, -1).astype(jnp.float32))
            action = jnp.argmax(out, axis=-1).astype(jnp.int32) if raw.discrete else out
            obs, state, reward = step(jax.random.split(k, batch), state, action)
            return (obs, state, total + reward.sum()), None

        (_, _, total), _ = jax.lax.scan(body, (obs, state, jnp.zeros(())), jax.random.split(key, horizon))
        return total, jnp.asarray(batch * horizon)

    return fn, params


# --- our variants ----------------------------------------------------------------------------------
def live_lengths(es) -> Callable:
    """The episode lengths `es.update`'s rollout produces for (state, key): the same calls in the same
    order, so the while loop's iteration count (the longest episode) is known without timing it."""

    def fn(state, key):
        noise = es.noise.sample(state.noise_key, state.generation, state.params)
        key, start_key = jax.random.split(key)
        act = es.population_act(state, noise, es.sigma(state.generation))
        return run_episodes(es.env, act, key, es.batch, es.start_keys(start_key)).lengths

    return fn


Job = tuple[Callable, tuple, dict[str, Any]]  # fn, its arguments, the row's fixed fields


def size_group(env: str, raw: RawLibraryEnv, pop: int, width: int, args: argparse.Namespace,
               horizon: int, wanted: list[str]) -> dict[str, Job]:
    base = {"env": env, "group": f"{pop}x{width}", "hidden": width, "depth": args.depth,
            "activation": args.activation}
    fixed = workloads.make_es("eggroll", env, width, args.depth, pop, 1, args.activation, horizon=horizon)
    live = workloads.make_es("eggroll", env, width, args.depth, pop, 1, args.activation)
    state, key = workloads.init_state(fixed), jax.random.PRNGKey(1)
    fn, params = bare_loop(raw, width, args.depth, args.activation, fixed.batch, horizon)
    row = {**base, "batch": fixed.batch, "horizon": horizon}
    jobs = {"bare": (fn, (params, key), row),
            "inference": (workloads.inference_rollout(fixed), (state, key), row),
            "es-generation": (workloads.full_generation(fixed), (state, key), row),
            "es-live": (workloads.full_generation(live), (state, key),
                        {**row, "horizon": f"<= {live.spec.max_steps}", "_lengths": live_lengths(live)})}
    return {name: job for name, job in jobs.items() if name == "bare" or name in wanted}


def ppo_group(env: str, raw: RawLibraryEnv, args: argparse.Namespace) -> dict[str, Job]:
    """The PPO update exactly as `bench ppo` builds it (the task's defaults; tiny with --quick)."""
    quick = QUICK_PPO if args.quick else {}
    choice = argparse.Namespace(num_steps=quick.get("num_steps"), hidden=quick.get("hidden"))
    # the task's standard number of environments, as `bench ppo` marks it (resolved where it resolves it)
    num_envs = quick.get("num_envs") or ppo_bench.resolve("ppo", get_task(env).defaults).num_envs
    cfg = ppo_bench.config_for(env, num_envs, choice)
    update, update_args = ppo_bench.job(env, num_envs, choice)
    fn, params = bare_loop(raw, cfg.hidden, cfg.depth, cfg.activation, cfg.num_envs, cfg.num_steps)
    row = {"env": env, "group": f"ppo {cfg.num_envs} envs", "batch": cfg.num_envs, "hidden": cfg.hidden,
           "depth": cfg.depth, "activation": cfg.activation, "horizon": cfg.num_steps}
    return {"bare": (fn, (params, update_args[1]), row), "ppo-update": (update, update_args, row)}


def measure(jobs: dict[str, Job], args: argparse.Namespace, repeats: int) -> list[dict[str, Any]]:
    opts = common.compiler_options(args.no_ynn)
    rows, calls = {}, {}
    for name, (fn, fn_args, fixed) in jobs.items():
        row = {k: v for k, v in fixed.items() if not k.startswith("_")}
        rows[name] = row = {**row, "variant": name, "status": "ok"}
        try:
            compiled, row["compile_s"] = common.compile_jit(fn, *fn_args, compiler_opts=opts)
        except Exception as err:  # noqa: BLE001 - one variant failing (e.g. out of memory) is a row
            row["status"] = common.short_error(err)
            continue
        calls[name] = (lambda c=compiled, a=fn_args: c(*a))
    timings = common.interleaved(calls, repeats, 5.0 if args.quick else 30.0)
    common.record_throughput(rows, timings)
    for name, row in rows.items():
        if row.get("steps_per_s") is None:
            continue
        row["stepped_steps"] = row["env_steps"]
        if "_lengths" in jobs[name][2]:  # the while loop computed batch x the longest episode
            lengths = jax.jit(jobs[name][2]["_lengths"])(*jobs[name][1])
            if int(lengths.sum()) != row["env_steps"]:
                row["status"] = f"rollout replay counted {int(lengths.sum())} steps, the update {row['env_steps']}"
            row["stepped_steps"] = int(lengths.shape[0] * lengths.max())
        row["stepped_per_s"] = row["stepped_steps"] / row["seconds"]
    bare = rows.get("bare", {})
    for row in rows.values():
        for column, ratio in (("steps_per_s", "x_bare"), ("stepped_per_s", "x_bare_stepped"),
                              ("best_steps_per_s", "x_bare_best")):
            if row.get(column) and bare.get(column):
                row[ratio] = row[column] / bare[column]
        if row.get("compile_s") and bare.get("compile_s"):
            row["x_bare_compile"] = row["compile_s"] / bare["compile_s"]
    return list(rows.values())


def sizes_for(env: str, args: argparse.Namespace) -> list[tuple[int, int]]:
    if args.sizes:
        return list(args.sizes)
    if args.quick:
        return list(QUICK_SIZES)
    return list(ACCEL_SIZES if common.on_accelerator() else CPU_SIZES)


def run(args: argparse.Namespace) -> int:
    envs = args.envs or list(QUICK_ENVS if args.quick else DEFAULT_ENVS)
    wanted = ceiling_variants(args.variants)
    raws = {}
    for env in envs:  # bad input is refused before anything compiles
        try:
            raws[env] = RawLibraryEnv(env)
        except KeyError as err:
            raise BenchError(f"--envs: {err.args[0] if err.args else err}") from None
    common.header("ceiling", args.quick)
    horizon = args.horizon or (8 if args.quick else (64 if not common.on_accelerator() else 256))
    repeats = args.repeats or (3 if args.quick else 5)
    shown = ["variant", "steps_per_s", "x_bare", "stepped_per_s", "x_bare_stepped", "x_bare_best", "compile_s",
             "x_bare_compile", "repeats", "status"]
    rows: list[dict[str, Any]] = []
    for env, raw in raws.items():
        groups = [lambda p=p, w=w: size_group(env, raw, p, w, args, horizon, wanted) for p, w in sizes_for(env, args)]
        if not {"inference", "es-generation", "es-live"} & set(wanted):
            groups = []
        if "ppo-update" in wanted:
            groups.append(lambda: ppo_group(env, raw, args))
        for build in groups:
            start = time.perf_counter()
            jobs = build()
            new = measure(jobs, args, repeats)
            rows += new
            first = new[0]
            common.print_table(new, shown, f"{env}  {first['group']}  hidden={first['hidden']}x{first['depth']} "
                               f"{first['activation']}  batch={first['batch']}  T={first['horizon']}  "
                               f"({time.perf_counter() - start:.0f} s, load {common.load()})")
            sys.stdout.flush()
    path = common.write_csv(rows, Path(args.out) / "ceiling.csv", COLUMNS, KEYS if args.append else None)
    common.print_table(rows, ["env", "group", "variant", "steps_per_s", "x_bare", "x_bare_stepped", "compile_s",
                              "x_bare_compile", "load", "status"], "summary")
    print(f"\nwrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run_main("ceiling", run, argv)


if __name__ == "__main__":
    sys.exit(main())
