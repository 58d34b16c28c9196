"""Run a batch of episodes to their first end: ES fitness and evaluation share this one loop.

Every environment of the batch runs one episode; a `lax.while_loop` stops as soon as all have
ended (or at the task's step limit), so a population that fails early does not pay for 500
dead steps. Steps taken after an environment's episode ended are masked out and not counted:
the env-step count is exactly Σ episode lengths.

Since every environment is used only up to its first end, the loop steps with
`Env.step_no_reset` (same random stream as `Env.step`, no auto-reset): the dead steps of a batch
whose episodes end unevenly then cost a raw step and a forward pass, not a whole reset as well.
An env without `step_no_reset` (e.g. the benchmarks' `FixedHorizonEnv`, which must keep
resetting) is stepped with its `step`. After its end an environment keeps stepping from its
terminal state, so everything it yields is masked by `alive` with selects, never multiplied.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from eggroll_bench.algos.observations import Moments
from eggroll_bench.envs.core import Env

# act(obs_batch (B, *prefix, *obs), key) -> actions (B, *prefix, *action_shape)
ActFn = Callable[[jax.Array, jax.Array], jax.Array]


class Episodes(struct.PyTreeNode):
    returns: jax.Array  # (B,) team return of each environment's episode
    lengths: jax.Array  # (B,) its length in steps
    moments: Moments  # observations seen on live steps (for observation normalisation); zero if not asked


def run_episodes(env: Env, act: ActFn, key: jax.Array, batch: int, reset_keys: jax.Array | None = None,
                 place: Callable[[Any], Any] | None = None, moments: bool = True,
                 live: jax.Array | bool = True) -> Episodes:
    """`reset_keys` (batch, key): the start of each episode; by default each draws its own.
    `place` lays out the batch's first observations and states (e.g. `sharding.split_tree`).
    `moments=False` skips accumulating the observation moments (every step's sums over the batch)
    when nobody normalises with them; `Episodes.moments` is then all zeros (merging it is a no-op).
    `live=False` (a traced bool): nobody will use these episodes, so none takes a step (their
    returns and lengths are zero). Vmapped, the loop runs while any row has a live episode, so a
    row whose result is discarded (a grouped trial that has spent its budget) no longer holds the
    others' loop until its own episodes end."""
    spec = env.spec
    key, reset_key = jax.random.split(key)
    if reset_keys is None:
        reset_keys = jax.random.split(reset_key, batch)
    obs, state = jax.vmap(env.reset)(reset_keys)
    if place is not None:
        obs, state = place((obs, state))
    step = jax.vmap(getattr(env, "step_no_reset", env.step))
    track = moments

    def cond(carry):
        t, _, _, _, alive, _, _, _ = carry
        # `live` gates the loop only, never the body: the body's arithmetic stays what it is without it
        return jnp.logical_and(jnp.logical_and(t < spec.max_steps, alive.any()), live)

    def body(carry):
        t, obs, state, key, alive, returns, lengths, moments = carry
        key, act_key, step_key = jax.random.split(key, 3)
        if track:
            moments = moments.add(obs, alive)
        action = act(obs, act_key)
        obs, state, reward, done, _ = step(jax.random.split(step_key, batch), state, action)
        team_reward = reward.reshape(batch, -1).sum(-1)
        returns = returns + jnp.where(alive, team_reward, 0.0)
        lengths = lengths + alive.astype(jnp.int32)
        alive = jnp.logical_and(alive, jnp.logical_not(done))
        return t + 1, obs, state, key, alive, returns, lengths, moments

    init = (jnp.asarray(0), obs, state, key, jnp.ones(batch, bool), jnp.zeros(batch),
            jnp.zeros(batch, jnp.int32), Moments.zeros(spec.obs_shape))
    _, _, _, _, _, returns, lengths, moments = jax.lax.while_loop(cond, body, init)
    return Episodes(returns, lengths, moments)
