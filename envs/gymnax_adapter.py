"""gymnax 1.x tasks (classic control and MinAtar) as RawEnvs.

gymnax 1.x's own `step` auto-resets and returns 6 values; we call the lower-level `step_env`
(no reset, `terminated` only) and let `envs.core.Env` handle resets and the time limit, so every
source is reset the same way. MinAtar's (10, 10, C) boolean grids are flattened to float32
vectors so the shared MLP policy applies unchanged.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from eggroll_bench.envs.spec import Box, Discrete, EnvSpec


class GymnaxEnv:
    def __init__(self, env_id: str, flatten_obs: bool = False, **param_overrides):
        from eggroll_bench.envs.deferred_imports import defer_plotting_imports

        defer_plotting_imports()  # gymnax's Pong and Catch import seaborn and pyplot only to draw
        import gymnax  # imported lazily: `eggroll-bench envs` should not pay for every library

        self._env, params = gymnax.make(env_id)
        self._params = params.replace(**param_overrides) if param_overrides else params
        obs_shape = tuple(self._env.observation_space(self._params).shape)
        self._flatten = flatten_obs
        if flatten_obs:
            obs_shape = (math.prod(obs_shape),)
        space = self._env.action_space(self._params)
        if hasattr(space, "n"):
            action_space = Discrete(int(space.n))
        else:
            action_space = Box(tuple(space.shape), float(jnp.min(space.low)), float(jnp.max(space.high)))
        self.spec = EnvSpec(
            name=env_id,
            obs_shape=obs_shape,
            action_space=action_space,
            max_steps=int(self._params.max_steps_in_episode),
        )

    def _obs(self, obs: jax.Array) -> jax.Array:
        obs = obs.astype(jnp.float32)
        return obs.reshape(-1) if self._flatten else obs

    def reset(self, key):
        obs, state = self._env.reset_env(key, self._params)
        return self._obs(obs), state

    def step(self, key, state, action):
        if not self.spec.discrete:
            action = jnp.clip(action, self.spec.action_space.low, self.spec.action_space.high)
        obs, state, reward, terminated, _ = self._env.step_env(key, state, action, self._params)
        return self._obs(obs), state, jnp.asarray(reward, jnp.float32), terminated
