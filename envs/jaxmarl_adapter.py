"""jaxmarl tasks as RawEnvs with agents stacked on a leading axis.

jaxmarl speaks per-agent dicts; we stack them in `env.agents` order so one shared policy can be
applied to every agent at once. Where agents differ (MPE speaker-listener: observations of 3 vs
11, actions 3 vs 5), observations are zero-padded at the end to the largest size and the action
space is the largest Discrete; `spec.valid_actions` says how many actions each agent really has,
and policies mask logits beyond that, so a padded action is never chosen. Only discrete action
spaces are supported (the MPE tasks of the `marl` suite are discrete).

We call `step_env` (no reset) and leave resets and the time limit to `envs.core.Env`; MPE
episodes end only by the time limit, which therefore shows up as `truncated`.
"""
from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp

from eggroll_bench.envs.core import import_chatter_to_stderr
from eggroll_bench.envs.deferred_imports import import_past_package_inits
from eggroll_bench.envs.spec import Discrete, EnvSpec

# jaxmarl ids built from jaxmarl.environments.mpe alone, and the class `jaxmarl.make` builds for
# each (a test checks that both agree): importing the mpe package takes 0.5 s, `import jaxmarl` 3.2 s.
MPE_CLASSES = {
    "MPE_simple_v3": "SimpleMPE",
    "MPE_simple_tag_v3": "SimpleTagMPE",
    "MPE_simple_world_comm_v3": "SimpleWorldCommMPE",
    "MPE_simple_spread_v3": "SimpleSpreadMPE",
    "MPE_simple_crypto_v3": "SimpleCryptoMPE",
    "MPE_simple_speaker_listener_v4": "SimpleSpeakerListenerMPE",
    "MPE_simple_push_v3": "SimplePushMPE",
    "MPE_simple_adversary_v3": "SimpleAdversaryMPE",
    "MPE_simple_reference_v3": "SimpleReferenceMPE",
}


@lru_cache(maxsize=None)
def _mpe_package():
    """jaxmarl.environments.mpe, imported once per process (so its classes stay the same objects)."""
    return import_past_package_inits("jaxmarl.environments.mpe", ("jaxmarl", "jaxmarl.environments"))


def make_jaxmarl(env_id: str, **kwargs):
    """The jaxmarl environment `env_id`, as `jaxmarl.make` builds it."""
    if env_id in MPE_CLASSES:
        return getattr(_mpe_package(), MPE_CLASSES[env_id])(**kwargs)
    with import_chatter_to_stderr():  # jaxmarl reports which optional environments it found
        import jaxmarl

        return jaxmarl.make(env_id, **kwargs)


class JaxMARLEnv:
    def __init__(self, env_id: str, **kwargs):
        self._env = make_jaxmarl(env_id, **kwargs)
        self.agents = tuple(self._env.agents)
        obs_sizes, n_actions = [], []
        for agent in self.agents:
            obs_space, act_space = self._env.observation_space(agent), self._env.action_space(agent)
            if len(obs_space.shape) != 1:
                raise ValueError(f"{env_id}: agent {agent!r} has observation shape {obs_space.shape}; "
                                 "only flat (vector) observations can be stacked across agents")
            if not hasattr(act_space, "n"):
                raise ValueError(f"{env_id}: agent {agent!r} has a {type(act_space).__name__} action space; "
                                 "only Discrete action spaces can be padded and shared across agents")
            obs_sizes.append(int(obs_space.shape[0]))
            n_actions.append(int(act_space.n))
        self._obs_sizes = tuple(obs_sizes)
        self._obs_dim = max(obs_sizes)
        uniform_actions = len(set(n_actions)) == 1
        self.spec = EnvSpec(
            name=env_id,
            obs_shape=(self._obs_dim,),
            action_space=Discrete(max(n_actions)),
            max_steps=int(getattr(self._env, "max_steps", 25)),
            num_agents=len(self.agents),
            agent_names=self.agents,
            valid_actions=() if uniform_actions else tuple(n_actions),
        )

    @property
    def is_mpe(self) -> bool:
        """Whether this is one of jaxmarl's MPE tasks (a `SimpleMPE`), told by the class's name and
        module: an MPE class imported past jaxmarl's package `__init__` is not the class object that
        a later `import jaxmarl` makes."""
        return any(c.__name__ == "SimpleMPE" and c.__module__ == "jaxmarl.environments.mpe.simple"
                   for c in type(self._env).__mro__)

    def stack(self, per_agent: dict) -> jax.Array:
        """Per-agent dict -> array stacked on axis 0 (observations zero-padded to the largest)."""
        rows = []
        for agent, size in zip(self.agents, self._obs_sizes):
            x = jnp.asarray(per_agent[agent], jnp.float32)
            if x.ndim == 1 and size < self._obs_dim:
                x = jnp.pad(x, (0, self._obs_dim - size))
            rows.append(x)
        return jnp.stack(rows)

    def unstack(self, stacked: jax.Array) -> dict:
        """Array stacked on axis 0 -> per-agent dict (the inverse of `stack` for actions)."""
        return {agent: stacked[i] for i, agent in enumerate(self.agents)}

    def reset(self, key):
        obs, state = self._env.reset(key)
        return self.stack(obs), state

    def step(self, key, state, action):
        if self.spec.valid_actions:  # a padded action never reaches jaxmarl
            action = jnp.minimum(action, jnp.asarray(self.spec.valid_actions) - 1)
        obs, state, rewards, dones, _ = self._env.step_env(key, state, self.unstack(action))
        reward = jnp.stack([jnp.asarray(rewards[a], jnp.float32) for a in self.agents])
        # Every MPE episode ends by the time limit, which envs.core.Env reports as truncation;
        # an environment-side end before the limit is a true termination.
        steps_taken = getattr(state, "step", None)
        terminated = dones["__all__"]
        if steps_taken is not None:
            terminated = jnp.logical_and(terminated, steps_taken < self.spec.max_steps)
        return self.stack(obs), state, reward, terminated
