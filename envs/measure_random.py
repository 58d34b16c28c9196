"""Measure each task's uniform-random-policy return (the `random_return` of the registry).

Protocol: 256 episodes (vmapped environments, seed 0), actions uniform over the action space
(discrete: uniform index among each agent's valid actions; continuous: uniform in [low, high]),
each environment stepped until its first episode ends; the figure is the mean team return.

    python -m envs.measure_random [TASK_OR_SUITE ...]   # default: every registered task
"""
from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp

from envs.registry import all_tasks, make, resolve_tasks
from envs.spec import EnvSpec


def random_action(spec: EnvSpec, key: jax.Array) -> jax.Array:
    shape = spec.batch_prefix + spec.action_shape
    if spec.discrete:
        n = jnp.asarray(spec.valid_actions) if spec.valid_actions else spec.action_space.n
        return jnp.floor(jax.random.uniform(key, shape) * n).astype(jnp.int32)
    return jax.random.uniform(key, shape, minval=spec.action_space.low, maxval=spec.action_space.high)


def random_policy_return(task_name: str, episodes: int = 256, seed: int = 0) -> float:
    env = make(task_name)
    spec = env.spec

    def one_episode(key):
        key, reset_key = jax.random.split(key)
        _, state = env.reset(reset_key)

        def body(carry, _):
            state, key, finished, ret = carry
            key, act_key, step_key = jax.random.split(key, 3)
            _, state, _, _, info = env.step(step_key, state, random_action(spec, act_key))
            first_end = jnp.logical_and(info["episode_done"], jnp.logical_not(finished))
            ret = jnp.where(first_end, info["episode_return"], ret)
            return (state, key, jnp.logical_or(finished, info["episode_done"]), ret), None

        init = (state, key, jnp.array(False), jnp.array(0.0))
        (_, _, _, ret), _ = jax.lax.scan(body, init, None, length=spec.max_steps)
        return ret

    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    return float(jax.jit(jax.vmap(one_episode))(keys).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="tasks or suites (default: all)")
    parser.add_argument("--episodes", type=int, default=256)
    args = parser.parse_args(argv)
    tasks = resolve_tasks(args.names) if args.names else all_tasks()
    for task in tasks:
        print(f"{task.name:32s} {random_policy_return(task.name, args.episodes):12.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
