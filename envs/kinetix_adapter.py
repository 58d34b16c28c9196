"""Kinetix tasks (named hand-designed levels, e.g. "m/h17_thrustcontrol_left") as RawEnvs.

Each task is one level loaded from Kinetix's bundled JSON files, always reset to its start
state. Observations: Kinetix's flat symbolic vector (`symbolic_flat`, the MLP-friendly choice);
actions: its continuous action space (one value in [-1, 1] per motor and thruster binding,
thrusters clipped to [0, 1] by Kinetix), so the diagonal-Gaussian head applies.

Kinetix's reward is +1 for reaching the goal, -1 for touching a forbidden shape (both end the
episode), plus a dense shaping term for moving the goal shapes closer (`dense_reward_scale`
0.1, Kinetix's default). Kinetix also ends an episode at `max_timesteps` (256): that is a time
limit, so `terminated` excludes it and `envs.core.Env` applies the same limit as truncation.
(A goal reached on exactly the 256th step therefore counts as truncated: bootstrapped once.)
"""
from __future__ import annotations

import jax.numpy as jnp

from eggroll_bench.envs.spec import Box, EnvSpec


class KinetixEnv:
    def __init__(self, level: str):
        from kinetix.environment import make_kinetix_env
        from kinetix.environment.spaces import ActionType, ObservationType
        from kinetix.util.saving import load_from_json_file

        start, static_params, params = load_from_json_file(level)
        self._params = params
        self._env = make_kinetix_env(ActionType.CONTINUOUS, ObservationType.SYMBOLIC_FLAT, lambda key: start,
                                     params, static_params, auto_reset=False)
        action_space = self._env.action_type.action_space(params)
        self.spec = EnvSpec(
            name=level,
            obs_shape=tuple(int(d) for d in self._env.observation_type.observation_space(params).shape),
            action_space=Box(tuple(int(d) for d in action_space.shape), -1.0, 1.0),
            max_steps=int(params.max_timesteps),
        )

    def reset(self, key):
        obs, state = self._env.reset_env(key, self._params, None)
        return obs.astype(jnp.float32), state

    def step(self, key, state, action):
        action = jnp.clip(action, -1.0, 1.0)
        obs, state, reward, done, _ = self._env.step_env(key, state, action, self._params)
        terminated = jnp.logical_and(done, state.timestep < self._params.max_timesteps)
        return obs.astype(jnp.float32), state, jnp.asarray(reward, jnp.float32), terminated
