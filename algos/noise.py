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
import numpy as np
from flax import traverse_util
from jax.extend.random import threefry2x32_p

from eggroll_bench.algos.config import ConfigError

Params = Any


def member_key(base_key: jax.Array, leaf: int, generation: jax.Array, member: jax.Array, antithetic: bool):
    """The counter-based key of (leaf, generation, member) and the member's sign."""
    pair = member // 2 if antithetic else member
    key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(base_key, leaf), generation), pair)
    sign = jnp.where(antithetic & (member % 2 == 1), -1.0, 1.0)
    return key, sign


def _draw_keys(base_key: jax.Array, generation: jax.Array, leaves: int, draws: int) -> jax.Array:
    """(leaves, draws, 2): fold_in(fold_in(fold_in(base_key, j), generation), d), each stage one
    vmapped fold_in (a single batched hash) over every leaf j and draw d."""
    fold = jax.vmap(jax.random.fold_in, in_axes=(0, None))
    per_leaf = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(base_key, jnp.arange(leaves))
    per_generation = fold(per_leaf, generation)
    return jax.vmap(jax.vmap(jax.random.fold_in, in_axes=(None, 0)), in_axes=(0, None))(
        per_generation, jnp.arange(draws))


def _antithetic(noise: Any) -> Any:
    """Members 2d and 2d+1 from draw d: +ε and −ε (EGGROLL: ±A, B shared), interleaved on axis 0."""
    if isinstance(noise, dict):
        return {"A": _antithetic(noise["A"]), "B": jnp.repeat(noise["B"], 2, axis=0)}
    return jnp.stack([noise, -noise], axis=1).reshape((-1,) + noise.shape[1:])


def _normal_leaves(keys: jax.Array, leaves: list[jax.Array | jax.ShapeDtypeStruct]) -> list[jax.Array]:
    """`jax.random.normal(keys[j, d], leaves[j].shape)` for every leaf j and draw d, bit for bit,
    from one threefry hash over all of them.

    With the package's PRNG setting (threefry_partitionable off, see eggroll_bench/__init__.py),
    jax draws n numbers from key k by hashing the counters 0..n-1 (padded with a 0 to even length)
    as two halves, (x0, x1) = (c[:h], c[h:]) with h = ⌈n/2⌉, and concatenating the two output
    words; bits become a uniform in (-1, 1) (23 mantissa bits under the exponent of 1.0), then
    √2·erfinv. Here every leaf's halves sit side by side, each element with its own leaf's key,
    in one hash, and the uniform and erfinv run once on the reassembled draws. Other settings or
    dtypes take jax.random.normal per leaf."""
    if jax.config.jax_threefry_partitionable or any(leaf.dtype != jnp.float32 for leaf in leaves):
        return [jax.vmap(lambda k, leaf=leaf: jax.random.normal(k, leaf.shape, leaf.dtype))(keys[j])
                for j, leaf in enumerate(leaves)]
    sizes = [leaf.size for leaf in leaves]
    halves = [(n + 1) // 2 for n in sizes]
    draws = keys.shape[1]

    def per_leaf(values):  # (draws, Σ halves): value j repeated over leaf j's half
        return jnp.concatenate([jnp.broadcast_to(v, (draws, h)) for v, h in zip(values, halves)], axis=1)

    x0 = np.concatenate([np.arange(h, dtype=np.uint32) for h in halves])
    x1 = np.concatenate([np.append(np.arange(h, n, dtype=np.uint32), np.uint32(0))[:h]
                         for n, h in zip(sizes, halves)])
    k1 = per_leaf([keys[j, :, :1] for j in range(len(sizes))])
    k2 = per_leaf([keys[j, :, 1:] for j in range(len(sizes))])
    o0, o1 = threefry2x32_p.bind(k1, k2, jnp.broadcast_to(x0, k1.shape), jnp.broadcast_to(x1, k1.shape))
    starts = np.concatenate([[0], np.cumsum(halves)])
    bits = jnp.concatenate([part for j, n in enumerate(sizes)
                            for part in (o0[:, starts[j]:starts[j + 1]], o1[:, starts[j]:starts[j] + n - halves[j]])],
                           axis=1)
    lo = np.nextafter(np.float32(-1.0), np.float32(0.0))  # jax.random.normal's lower bound
    # One materialised draw, computed in a loop over batches of draws: XLA does not fuse across a
    # loop's boundary. Written as one elementwise expression, XLA:CPU keeps only its expensive log
    # and sqrt and copies erfinv's polynomial into every consumer (each leaf's member weights and
    # gradient input), a dozen large kernels for LLVM to compile. (An optimization_barrier does not
    # stop this: XLA:CPU expands barriers before fusing.)
    def to_normal(row_bits):
        floats = jax.lax.bitcast_convert_type((row_bits >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32) - 1.0
        uniform = jnp.maximum(lo, floats * (np.float32(1.0) - lo) + lo)
        return np.float32(np.sqrt(2)) * jax.lax.erf_inv(uniform)

    # Two iterations suffice to keep the loop (XLA inlines a loop of one: 14 erfinv kernels again
    # for test_es_maths' 2-layer actor); few iterations keep an accelerator from launching one
    # small kernel per draw. Batches divide the draws exactly: a remainder would be computed
    # outside the loop, and copied into consumers again.
    trips = next((k for k in range(2, draws + 1) if draws % k == 0), 1)
    normal = jax.lax.map(to_normal, bits, batch_size=draws // trips)
    splits = np.cumsum(sizes)[:-1]
    return [part.reshape((draws,) + leaf.shape) for part, leaf in zip(jnp.split(normal, splits, axis=1), leaves)]


def is_matrix(path: tuple[str, ...], leaf: jax.Array) -> bool:
    return path[-1] == "kernel" and leaf.ndim == 2


def _centered_rank(fitness: jax.Array) -> jax.Array:
    """Ranks mapped to [-0.5, 0.5] as rank/(N−1) − 0.5; tied members share the average of their
    ranks, so an all-tied population shapes to exactly zero (the zero update), not to weights that
    depend on member order. One sort and two sorted searches: O(N log N), jit/vmap friendly.
    Untied fitness gets integer ranks, bit-identical to a double argsort. NaN ranks worst.
    The searches use `method="sort"`: the default binary search is a while loop per call site,
    which XLA:CPU compiles as a loop of its own (about 0.3 s of an ES trial's compile); the indices
    are the same integers either way."""
    n = fitness.shape[0]
    fitness = jnp.where(jnp.isnan(fitness), -jnp.inf, fitness)  # NaN would break the sort order
    ordered = jnp.sort(fitness)
    left = jnp.searchsorted(ordered, fitness, side="left", method="sort")
    right = jnp.searchsorted(ordered, fitness, side="right", method="sort")
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
    def draw_leaves(self, keys: jax.Array, flat: list[tuple[tuple[str, ...], jax.Array]]) -> list[Any]:
        """Each leaf's noise for every draw, from its keys (leaves, draws, 2), stacked on axis 0."""
        raise NotImplementedError

    def leaf_gradient(self, path, leaf, noise, weights: jax.Array) -> jax.Array:
        """Σ_i weights_i · (noise of member i, as a perturbation of `leaf`)."""
        raise NotImplementedError

    # --- shared machinery ---------------------------------------------------------------------
    def sample(self, base_key: jax.Array, generation: jax.Array, params: Params) -> dict:
        """Noise of every member for every leaf: {path: per-member noise stacked on axis 0}.

        The same numbers as drawing each (leaf, member) alone from `member_key`, computed with few
        hashes: every fold_in stage runs for all leaves and members at once, an antithetic pair
        draws once (its odd member takes the negation), and `draw_leaves` draws all leaves in one
        hash. On XLA:CPU each threefry hash is a loop of its own: one per leaf, member stage
        and draw made the noise more than half of an OpenES generation's compile time.
        """
        flat = sorted(traverse_util.flatten_dict(params).items())
        draws = self.pop_size // 2 if self.antithetic else self.pop_size
        keys = _draw_keys(base_key, generation, len(flat), draws)  # (leaves, draws, 2)
        noise = self.draw_leaves(keys, flat)
        return {path: _antithetic(n) if self.antithetic else n for (path, _), n in zip(flat, noise)}

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
        """One leaf's ε from its key alone: what `draw_leaves` gives for every key (benchmarks that
        perturb a single matrix draw with this)."""
        return jax.random.normal(key, leaf.shape, leaf.dtype)

    def draw_leaves(self, keys, flat):
        return _normal_leaves(keys, [leaf for _, leaf in flat])

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

    def draw_leaves(self, keys, flat):
        """Per key: a matrix (n × m) gets A = normal(key_a, (m, r)) and B = normal(key_b, (n, r)) with
        key_a, key_b = split(key); a vector gets normal(key, shape). Computed with one split hash for
        every matrix key and one `_normal_leaves` hash for every A, B and vector: drawn leaf by leaf,
        the hashes and the copies of erfinv's polynomial they brought made the noise most of an
        EGGROLL generation's compile (23 loops and 36 erfinv kernels at 128 members, 3 x 64)."""
        matrices = [j for j, (path, leaf) in enumerate(flat) if is_matrix(path, leaf)]
        # {leaf index: (draws, 2, 2)}: jax.random.split of each of its keys into (key_a, key_b)
        pairs = dict(zip(matrices, jax.vmap(jax.vmap(jax.random.split))(keys[np.asarray(matrices)]))) \
            if matrices else {}
        sub_keys, shapes = [], []
        for j, (path, leaf) in enumerate(flat):
            if j in pairs:
                n_in, m_out = leaf.shape
                pair = pairs[j]
                sub_keys += [pair[:, 0], pair[:, 1]]
                shapes += [jax.ShapeDtypeStruct((m_out, self.rank), leaf.dtype),
                           jax.ShapeDtypeStruct((n_in, self.rank), leaf.dtype)]
            else:
                sub_keys.append(keys[j])
                shapes.append(jax.ShapeDtypeStruct(leaf.shape, leaf.dtype))
        normals = iter(_normal_leaves(jnp.stack(sub_keys), shapes))
        return [{"A": next(normals), "B": next(normals)} if j in pairs else next(normals)
                for j in range(len(flat))]

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

