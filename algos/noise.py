"""ES noise structures: the one place where EGGROLL and OpenES differ.

Both use the same counter-based keys, so noise is never stored between calls: the noise of
member i at generation g for parameter leaf j is drawn from

    fold_in(fold_in(fold_in(base_key, j), g), i // 2)     (antithetic; i without pairing)

with sign +1 for even i and -1 for odd i (antithetic pairs ±ε). Within one generation the noise
is drawn once, used by every rollout step and by the update's gradient, and then dropped: nothing
is carried to the next generation. What one draw holds: O(N·r·(m+n)) per matrix for EGGROLL, the
full O(N·m·n) for OpenES.

Conventions: a flax kernel is stored (in n, out m), i.e. it is Wᵀ for W of shape m × n.
- OpenES:  member i uses θ + σ ε_i for every leaf; g = 1/(Nσ) Σ_i f_i ε_i.
- EGGROLL: matrices get E_i = A_i B_iᵀ/√r (A: m × r, B: n × r), applied in the forward as
  (σ/√r)(x B_i) A_iᵀ without building E_i; vectors get plain Gaussian noise as in OpenES.
  g_W = 1/(Nσ√r) Σ_i f_i A_i B_iᵀ — one einsum — and vectors as OpenES.
  (The paper writes EGGROLL's update without the 1/σ; we keep the 1/σ for both algorithms so
  that their updates have the same scale and EGGROLL → OpenES as r grows. It is a constant
  factor, absorbed by Adam and by the learning rate under SGD.)
`f` is the shaped fitness (see `shape_fitness`); the optimiser is given −g (it minimises).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import traverse_util

from eggroll_bench.algos.config import ConfigError

Params = Any


def member_key(base_key: jax.Array, leaf: int, generation: jax.Array, member: jax.Array, antithetic: bool):
    """The counter-based key of (leaf, generation, member) and the member's sign."""
    pair = member // 2 if antithetic else member
    key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(base_key, leaf), generation), pair)
    sign = jnp.where(antithetic & (member % 2 == 1), -1.0, 1.0)
    return key, sign


def is_matrix(path: tuple[str, ...], leaf: jax.Array) -> bool:
    return path[-1] == "kernel" and leaf.ndim == 2


def _centered_rank(fitness: jax.Array) -> jax.Array:
    """Ranks mapped to [-0.5, 0.5] as rank/(N−1) − 0.5; tied members share the average of their
    ranks, so an all-tied population shapes to exactly zero (the zero update), not to weights that
    depend on member order. One sort and two binary searches: O(N log N), jit/vmap friendly.
    Untied fitness gets integer ranks, bit-identical to a double argsort. NaN ranks worst."""
    n = fitness.shape[0]
    fitness = jnp.where(jnp.isnan(fitness), -jnp.inf, fitness)  # NaN would break the sort order
    ordered = jnp.sort(fitness)
    left = jnp.searchsorted(ordered, fitness, side="left")
    right = jnp.searchsorted(ordered, fitness, side="right")
    ranks = (left + right - 1).astype(jnp.float32) / 2  # mean of ranks left .. right−1, exact
    return ranks / (n - 1) - 0.5


def _zscore(fitness: jax.Array) -> jax.Array:
    """(f − mean)/std, centred on f_0 first: equal fitness then gives exactly 0 rather than the
    ±1 that the rounding error of the mean, divided by an equally tiny std, would give."""
    d = fitness - fitness[0]
    d = d - d.mean()
    return d / (jnp.sqrt(jnp.mean(d**2)) + 1e-8)


FITNESS_SHAPING = {"centered_rank": _centered_rank, "zscore": _zscore, "none": lambda fitness: fitness}


def shape_fitness(fitness: jax.Array, method: str) -> jax.Array:
    """Shape a population's fitness (N,) with one of `FITNESS_SHAPING`: centered_rank (ranks in
    [-0.5, 0.5], ties averaged), zscore ((f − mean)/std) or none (f)."""
    if method not in FITNESS_SHAPING:
        raise ConfigError(f"fitness_shaping: unknown method {method!r}; allowed: {', '.join(sorted(FITNESS_SHAPING))}")
    return FITNESS_SHAPING[method](fitness)


@dataclass(frozen=True)
class NoiseModel:
    """Draws population noise, builds members' variables, and estimates the gradient."""

    pop_size: int
    antithetic: bool

    # --- what subclasses define ---------------------------------------------------------------
    def leaf_noise(self, key: jax.Array, path: tuple[str, ...], leaf: jax.Array) -> Any:
        raise NotImplementedError

    def leaf_gradient(self, path, leaf, noise, weights: jax.Array) -> jax.Array:
        """Σ_i weights_i · (noise of member i, as a perturbation of `leaf`)."""
        raise NotImplementedError

    # --- shared machinery ---------------------------------------------------------------------
    def sample(self, base_key: jax.Array, generation: jax.Array, params: Params) -> dict:
        """Noise of every member for every leaf: {path: per-member noise stacked on axis 0}."""
        flat = traverse_util.flatten_dict(params)
        members = jnp.arange(self.pop_size)
        out = {}
        for j, (path, leaf) in enumerate(sorted(flat.items())):
            def one(i, path=path, leaf=leaf, j=j):
                key, sign = member_key(base_key, j, generation, i, self.antithetic)
                noise = self.leaf_noise(key, path, leaf)
                return jax.tree.map(lambda x: x * sign, noise) if not isinstance(noise, dict) else \
                    {**noise, "A": noise["A"] * sign}
            out[path] = jax.vmap(one)(members)
        return out

    def gradient(self, params: Params, noise: dict, shaped_fitness: jax.Array, sigma: jax.Array) -> Params:
        """The ES gradient estimate g (ascent direction), a pytree like `params`."""
        weights = shaped_fitness / (self.pop_size * sigma)
        flat = traverse_util.flatten_dict(params)
        grads = {path: self.leaf_gradient(path, leaf, noise[path], weights) for path, leaf in flat.items()}
        return traverse_util.unflatten_dict(grads)

    def member_variables(self, params: Params, noise: dict, sigma: jax.Array) -> tuple[dict, dict]:
        """flax variables of every member, and the vmap in_axes that say which are per-member."""
        raise NotImplementedError

    def check(self, params: Params, config: Any) -> None:
        """Refuse, before compiling, a noise setting that means nothing for these parameter shapes."""


def _perturb_vector(leaf, noise, sigma):
    return leaf[None] + sigma * noise  # (N, *leaf.shape)


@dataclass(frozen=True)
class FullRankNoise(NoiseModel):
    """OpenES: ε_i ~ N(0, I) over all parameters; members' parameters are materialised."""

    def leaf_noise(self, key, path, leaf):
        return jax.random.normal(key, leaf.shape, leaf.dtype)

    def leaf_gradient(self, path, leaf, noise, weights):
        return jnp.tensordot(weights, noise, axes=1)

    def member_variables(self, params, noise, sigma):
        flat = traverse_util.flatten_dict(params)
        members = {p: _perturb_vector(leaf, noise[p], sigma) for p, leaf in flat.items()}
        variables = {"params": traverse_util.unflatten_dict(members)}
        return variables, jax.tree.map(lambda _: 0, variables)


@dataclass(frozen=True)
class LowRankNoise(NoiseModel):
    """EGGROLL: per matrix A_i (m × r), B_i (n × r); E_i = A_i B_iᵀ/√r is never built."""

    rank: int = 1

    def leaf_noise(self, key, path, leaf):
        if not is_matrix(path, leaf):
            return jax.random.normal(key, leaf.shape, leaf.dtype)
        n_in, m_out = leaf.shape
        key_a, key_b = jax.random.split(key)
        return {"A": jax.random.normal(key_a, (m_out, self.rank), leaf.dtype),
                "B": jax.random.normal(key_b, (n_in, self.rank), leaf.dtype)}

    def leaf_gradient(self, path, leaf, noise, weights):
        if not is_matrix(path, leaf):
            return jnp.tensordot(weights, noise, axes=1)
        # kernel layout is Wᵀ (n × m): Σ_i w_i B_i A_iᵀ / √r, one contraction over members and rank
        return jnp.einsum("inr,imr->nm", noise["B"], weights[:, None, None] * noise["A"]) / math.sqrt(self.rank)

    def member_variables(self, params, noise, sigma):
        flat = traverse_util.flatten_dict(params)
        member_params, axes, lowrank = {}, {}, {}
        scale = sigma / math.sqrt(self.rank)
        for path, leaf in flat.items():
            if is_matrix(path, leaf):
                member_params[path], axes[("params",) + path] = leaf, None  # shared by all members
                lowrank[path[:-1] + ("A",)] = scale * noise[path]["A"]
                lowrank[path[:-1] + ("B",)] = noise[path]["B"]
                axes[("lowrank",) + path[:-1] + ("A",)] = 0
                axes[("lowrank",) + path[:-1] + ("B",)] = 0
            else:
                member_params[path], axes[("params",) + path] = _perturb_vector(leaf, noise[path], sigma), 0
        variables = {"params": traverse_util.unflatten_dict(member_params),
                     "lowrank": traverse_util.unflatten_dict(lowrank)}
        return variables, traverse_util.unflatten_dict(axes)

    def check(self, params, config):
        limit = max_rank(params)
        if self.rank > limit:
            raise ConfigError(f"rank={self.rank} exceeds min(m, n)={limit} of every weight matrix of this "
                              f"network (hidden={config.hidden}); allowed: 1..{limit}")


def max_rank(params: Params) -> int:
    """The largest meaningful rank: max over matrices of min(m, n).

    A rank above every matrix's min(m, n) perturbs nothing that a smaller rank could not, and is
    refused. A rank above *some* matrix's min(m, n) (a 4-input first layer, a 2-action head) is
    allowed: A Bᵀ/√r is still an exact perturbation there, merely of rank min(m, n) — which the
    paper's search over r ∈ {1, 2, 4} on 1-action Pendulum relies on.
    """
    flat = traverse_util.flatten_dict(params)
    return max((min(leaf.shape) for path, leaf in flat.items() if is_matrix(path, leaf)), default=0)

