"""The one policy network (flax), shared by EGGROLL, OpenES and PPO.

`Linear` is a dense layer (kernel stored (in, out), so y = x Wᵀ + b with W = kernelᵀ of shape
out m × in n) that also accepts an EGGROLL low-rank perturbation through the flax variable
collection "lowrank": when `{"A": (m, r), "B": (n, r)}` is present it adds (x B) Aᵀ, where A
already carries the σ/√r scale and the antithetic sign. The m × n perturbation is never built:
the extra cost per call is O(r (m + n)) per input row.

Heads: a categorical head (logits) for Discrete tasks, a diagonal Gaussian (mean, state-
independent log-std parameter) for Box tasks. `ActorCritic` adds a separate critic MLP (PPO).
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from eggroll_bench.algos.config import ConfigError
from eggroll_bench.envs.spec import EnvSpec


def orthogonal(scale: float = 1.0) -> Callable:
    """Flax's orthogonal initializer, computed without LAPACK.

    Same draw and same result as `nn.initializers.orthogonal` (Q of the QR of a Gaussian matrix,
    signs fixed so R has a positive diagonal), but Q comes from Gram-Schmidt with
    re-orthogonalisation in plain jnp. Why: on CPU, jaxlib 0.10.2 runs batched LAPACK calls
    (here: the QR of every layer, vmapped over seeds) on XLA's intra-op thread pool and blocks
    waiting for their sub-tasks; when as many QRs run at once as the pool has threads, the pool
    deadlocks (we saw trials hang in their init with every thread parked in ParallelBatchMap).
    """

    def init(key: jax.Array, shape: tuple, dtype=jnp.float32) -> jax.Array:
        rows, cols = math.prod(shape[:-1]), shape[-1]
        tall = (max(rows, cols), min(rows, cols))
        a = jax.random.normal(key, tall, dtype)

        def column(j, q):
            v = a[:, j]
            for _ in range(2):  # twice is enough (Giraud et al. 2005, "CGS2")
                v = v - q @ (q.T @ v)  # columns >= j of q are still zero
            return q.at[:, j].set(v / jnp.linalg.norm(v))

        q = jax.lax.fori_loop(0, tall[1], column, jnp.zeros(tall, dtype))
        if rows < cols:
            q = q.T
        return scale * q.reshape(shape)

    return init


class Linear(nn.Module):
    features: int
    kernel_scale: float = 1.4142135623730951  # orthogonal init gain (√2, PureJaxRL)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", orthogonal(self.kernel_scale), (x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        y = x @ kernel + bias
        if self.has_variable("lowrank", "A"):
            a = self.get_variable("lowrank", "A")  # (m, r), scaled by ±σ/√r
            b = self.get_variable("lowrank", "B")  # (n, r)
            y = y + (x @ b) @ a.T
        return y


def activation_fn(name: str) -> Callable[[jax.Array], jax.Array]:
    return {"tanh": jnp.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}[name]


class MLP(nn.Module):
    """`depth` hidden layers of `hidden` units, then a linear output of `out` units.

    activation "pqn" is the paper's: LayerNorm then ReLU after each hidden layer.
    """

    hidden: int
    depth: int
    out: int
    activation: str
    out_scale: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for _ in range(self.depth):
            x = Linear(self.hidden)(x)
            if self.activation == "pqn":
                x = nn.relu(nn.LayerNorm()(x))
            else:
                x = activation_fn(self.activation)(x)
        return Linear(self.out, kernel_scale=self.out_scale)(x)


class Actor(nn.Module):
    """Action-distribution parameters: logits (discrete) or (mean, log_std) (continuous).

    `mask_size` > 0: the last `mask_size` inputs are the task's valid-action mask
    (`EnvSpec.action_mask`); invalid actions get logit -1e9, so sampling, argmax, log-probs and
    entropies all see the masked distribution. Masking here rather than in `PolicyHead` keeps
    PPO's stored log-probs and its loss on the same distribution without carrying masks around.
    """

    action_dim: int
    discrete: bool
    hidden: int
    depth: int
    activation: str
    mask_size: int = 0  # trailing observation entries that are the valid-action mask (EnvSpec.mask_size)
    log_std: str = "param"  # continuous actions: LOG_STDS

    @nn.compact
    def __call__(self, obs: jax.Array):
        if not self.discrete and self.log_std == "state":  # the last layer also outputs the log-std
            out = MLP(self.hidden, self.depth, 2 * self.action_dim, self.activation, out_scale=0.01, name="pi")(obs)
            return out[..., :self.action_dim], out[..., self.action_dim:]
        out = MLP(self.hidden, self.depth, self.action_dim, self.activation, out_scale=0.01, name="pi")(obs)
        if self.discrete:
            if self.mask_size:
                valid = obs[..., -self.mask_size:] > 0.5
                valid = jnp.logical_or(valid, jnp.logical_not(valid.any(-1, keepdims=True)))  # none valid: no mask
                out = jnp.where(valid, out, -1e9)
            return out
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        return out, jnp.broadcast_to(log_std, out.shape)


class ActorCritic(nn.Module):
    """PPO's network: the same Actor plus a separate critic MLP (PureJaxRL layout)."""

    action_dim: int
    discrete: bool
    hidden: int
    depth: int
    activation: str
    mask_size: int = 0  # trailing observation entries that are the valid-action mask (EnvSpec.mask_size)
    log_std: str = "param"  # continuous actions: LOG_STDS

    @nn.compact
    def __call__(self, obs: jax.Array):
        dist = Actor(self.action_dim, self.discrete, self.hidden, self.depth, self.activation, self.mask_size,
                     self.log_std, name="actor")(obs)
        value = MLP(self.hidden, self.depth, 1, self.activation, out_scale=1.0, name="critic")(obs)
        return dist, value.squeeze(-1)


@dataclass(frozen=True)
class PolicyHead:
    """Turns network outputs into actions, log-probs and entropies for one task's action space.
    `log_std` is the config's choice of Gaussian std (`LOG_STDS`); a discrete task refuses "state"."""

    spec: EnvSpec
    log_std: str = "param"

    def __post_init__(self) -> None:
        if self.spec.discrete and self.log_std != "param":
            raise ConfigError(f"log_std={self.log_std!r}: {self.spec.name} has discrete actions, whose policy has "
                              f"no standard deviation to output; allowed there: 'param' (the default)")

    @property
    def action_dim(self) -> int:
        return self.spec.action_space.n if self.spec.discrete else int(self.spec.action_space.shape[0])

    def mask(self, logits: jax.Array) -> jax.Array:
        """Multi-agent tasks with padded action spaces: forbid each agent's padded actions."""
        if not self.spec.valid_actions:
            return logits
        valid = jnp.arange(self.action_dim) < jnp.asarray(self.spec.valid_actions)[:, None]  # (agents, n)
        return jnp.where(valid, logits, -1e9)

    def sample(self, out: Any, key: jax.Array, deterministic: bool) -> jax.Array:
        if self.spec.discrete:
            logits = self.mask(out)
            if deterministic:
                return jnp.argmax(logits, axis=-1).astype(jnp.int32)
            return jax.random.categorical(key, logits).astype(jnp.int32)
        mean, log_std = out
        if deterministic:
            return mean
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)

    def log_prob(self, out: Any, action: jax.Array) -> jax.Array:
        if self.spec.discrete:
            logp = jax.nn.log_softmax(self.mask(out), axis=-1)
            return jnp.take_along_axis(logp, action[..., None], axis=-1).squeeze(-1)
        mean, log_std = out
        z = (action - mean) / jnp.exp(log_std)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)

    def entropy(self, out: Any) -> jax.Array:
        if self.spec.discrete:
            logp = jax.nn.log_softmax(self.mask(out), axis=-1)
            return -jnp.sum(jnp.where(logp > -1e8, jnp.exp(logp) * logp, 0.0), axis=-1)
        _, log_std = out
        return jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e), axis=-1)


def input_dim(spec: EnvSpec, agent_id: bool) -> int:
    """Flat observation size the network sees (plus the one-hot agent id when enabled)."""
    size = 1
    for d in spec.obs_shape:
        size *= d
    return size + (spec.num_agents if agent_id and spec.multi_agent else 0)
