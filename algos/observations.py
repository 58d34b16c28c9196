"""Observation preprocessing shared by all algorithms: running normalisation and agent ids.

Normalisation keeps running mean/variance (parallel Welford merge of batch moments). PPO
updates the statistics from each rollout batch; ES updates them from every observation its
population saw during the generation (live steps only), exactly as Salimans et al. (2017) do.
Evaluation uses the statistics of the policy being evaluated, frozen. With normalisation off the
statistics are carried but neither applied nor updated by ES (its rollout skips the moments).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from eggroll_bench.envs.spec import EnvSpec


class ObsNorm(struct.PyTreeNode):
    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, obs_shape: tuple[int, ...]) -> "ObsNorm":
        return cls(jnp.zeros(obs_shape), jnp.ones(obs_shape), jnp.asarray(1e-4))

    def merge(self, moments: "Moments") -> "ObsNorm":
        """Fold a batch's (count, sum, sum of squares) into the running statistics."""
        n = moments.count
        batch_mean = moments.total / jnp.maximum(n, 1.0)
        batch_var = jnp.maximum(moments.total_sq / jnp.maximum(n, 1.0) - batch_mean**2, 0.0)
        count = self.count + n
        delta = batch_mean - self.mean
        mean = self.mean + delta * n / count
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / count
        return ObsNorm(mean, m2 / count, count)

    def apply(self, obs: jax.Array) -> jax.Array:
        return jnp.clip((obs - self.mean) / jnp.sqrt(self.var + 1e-8), -10.0, 10.0)


class Moments(struct.PyTreeNode):
    count: jax.Array
    total: jax.Array
    total_sq: jax.Array

    @classmethod
    def zeros(cls, obs_shape: tuple[int, ...]) -> "Moments":
        return cls(jnp.zeros(()), jnp.zeros(obs_shape), jnp.zeros(obs_shape))

    def add(self, obs: jax.Array, weight: jax.Array) -> "Moments":
        """Add observations `obs` (..., *obs_shape) weighted by `weight`, which covers a prefix of
        the leading axes (e.g. per environment) and is broadcast over the rest (e.g. agents)."""
        lead = obs.ndim - self.total.ndim
        w = weight.reshape(weight.shape + (1,) * (lead - weight.ndim))
        w = jnp.broadcast_to(w, obs.shape[:lead]).astype(obs.dtype)
        wx = w.reshape(w.shape + (1,) * self.total.ndim)
        axes = tuple(range(lead))
        # Zero-weight observations are selected away, not only multiplied by 0: run_episodes steps an
        # ended environment on from its terminal state, whose observations may overflow (inf · 0 = NaN).
        obs = jnp.where(wx != 0, obs, 0)
        return Moments(self.count + w.sum(), self.total + (wx * obs).sum(axes),
                       self.total_sq + (wx * obs**2).sum(axes))


def preprocess(spec: EnvSpec, norm: ObsNorm, obs: jax.Array, normalize: bool, agent_id: bool) -> jax.Array:
    """What the network sees: (normalised) observation, plus a one-hot agent id if asked."""
    x = norm.apply(obs) if normalize else obs
    if normalize and spec.mask_size:  # the trailing valid-action mask is passed through as 0/1
        x = jnp.concatenate([x[..., :-spec.mask_size], obs[..., -spec.mask_size:]], axis=-1)
    if agent_id and spec.multi_agent:
        ids = jnp.broadcast_to(jnp.eye(spec.num_agents, dtype=x.dtype), x.shape[:-1] + (spec.num_agents,))
        x = jnp.concatenate([x, ids], axis=-1)
    return x
