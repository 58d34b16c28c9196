"""The one environment interface: functional, jittable, auto-resetting, with episode stats.

Every source library is adapted to a `RawEnv` (reset + a step that does *not* reset and says
`terminated` apart from nothing else). `Env` wraps any RawEnv the same way:

    obs, state = env.reset(key)
    obs, state, reward, done, info = env.step(key, state, action)

`done` is terminated-or-truncated, a scalar per environment (for multi-agent tasks it is the
team's done; learners broadcast it over the agent axis of `reward`). After a done step `obs` is already the first observation of
the next episode; `info` carries what learners need across that boundary:

    info["terminated"], info["truncated"]   why the episode ended (bool)
    info["final_obs"]                       the observation before the reset (bootstrap on truncation)
    info["episode_done"]                    an episode finished at this step (bool, scalar)
    info["episode_return"]                  its undiscounted return (team return for multi-agent)
    info["episode_length"]                  its length in steps

`episode_return`/`episode_length` hold the finished episode's values on the step where
`episode_done` is true and the running values otherwise.

`env.step_no_reset(key, state, action)` is the same step without the auto-reset (and with only
`terminated`/`truncated` in `info`), for loops that use each environment only up to its first
`done` (`algos.rollout.run_episodes`): same transitions as `step` until then, no reset computed.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from eggroll_bench.envs.spec import EnvSpec


@contextlib.contextmanager
def import_chatter_to_stderr() -> Iterator[None]:
    """Wrap an environment library's import: some print to stdout when imported (jaxmarl, and
    mujoco via brax), which would corrupt machine-readable output such as `eggroll-bench envs
    --json`. Redirected for Python and at the file-descriptor level, because jaxmarl's mabrax module resets
    `sys.stdout`/`sys.stderr` to the interpreter's originals on import; both are put back after."""
    saved_out, saved_err = sys.stdout, sys.stderr
    saved_out.flush()
    saved_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        sys.stdout, sys.stderr = saved_out, saved_err


class RawEnv(Protocol):
    """What an adapter provides: no auto-reset, no time limit, no episode bookkeeping."""

    spec: EnvSpec

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any]: ...

    def step(self, key: jax.Array, state: Any, action: jax.Array) -> tuple[jax.Array, Any, jax.Array, jax.Array]:
        """Returns (obs, state, reward, terminated); reward has the spec's batch prefix shape."""
        ...

    # Optional: `auto_reset(key, state) -> (obs, state)`, the start of the next episode after one
    # ends, when that can be cheaper than `reset` (brax restarts from the episode's first state).


class EnvState(NamedTuple):
    inner: Any
    episode_return: jax.Array  # running team return of the current episode
    episode_length: jax.Array  # steps taken in the current episode


def _select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def check_action(spec: EnvSpec, action: jax.Array) -> jax.Array:
    """Refuse, at trace time, an action whose shape or dtype does not match the spec."""
    action = jnp.asarray(action)
    expected = spec.batch_prefix + spec.action_shape
    if action.shape != expected:
        raise ValueError(
            f"{spec.name}: action has shape {action.shape}, expected {expected} "
            f"({spec.action_space.describe()}"
            + (f" for each of {spec.num_agents} agents stacked on axis 0" if spec.multi_agent else "")
            + "). Batch over environments with jax.vmap rather than passing a batch."
        )
    if spec.discrete and not jnp.issubdtype(action.dtype, jnp.integer):
        raise TypeError(f"{spec.name}: discrete action must have an integer dtype, got {action.dtype}")
    if not spec.discrete and not jnp.issubdtype(action.dtype, jnp.floating):
        raise TypeError(f"{spec.name}: continuous action must have a floating dtype, got {action.dtype}")
    return action


def split_step_key(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A step's key -> (the raw step's key, the key of the reset that follows an episode's end)."""
    key_step, key_reset = jax.random.split(key)
    return key_step, key_reset


class Env:
    """Auto-reset, time limit and episode-return tracking over a RawEnv."""

    def __init__(self, raw: RawEnv):
        self.raw = raw
        self.spec: EnvSpec = raw.spec

    def reset(self, key: jax.Array) -> tuple[jax.Array, EnvState]:
        obs, inner = self.raw.reset(key)
        zero = jnp.zeros((), jnp.float32)
        return obs, EnvState(inner, zero, jnp.zeros((), jnp.int32))

    def _advance(self, key: jax.Array, state: EnvState, action: jax.Array):
        """One raw step with the time limit and the episode counters, no reset. `key` is the one
        `step` passes on to the raw step (the first half of its split), so both draw the same stream."""
        action = check_action(self.spec, action)  # trace-time check only: no op in the program
        key_step, key_reset = split_step_key(key)
        obs_next, inner, reward, terminated = self.raw.step(key_step, state.inner, action)
        reward = reward.astype(jnp.float32)
        terminated = jnp.asarray(terminated, bool)
        length = state.episode_length + 1
        truncated = jnp.logical_and(length >= self.spec.max_steps, jnp.logical_not(terminated))
        done = jnp.logical_or(terminated, truncated)
        ep_return = state.episode_return + reward.sum()  # team return: sum over agents
        return key_reset, obs_next, inner, reward, terminated, truncated, done, ep_return, length

    def step(self, key: jax.Array, state: EnvState, action: jax.Array):
        key_reset, obs_next, inner, reward, terminated, truncated, done, ep_return, length = \
            self._advance(key, state, action)
        auto_reset = getattr(self.raw, "auto_reset", None)
        obs_reset, inner_reset = auto_reset(key_reset, inner) if auto_reset else self.raw.reset(key_reset)
        obs = _select(done, obs_reset, obs_next)
        inner = _select(done, inner_reset, inner)
        new_state = EnvState(
            inner,
            jnp.where(done, 0.0, ep_return),
            jnp.where(done, 0, length),
        )
        info = {
            "terminated": terminated,
            "truncated": truncated,
            "final_obs": obs_next,
            "episode_done": done,
            "episode_return": ep_return,
            "episode_length": length,
        }
        return obs, new_state, reward, done, info

    def step_no_reset(self, key: jax.Array, state: EnvState, action: jax.Array):
        """`step` without the auto-reset, for loops that stop using an environment at its first
        `done` (`algos.rollout.run_episodes`: ES fitness and evaluation). `step` computes a whole
        reset (random draws included) and selects the state on every step, which at small networks
        was the largest single cost of those loops. Same key use as `step`, so up to the first
        `done` both yield the same transitions; after it the environment keeps stepping from its
        terminal state (the counters keep running) and the caller must mask what it sees."""
        _, obs, inner, reward, terminated, truncated, done, ep_return, length = self._advance(key, state, action)
        info = {"terminated": terminated, "truncated": truncated}
        return obs, EnvState(inner, ep_return, length), reward, done, info


def step_batch(env: Env, keys: jax.Array, state: EnvState, action: jax.Array, reset_pool: int = 0):
    """`jax.vmap(env.step)` over a batch of environments, optionally with a pool of fresh starts.

    With `reset_pool=0` this is exactly `jax.vmap(env.step)`: every environment computes its own
    reset on every step (under vmap both branches of the auto-reset run), which is what an exact
    auto-reset costs. Where a reset is far dearer than a step (Craftax generates a whole world:
    ~330 µs against ~64 µs for the step itself on a CPU core), `reset_pool=K` draws only K fresh
    starts per step, from the reset keys of the batch's first K environments, and gives them to
    the environments whose episode ended, in batch order: the i-th to end takes start i mod K. Up
    to K endings per step every new episode gets its own fresh start; beyond that, some share one
    (the "optimistic reset" of the Craftax authors' baselines). Not for tasks with their own
    `auto_reset` (brax restarts an episode from its first state, which no pool can stand in for).
    """
    if reset_pool == 0:
        return jax.vmap(env.step)(keys, state, action)
    obs_next, stepped, reward, done, info = jax.vmap(env.step_no_reset)(keys, state, action)
    reset_keys = jax.vmap(lambda key: split_step_key(key)[1])(keys[:reset_pool])  # `step`'s reset keys
    pool = jax.vmap(env.reset)(reset_keys)
    slot = (jnp.cumsum(done) - 1) % reset_pool
    fresh_obs, fresh_state = jax.tree.map(lambda x: x[slot], pool)

    def pick(new: jax.Array, old: jax.Array) -> jax.Array:
        return jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old)

    info = {**info, "final_obs": obs_next, "episode_done": done, "episode_return": stepped.episode_return,
            "episode_length": stepped.episode_length}
    return pick(fresh_obs, obs_next), jax.tree.map(pick, fresh_state, stepped), reward, done, info

