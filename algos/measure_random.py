"""Measure each task's uniform-random-policy return (the `random_return` of the registry).

Protocol: 256 episodes (vmapped environments, seed 0), actions uniform over the action space
(discrete: uniform index among each agent's valid actions; continuous: uniform in [low, high]),
each environment stepped until its first episode ends; the figure is the mean team return.

    python -m eggroll_bench.algos.measure_random [--import MODULE] [TASK_OR_SUITE ...]   # default: every task
"""
from __future__ import annotations

import argparse
import difflib
import sys

import jax
import jax.numpy as jnp

from eggroll_bench import plugins
from eggroll_bench.envs.registry import all_tasks, make, resolve_tasks, suites
from eggroll_bench.envs.spec import EnvSpec


def random_action(spec: EnvSpec, key: jax.Array, obs: jax.Array | None = None) -> jax.Array:
    """Uniform over the valid actions (`obs` is needed for tasks with a state-dependent mask)."""
    shape = spec.batch_prefix + spec.action_shape
    if spec.mask_size:
        valid = obs[..., -spec.mask_size:] > 0.5
        return jax.random.categorical(key, jnp.where(valid, 0.0, -jnp.inf)).astype(jnp.int32)
    if spec.discrete:
        n = jnp.asarray(spec.valid_actions) if spec.valid_actions else spec.action_space.n
        return jnp.floor(jax.random.uniform(key, shape) * n).astype(jnp.int32)
    return jax.random.uniform(key, shape, minval=spec.action_space.low, maxval=spec.action_space.high)


def random_policy_return(task_name: str, episodes: int = 256, seed: int = 0) -> float:
    """Mean return of `episodes` uniform-random episodes, each run to its end (or the time limit)
    by the runner's own episode loop, which stops as soon as every episode has ended."""
    from eggroll_bench.algos.rollout import run_episodes  # the loop ES fitness and evaluation use

    env = make(task_name)
    spec = env.spec

    def act(obs, key):
        return jax.vmap(lambda o, k: random_action(spec, k, o))(obs, jax.random.split(key, obs.shape[0]))

    run = jax.jit(lambda key: run_episodes(env, act, key, episodes).returns.mean())
    return float(run(jax.random.PRNGKey(seed)))


def unknown_names(names: list[str]) -> str | None:
    """Why some of `names` are neither a task nor a suite (with close matches), or None."""
    known = [t.name for t in all_tasks()] + list(suites())
    bad = [n for n in names if n not in known]
    if not bad:
        return None
    parts = []
    for name in bad:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        parts.append(f"{name!r}{hint}")
    return (f"unknown task or suite {'; '.join(parts)}. Tasks and suites: `eggroll-bench envs` lists them; "
            f"suites: {', '.join(sorted(suites()))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="tasks or suites (default: all)")
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="import MODULE first (repeatable): a module of yours that registers tasks")
    args = parser.parse_args(argv)
    try:
        plugins.load_modules(args.imports)
    except plugins.PluginError as err:
        print(f"measure_random: error: {err}", file=sys.stderr)
        return 2
    unknown = unknown_names(args.names)
    if unknown:
        print(f"measure_random: error: {unknown}", file=sys.stderr)
        return 2
    tasks = resolve_tasks(args.names) if args.names else all_tasks()
    for task in tasks:
        print(f"{task.name:32s} {random_policy_return(task.name, args.episodes):12.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
