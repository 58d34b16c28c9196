"""brax tasks as RawEnvs.

Backend: `positional` by default (the PureJaxRL/EGGROLL-era choice: fast to compile and step
on both CPU and GPU); a registration may choose `spring`, `generalized` or `mjx`. brax's
unwrapped `env.step` neither resets nor truncates, which is what `envs.core.Env` expects; the
episode limit (1000 steps, brax's training default) is applied there. Actions are clipped to
[-1, 1], brax's action bounds for every bundled task.

Auto-reset follows brax's own `AutoResetWrapper` (which PureJaxRL and brax's trainers use): an
environment whose episode ended restarts from the first state of its episode rather than
calling `reset` again, which would run brax's `pipeline_init` inside every step (measured on
hopper: +5 s of compile, and its cost on every step at run time). Fresh starts still come from
`reset(key)`, which every ES generation and evaluation calls with new keys.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from eggroll_bench.envs.core import import_chatter_to_stderr
from eggroll_bench.envs.spec import Box, EnvSpec

BRAX_EPISODE_LENGTH = 1000


class BraxEnv:
    def __init__(self, env_id: str, backend: str = "positional", max_steps: int = BRAX_EPISODE_LENGTH):
        with import_chatter_to_stderr():
            from brax import envs as brax_envs

        self._env = brax_envs.get_environment(env_id, backend=backend)
        self.backend = backend
        # brax's `observation_size` runs `reset` eagerly, op by op (8-15 s a task on a 2-core CPU);
        # tracing it for the shape costs under a second
        obs = jax.eval_shape(self._env.reset, jax.random.PRNGKey(0)).obs
        self.spec = EnvSpec(
            name=env_id,
            obs_shape=tuple(int(d) for d in obs.shape),
            action_space=Box((int(self._env.action_size),), -1.0, 1.0),
            max_steps=max_steps,
        )

    def reset(self, key):
        state = self._env.reset(key)
        return state.obs, (state, state)  # (current state, the episode's first state)

    def auto_reset(self, key, state):
        del key
        first = state[1]
        return first.obs, (first, first)

    def step(self, key, state, action):
        del key  # brax dynamics are deterministic given the state
        action = jnp.clip(action, -1.0, 1.0)
        current = self._env.step(state[0], action)
        return current.obs, (current, state[1]), current.reward, current.done > 0.5
