"""brax tasks as RawEnvs.

Backend: `positional` by default (the PureJaxRL/EGGROLL-era choice: fast to compile and step
on both CPU and GPU); a registration may choose `spring`, `generalized` or `mjx`. brax's
unwrapped `env.step` neither resets nor truncates, which is what `envs.core.Env` expects; the
episode limit (1000 steps, brax's training default) is applied there. Actions are clipped to
[-1, 1], brax's action bounds for every bundled task.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.spec import Box, EnvSpec

BRAX_EPISODE_LENGTH = 1000


class BraxEnv:
    def __init__(self, env_id: str, backend: str = "positional", max_steps: int = BRAX_EPISODE_LENGTH):
        from brax import envs as brax_envs

        self._env = brax_envs.get_environment(env_id, backend=backend)
        self.backend = backend
        self.spec = EnvSpec(
            name=env_id,
            obs_shape=(int(self._env.observation_size),),
            action_space=Box((int(self._env.action_size),), -1.0, 1.0),
            max_steps=max_steps,
        )

    def reset(self, key):
        state = self._env.reset(key)
        return state.obs, state

    def step(self, key, state, action):
        del key  # brax dynamics are deterministic given the state
        action = jnp.clip(action, -1.0, 1.0)
        state = self._env.step(state, action)
        return state.obs, state, state.reward, state.done > 0.5
