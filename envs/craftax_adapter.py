"""Craftax tasks (Classic and full, symbolic observations) as RawEnvs.

Craftax's symbolic observations are already flat float32 vectors (1345 for Classic, 8268 for the
full game). We use the auto-reset variants that `make_craftax_env_from_name(name, auto_reset=True)`
returns (as the paper does; the no-auto-reset variants need Craftax's optimistic-reset wrapper)
and step their `step_env`, which does not reset: `envs.core.Env` then resets to a freshly
generated world when an episode ends, which is what Craftax's own auto-reset does.

Termination is death (health, lava); Craftax also ends an episode at `max_timesteps` (10,000 /
100,000), which is a time limit: we lift Craftax's own limit and let `Env` apply the same limit
as truncation, so learners bootstrap there instead of treating it as a terminal state.
"""
from __future__ import annotations

import jax.numpy as jnp

from eggroll_bench.envs.spec import Discrete, EnvSpec

_NO_LIMIT = 2**31 - 1


class CraftaxEnv:
    def __init__(self, env_id: str):
        from craftax.craftax_env import make_craftax_env_from_name

        self._env = make_craftax_env_from_name(env_id, auto_reset=True)
        params = self._env.default_params
        self._params = params.replace(max_timesteps=_NO_LIMIT)
        self.spec = EnvSpec(
            name=env_id,
            obs_shape=tuple(int(d) for d in self._env.observation_space(params).shape),
            action_space=Discrete(int(self._env.action_space(params).n)),
            max_steps=int(params.max_timesteps),
        )

    def reset(self, key):
        obs, state = self._env.reset_env(key, self._params)
        return obs.astype(jnp.float32), state

    def step(self, key, state, action):
        obs, state, reward, terminated, _ = self._env.step_env(key, state, action, self._params)
        return obs.astype(jnp.float32), state, jnp.asarray(reward, jnp.float32), terminated
