"""Navix (MiniGrid in JAX) tasks as RawEnvs.

`navix.make(name)` with its defaults: symbolic full-grid observations (H, W, 3) of uint8 codes,
flattened to float32 vectors for the shared MLP; 7 discrete actions; navix's 100-step limit,
applied by `envs.core.Env` as truncation. We step navix's `_step` (its public `step` auto-resets
on the *next* call, one step late for our interface) and read termination from the timestep's
step type, so navix's own truncation is not mistaken for termination.
"""
from __future__ import annotations

import math

import jax.numpy as jnp

from eggroll_bench.envs.spec import Discrete, EnvSpec

_TERMINATION = 2  # navix StepType: 0 transition, 1 truncation, 2 termination


class NavixEnv:
    def __init__(self, env_id: str):
        import navix

        self._env = navix.make(env_id)
        obs_shape = tuple(int(d) for d in self._env.observation_space.shape)
        self.spec = EnvSpec(
            name=env_id,
            obs_shape=(math.prod(obs_shape),),
            action_space=Discrete(int(self._env.action_space.maximum) + 1),
            max_steps=int(self._env.max_steps),
        )

    def reset(self, key):
        timestep = self._env.reset(key)
        return timestep.observation.astype(jnp.float32).reshape(-1), timestep

    def step(self, key, state, action):
        del key  # navix keeps its own key in the state for stochastic dynamics
        timestep = self._env._step(state, action)
        obs = timestep.observation.astype(jnp.float32).reshape(-1)
        return obs, timestep, jnp.asarray(timestep.reward, jnp.float32), timestep.step_type == _TERMINATION
