"""Jumanji tasks (Game2048, Knapsack, Snake) as RawEnvs.

Jumanji observations are named tuples of arrays; we flatten every field except `action_mask` to
float32, in field order, and append the action mask last (1.0 = valid), which the spec declares
(`EnvSpec.action_mask`) so the policy never picks an invalid action and observation
normalisation leaves the mask alone. Snake's `step_count` (0..4000) is divided by its time limit
so it does not dwarf the other inputs.

Jumanji's `step` does not reset. It ends an episode with discount 0 on termination and with
discount 1 on truncation (Snake's 4000-step limit), so `terminated` is "last step and discount
0"; the time limit itself is applied by `envs.core.Env` with the same length. Game2048 has no
limit in Jumanji (an episode ends when the board is full); we cap it at `GAME2048_MAX_STEPS`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from eggroll_bench.envs.spec import Discrete, EnvSpec

GAME2048_MAX_STEPS = 10_000  # a strong 2048 policy needs a few thousand moves to reach 4096


class JumanjiEnv:
    def __init__(self, env_id: str):
        import jumanji

        self._env = jumanji.make(env_id)
        self._scale = {"step_count": 1.0 / self._env.time_limit} if env_id.startswith("Snake") else {}
        n = int(self._env.action_spec.num_values)
        obs = int(self._obs(self._env.observation_spec.generate_value()).shape[0])  # the layout _obs builds
        limit = getattr(self._env, "time_limit", None) or getattr(self._env, "num_items", None) or GAME2048_MAX_STEPS
        self.spec = EnvSpec(name=env_id, obs_shape=(obs,), action_space=Discrete(n), max_steps=int(limit),
                            action_mask=True)

    def _obs(self, observation) -> jax.Array:
        fields = observation._asdict()
        mask = fields.pop("action_mask")
        parts = [jnp.asarray(v, jnp.float32).reshape(-1) * self._scale.get(k, 1.0) for k, v in fields.items()]
        return jnp.concatenate(parts + [mask.astype(jnp.float32).reshape(-1)])

    def reset(self, key):
        state, timestep = self._env.reset(key)
        return self._obs(timestep.observation), state

    def step(self, key, state, action):
        del key  # Jumanji keeps its own key in the state
        state, timestep = self._env.step(state, action)
        terminated = jnp.logical_and(timestep.last(), timestep.discount == 0)
        return self._obs(timestep.observation), state, jnp.asarray(timestep.reward, jnp.float32), terminated
