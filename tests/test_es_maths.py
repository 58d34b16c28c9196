"""EGGROLL and OpenES maths: exact identities where they exist, statistics where they do not."""
from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from eggroll_bench.algos.network import Actor
from eggroll_bench.algos.noise import FullRankNoise, LowRankNoise, is_matrix, shape_fitness

SIGMA = 0.3


def _actor_and_params(hidden=16, depth=2, obs_dim=5, actions=3, activation="tanh"):
    actor = Actor(actions, True, hidden, depth, activation)
    params = actor.init(jax.random.PRNGKey(0), jnp.zeros(obs_dim))["params"]
    return actor, params


def _independent_member_noise(base_key, generation, member, params, rank):
    """Re-derive member i's noise straight from docs/design.md's key recipe, one member at a time;
    rank=None: OpenES's full-rank ε for every leaf."""
    flat = traverse_util.flatten_dict(params)
    sign = -1.0 if member % 2 else 1.0
    out = {}
    for j, (path, leaf) in enumerate(sorted(flat.items())):
        key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(base_key, j), generation), member // 2)
        if rank is not None and is_matrix(path, leaf):
            ka, kb = jax.random.split(key)
            out[path] = (sign * jax.random.normal(ka, (leaf.shape[1], rank)), jax.random.normal(kb, (leaf.shape[0], rank)))
        else:
            out[path] = sign * jax.random.normal(key, leaf.shape)
    return out


@pytest.mark.parametrize("rank", [1, 3])
@pytest.mark.parametrize("activation", ["tanh", "pqn"])
def test_lowrank_forward_equals_materialised_perturbation(rank, activation):
    """x (W + σ A Bᵀ/√r)ᵀ for every member, with A, B regenerated from the counter-based keys."""
    actor, params = _actor_and_params(activation=activation)
    pop, gen, base = 6, 7, jax.random.PRNGKey(11)
    model = LowRankNoise(pop, True, rank)
    noise = model.sample(base, jnp.asarray(gen), params)
    variables, axes = model.member_variables(params, noise, jnp.asarray(SIGMA))
    x = jax.random.normal(jax.random.PRNGKey(1), (pop, 4, 5))
    fast = jax.vmap(actor.apply, in_axes=(axes, 0))(variables, x)
    for i in range(pop):
        member = _independent_member_noise(base, gen, i, params, rank)
        materialised = {}
        for path, leaf in traverse_util.flatten_dict(params).items():
            if is_matrix(path, leaf):
                a, b = member[path]
                e = a @ b.T / math.sqrt(rank)  # E_i (m × n); the kernel is Wᵀ, so add Eᵢᵀ
                materialised[path] = leaf + SIGMA * e.T
            else:
                materialised[path] = leaf + SIGMA * member[path]
        slow = actor.apply({"params": traverse_util.unflatten_dict(materialised)}, x[i])
        np.testing.assert_allclose(fast[i], slow, rtol=2e-5, atol=2e-5)


def test_noise_is_regenerated_identically_and_antithetic():
    _, params = _actor_and_params()
    model = LowRankNoise(8, True, 2)
    a = model.sample(jax.random.PRNGKey(5), jnp.asarray(3), params)
    b = jax.jit(model.sample)(jax.random.PRNGKey(5), jnp.asarray(3), params)
    for path in a:
        jax.tree.map(np.testing.assert_array_equal, a[path], b[path])
    kernel = next(p for p in a if p[-1] == "kernel")
    np.testing.assert_array_equal(a[kernel]["A"][0], -a[kernel]["A"][1])  # ±: sign on A only
    np.testing.assert_array_equal(a[kernel]["B"][0], a[kernel]["B"][1])
    c = model.sample(jax.random.PRNGKey(5), jnp.asarray(4), params)  # next generation: fresh noise
    assert not np.allclose(a[kernel]["A"], c[kernel]["A"])



@pytest.mark.parametrize("model", [FullRankNoise(6, True), FullRankNoise(5, False), LowRankNoise(6, True, 2),
                                   LowRankNoise(3, False, 1)], ids=["openes", "openes-plain", "eggroll", "eggroll-plain"])
def test_noise_is_bit_for_bit_the_key_recipe(model):
    """sample() hashes all leaves and members together, yet each member's noise is exactly what its
    own key (docs/design.md's recipe) draws alone: odd leaf sizes (a 3-wide head) included."""
    _, params = _actor_and_params(hidden=7, actions=3)
    base, gen = jax.random.PRNGKey(21), 4
    noise = jax.jit(model.sample)(base, jnp.asarray(gen), params)
    rank = getattr(model, "rank", None)
    for i in range(model.pop_size):
        pair = i // 2 if model.antithetic else i
        sign = -1.0 if model.antithetic and i % 2 else 1.0
        expected = _independent_member_noise(base, gen, 2 * pair, params, rank)
        for path, value in expected.items():
            if isinstance(value, tuple):
                np.testing.assert_array_equal(noise[path]["A"][i], sign * value[0])
                np.testing.assert_array_equal(noise[path]["B"][i], value[1])
            else:
                np.testing.assert_array_equal(noise[path][i], sign * value)


def test_openes_noise_compiles_few_hashes():
    """On XLA:CPU every threefry hash is a loop to compile: OpenES's noise takes one per fold_in
    stage and one draw, however many leaves the network has (it was four per leaf), plus the one
    loop that turns the bits into normals."""
    _, params = _actor_and_params(depth=4)  # 10 leaves
    model = FullRankNoise(8, True)
    compiled = jax.jit(model.sample).lower(jax.random.PRNGKey(0), jnp.asarray(0), params).compile()
    assert len(traverse_util.flatten_dict(params)) == 10
    assert compiled.as_text().count(" while(") <= 5  # 40 before


@pytest.mark.parametrize("model", [FullRankNoise(8, True), LowRankNoise(8, True, 2)], ids=["openes", "eggroll"])
def test_a_generations_noise_compiles_the_normal_transform_once(model):
    """The members' weights and the gradient of every leaf read one materialised draw: erfinv's
    polynomial is one kernel, not one per leaf and consumer (before: OpenES 14 kernels for this
    2-layer actor; EGGROLL, drawing leaf by leaf, one or more per leaf, A and B)."""
    _, params = _actor_and_params()

    def members_and_gradient(key, params):
        noise = model.sample(key, jnp.asarray(0), params)
        members, _ = model.member_variables(params, noise, jnp.asarray(SIGMA))
        return members, model.gradient(params, noise, jnp.linspace(-0.5, 0.5, 8), jnp.asarray(SIGMA))

    text = jax.jit(members_and_gradient).lower(jax.random.PRNGKey(0), params).compile().as_text()
    kernels = re.split(r"\n(?=\S)", text)  # one computation per block
    assert sum("erf_inv" in k for k in kernels if k.startswith("%fused_computation")) == 1
    assert text.count(" while(") <= 6  # the fold_in stages, EGGROLL's (A, B) split, the draw, the transform


@pytest.mark.parametrize("rank", [1, 4])
def test_lowrank_update_equals_explicit_sum(rank):
    _, params = _actor_and_params()
    pop, sigma = 10, jnp.asarray(SIGMA)
    model = LowRankNoise(pop, True, rank)
    noise = model.sample(jax.random.PRNGKey(2), jnp.asarray(0), params)
    fitness = jax.random.normal(jax.random.PRNGKey(9), (pop,))
    grad = traverse_util.flatten_dict(model.gradient(params, noise, fitness, sigma))
    for path, leaf in traverse_util.flatten_dict(params).items():
        if is_matrix(path, leaf):
            a, b = noise[path]["A"], noise[path]["B"]
            explicit = sum(fitness[i] * a[i] @ b[i].T for i in range(pop)) / (pop * SIGMA * math.sqrt(rank))  # m × n
            np.testing.assert_allclose(grad[path], explicit.T, rtol=1e-4, atol=1e-6)
        else:
            explicit = sum(fitness[i] * noise[path][i] for i in range(pop)) / (pop * SIGMA)
            np.testing.assert_allclose(grad[path], explicit, rtol=1e-4, atol=1e-6)


def test_fullrank_update_is_the_openes_estimate():
    _, params = _actor_and_params()
    pop = 6
    model = FullRankNoise(pop, False)
    noise = model.sample(jax.random.PRNGKey(2), jnp.asarray(0), params)
    fitness = jnp.arange(pop, dtype=jnp.float32)
    grad = traverse_util.flatten_dict(model.gradient(params, noise, fitness, jnp.asarray(SIGMA)))
    for path in grad:
        explicit = sum(fitness[i] * noise[path][i] for i in range(pop)) / (pop * SIGMA)
        np.testing.assert_allclose(grad[path], explicit, rtol=1e-5, atol=1e-6)


def test_fitness_shaping():
    f = jnp.array([3.0, -1.0, 10.0, 0.0, 5.0])
    np.testing.assert_allclose(shape_fitness(f, "centered_rank"), [0.0, -0.5, 0.5, -0.25, 0.25])
    z = shape_fitness(f, "zscore")
    assert abs(float(z.mean())) < 1e-6 and abs(float(z.std()) - 1) < 1e-4
    np.testing.assert_array_equal(shape_fitness(f, "none"), f)


@pytest.mark.parametrize("rank", [1, 2, 8])
def test_lowrank_entries_approach_gaussian_at_rate_one_over_r(rank):
    """Entries of A Bᵀ/√r have variance 1 and kurtosis exactly 3 + 6/r (a Gaussian's is 3)."""
    a = jax.random.normal(jax.random.PRNGKey(0), (400_000, rank))
    b = jax.random.normal(jax.random.PRNGKey(1), (400_000, rank))
    e = np.asarray((a * b).sum(-1) / math.sqrt(rank), np.float64)
    assert abs(e.var() - 1.0) < 0.02
    kurtosis = (e**4).mean() / e.var() ** 2
    # Sampling s.e. of the 4th moment is ~sqrt(E[x^8]/n) <= sqrt(945/4e5) ≈ 0.05 at r = 1.
    assert abs(kurtosis - (3 + 6 / rank)) < 0.25


@pytest.mark.optimized  # its run (many ranks, a large population) outweighs its compile: 9 s optimised, 15 s not
def test_update_direction_converges_to_openes_as_rank_grows():
    """On a quadratic, the mean cosine between the ES update and the true gradient rises with r
    towards OpenES's. Tolerance: 4000 independent generations per estimator give a standard error
    of ~0.0016 on each mean cosine; the r = 1 gap is ~0.018 (> 5 s.e.), the r = 32 gap < 3 s.e."""
    m, n, pop, sigma = 16, 16, 32, 0.1
    target = jax.random.normal(jax.random.PRNGKey(42), (n, m))
    params = {"layer": {"kernel": jnp.zeros((n, m))}}
    true_grad = 2 * target  # ascent direction of -|W - W*|² at W = 0

    def mean_cosine(model):
        def one(key):
            noise = model.sample(key, jnp.asarray(0), params)
            eps = noise[("layer", "kernel")]
            if isinstance(model, LowRankNoise):
                eps = jnp.einsum("inr,imr->inm", eps["B"], eps["A"]) / math.sqrt(model.rank)
            fitness = jax.vmap(lambda e: -jnp.sum((sigma * e - target) ** 2))(eps)
            g = model.gradient(params, noise, shape_fitness(fitness, "none"), jnp.asarray(sigma))["layer"]["kernel"]
            return jnp.sum(g * true_grad) / (jnp.linalg.norm(g) * jnp.linalg.norm(true_grad))

        cos = jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(0), 4000))
        return float(cos.mean()), float(cos.std() / math.sqrt(cos.size))

    full, full_se = mean_cosine(FullRankNoise(pop, True))
    r1, se1 = mean_cosine(LowRankNoise(pop, True, 1))
    r32, se32 = mean_cosine(LowRankNoise(pop, True, 32))
    assert full - r1 > 5 * math.hypot(full_se, se1)
    assert abs(full - r32) < 3 * math.hypot(full_se, se32)
    assert r1 < r32


def _sub_jaxprs(params):
    """Jaxprs nested in an equation's params (scan/while/cond bodies, pjit calls). Written out
    rather than `jax.extend.core.jaxprs_in_params`, which jax 0.9 (the `paper` extra) lacks."""
    for value in params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if hasattr(item, "eqns"):
                yield item
            elif hasattr(getattr(item, "jaxpr", None), "eqns"):
                yield item.jaxpr


def _largest_intermediate(fn, *args) -> int:
    """Size of the largest array any equation of `fn`'s jaxpr produces (sub-jaxprs included)."""
    def walk(jaxpr):
        biggest = 0
        for eqn in jaxpr.eqns:
            for v in eqn.outvars:
                biggest = max(biggest, int(np.prod(v.aval.shape)) if hasattr(v.aval, "shape") else 0)
            for sub in _sub_jaxprs(eqn.params):
                biggest = max(biggest, walk(sub))
        return biggest

    return walk(jax.make_jaxpr(fn)(*args).jaxpr)


def test_eggroll_generation_never_builds_population_sized_matrices():
    """A whole EGGROLL generation (noise, rollout, update) has no N·m·n array; OpenES's does."""
    from eggroll_bench.algos.registry import build_config
    from eggroll_bench.algos.runner import build_algorithm

    pop, hidden = 32, 256
    for algo, expect_big in (("eggroll", False), ("openes", True)):
        es = build_algorithm(algo, "CartPole-v1", build_config(algo, {"pop_size": pop, "hidden": hidden}), 0)
        state = es.init(jax.random.PRNGKey(0))
        biggest = _largest_intermediate(es.update, state, jax.random.PRNGKey(1))
        assert (biggest >= pop * hidden * hidden) == expect_big, (algo, biggest)


def _double_argsort_centered_rank(f):
    """The centred-rank formula before tie averaging: ranks from a stable double argsort."""
    return jnp.argsort(jnp.argsort(f)).astype(jnp.float32) / (f.shape[0] - 1) - 0.5


def test_centered_rank_averages_tied_ranks():
    f = jnp.array([1.0, 2.0, 2.0, 0.0, 2.0, 5.0, 1.0])
    # sorted: 0 (rank 0), 1 1 (ranks 1, 2 -> 1.5), 2 2 2 (ranks 3, 4, 5 -> 4), 5 (rank 6)
    expected = np.array([1.5, 4.0, 4.0, 0.0, 4.0, 6.0, 1.5], np.float32) / 6 - 0.5
    np.testing.assert_array_equal(shape_fitness(f, "centered_rank"), expected)
    np.testing.assert_array_equal(jax.jit(shape_fitness, static_argnums=1)(f, "centered_rank"), expected)


def test_centered_rank_compiles_without_a_loop():
    """The rank searches are sort-based: on XLA:CPU each binary-search loop was a loop to compile."""
    compiled = jax.jit(shape_fitness, static_argnums=1).lower(jnp.zeros(64), "centered_rank").compile()
    assert " while(" not in compiled.as_text()


def test_all_tied_population_gives_exactly_the_zero_update():
    shaped = shape_fitness(jnp.full(8, 37.5), "centered_rank")
    np.testing.assert_array_equal(shaped, np.zeros(8, np.float32))
    batched = jax.vmap(lambda f: shape_fitness(f, "centered_rank"))(jnp.stack([jnp.full(6, -2.0), jnp.zeros(6)]))
    np.testing.assert_array_equal(batched, np.zeros((2, 6), np.float32))
    _, params = _actor_and_params(hidden=4)
    for model in (FullRankNoise(8, False), LowRankNoise(8, False, 2)):  # no antithetic cancellation
        # jitted: run eagerly, each of their primitives is compiled on its own (~15 s on 2 cores)
        noise = jax.jit(model.sample)(jax.random.PRNGKey(3), jnp.asarray(0), params)
        grad = jax.jit(model.gradient)(params, noise, shaped, jnp.asarray(SIGMA))
        for leaf in jax.tree.leaves(grad):
            np.testing.assert_array_equal(leaf, np.zeros_like(leaf))


@pytest.mark.parametrize("n", [2, 5, 64, 1000])
def test_centered_rank_of_untied_fitness_is_bit_identical_to_double_argsort(n):
    for seed in range(3):
        f = jax.random.normal(jax.random.PRNGKey(seed), (n,))
        assert len(np.unique(np.asarray(f))) == n
        np.testing.assert_array_equal(shape_fitness(f, "centered_rank"), _double_argsort_centered_rank(f))


def test_centered_rank_ranks_nan_fitness_last_without_disturbing_the_others():
    f = jnp.array([3.0, jnp.nan, 1.0, 2.0, 0.0])
    # NaN ranks below every number (a member whose episode produced NaN is the worst)
    np.testing.assert_array_equal(shape_fitness(f, "centered_rank"), np.array([4, 0, 2, 3, 1], np.float32) / 4 - 0.5)


@pytest.mark.parametrize("value", [0.1, 3.0, -57.123, 1000.3, 1e6 + 0.7])
@pytest.mark.parametrize("n", [2, 7, 64])
def test_zscore_of_equal_fitness_is_exactly_zero(value, n):
    """Rounding in the mean of equal numbers must not become a ±1 z-score for everyone."""
    f = jnp.full(n, value, jnp.float32)
    for z in (shape_fitness(f, "zscore"), jax.jit(shape_fitness, static_argnums=1)(f, "zscore")):
        np.testing.assert_array_equal(z, np.zeros(n, np.float32))


def test_zscore_with_near_zero_variance_is_finite():
    f = jnp.array([5.0, 5.0, 5.0, 5.0]) + jnp.array([0.0, 1e-12, -1e-12, 0.0])
    f2 = jnp.array([1.0, 1.0 + 1e-7, 1.0, 1.0 - 1e-7], jnp.float32)  # one float32 ulp apart
    for x in (f, f2):
        z = shape_fitness(x, "zscore")
        assert np.all(np.isfinite(np.asarray(z))), z
        assert abs(float(z.mean())) < 1e-5


@pytest.mark.parametrize("method", ["rank", "centred_rank", "", "ZSCORE"])
def test_unknown_fitness_shaping_is_refused(method):
    from eggroll_bench.algos.config import ConfigError

    with pytest.raises(ConfigError, match=rf"{re.escape(repr(method))}.*centered_rank.*none.*zscore"):
        shape_fitness(jnp.arange(4.0), method)


@pytest.mark.parametrize("name", ["adagrad", "Adam", ""])
def test_unknown_optimizer_is_refused(name):
    from eggroll_bench.algos.config import ConfigError
    from eggroll_bench.algos.es import make_optimizer

    with pytest.raises(ConfigError, match=rf"{re.escape(repr(name))}.*adam, adamw, sgd"):
        make_optimizer(name, 0.1, 1.0, 0.0)


def test_openes_antithetic_gradient_equals_explicit_sum():
    """g = 1/(Nσ) Σ_i f_i ε_i with ε_{2k+1} = −ε_{2k}, each ε re-derived from the key recipe."""
    _, params = _actor_and_params(hidden=6)
    pop, gen, base = 8, 5, jax.random.PRNGKey(4)
    model = FullRankNoise(pop, True)
    noise = model.sample(base, jnp.asarray(gen), params)
    fitness = jax.random.normal(jax.random.PRNGKey(8), (pop,))
    grad = traverse_util.flatten_dict(model.gradient(params, noise, fitness, jnp.asarray(SIGMA)))
    members = [_independent_member_noise(base, gen, i, params, None) for i in range(pop)]
    for path in grad:
        np.testing.assert_array_equal(members[0][path], -members[1][path])
        explicit = sum(float(fitness[i]) * np.asarray(members[i][path]) for i in range(pop)) / (pop * SIGMA)
        np.testing.assert_allclose(grad[path], explicit, rtol=1e-5, atol=1e-6)


# --- EvolutionStrategy.update wiring, checked against a generation computed independently ---------


def _make_es(algo, env_name, **overrides):
    from eggroll_bench import envs
    from eggroll_bench.algos.registry import build_config, get_algorithm

    return get_algorithm(algo).make(envs.make(env_name), build_config(algo, overrides), 10**6)


def _member_perturbations(es, params, noise):
    """Each member's full perturbation direction per leaf, (N, *leaf.shape): ε_i, or EGGROLL's
    (A_i B_iᵀ/√r)ᵀ (a kernel is Wᵀ), built explicitly."""
    out = {}
    for path, leaf in traverse_util.flatten_dict(params).items():
        n = noise[path]
        if isinstance(n, dict):
            out[path] = jnp.einsum("imr,inr->inm", n["A"], n["B"]) / math.sqrt(es.noise.rank)
        else:
            out[path] = n
    return out


def _independent_generation(es, state, key, sigma, member_of_row=None):
    """(fitness, θ + lr·g) of one generation under SGD and no shaping, from member-by-member
    rollouts of materialised parameters θ + σ E_i; episode e of every member starts from
    split(start_key, episodes_per_member)[e] (common random numbers). `member_of_row` permutes
    which member a fitness row is credited to (a deliberately wrong wiring, for the controls)."""
    from eggroll_bench.algos.rollout import run_episodes

    c = es.config
    noise = es.noise.sample(state.noise_key, state.generation, state.params)
    eps = _member_perturbations(es, state.params, noise)
    flat = traverse_util.flatten_dict(state.params)
    _, start_key = jax.random.split(key)
    starts = jax.random.split(start_key, c.episodes_per_member)

    def member_return(member_params):
        def act(obs, k):
            return es.head.sample(es.actor.apply({"params": member_params}, obs), k, True)
        return run_episodes(es.env, act, jax.random.PRNGKey(0), c.episodes_per_member, starts).returns

    member_params = traverse_util.unflatten_dict({p: flat[p][None] + sigma * eps[p] for p in flat})
    returns = jax.jit(jax.vmap(member_return))(member_params)  # (N, episodes_per_member)
    if member_of_row is not None:
        returns = returns.reshape(-1)[member_of_row].reshape(returns.shape)
    fitness = returns.mean(-1)
    expected = {p: flat[p] + c.lr * jnp.tensordot(fitness, eps[p], axes=1) / (c.pop_size * sigma) for p in flat}
    return fitness, expected


def _check_update(es, state, key, sigma, wrong_sigma=None, member_of_row=None):
    """update's step equals the independent generation's; with `wrong_sigma` or `member_of_row`,
    that wrong wiring must give a visibly different step, or the check would prove nothing."""
    new = jax.jit(es.update)(state, key)[0]
    _, expected = _independent_generation(es, state, key, sigma)
    got, old = traverse_util.flatten_dict(new.params), traverse_util.flatten_dict(state.params)
    for path in got:
        step = np.asarray(expected[path] - old[path])
        np.testing.assert_allclose(got[path] - old[path], step, rtol=1e-3, atol=1e-4 * np.abs(step).max())
    if wrong_sigma is not None or member_of_row is not None:
        _, wrong = _independent_generation(es, state, key, wrong_sigma or sigma, member_of_row)
        gap = max(float(np.abs(wrong[p] - got[p]).max() / np.abs(got[p] - old[p]).max()) for p in got)
        assert gap > 0.05, gap
    return got, old


def test_update_ascends_the_es_gradient():
    """SGD with lr L moves θ by +L·g (optax is handed −g): a sign error would step by −L·g.
    (EGGROLL shares this code; its wiring is checked by the decayed-σ test below.)"""
    es = _make_es("openes", "Pendulum-v1", hidden=4, pop_size=6, optimizer="sgd", lr=1e-5, sigma=0.5,
                  fitness_shaping="none")
    got, old = _check_update(es, es.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1), 0.5)
    assert all(np.abs(got[p] - old[p]).max() > 0 for p in got)  # a real step, not 0 == 0


def test_rollout_and_gradient_use_the_same_decayed_sigma():
    """At generation 3 with sigma_decay 0.5, σ_t = σ/8 both perturbs the rollout and divides g."""
    es = _make_es("eggroll", "Pendulum-v1", hidden=4, pop_size=6, optimizer="sgd", lr=1e-6, sigma=0.8,
                  sigma_decay=0.5, fitness_shaping="none")
    state = es.init(jax.random.PRNGKey(0))
    state = state.replace(generation=jnp.asarray(3))
    _check_update(es, state, jax.random.PRNGKey(2), 0.1, wrong_sigma=0.8)


def test_fitness_row_belongs_to_its_member_with_several_episodes():
    """episodes_per_member=3: member i's fitness is the mean of its own 3 episodes."""
    pop, per = 6, 3
    es = _make_es("openes", "Pendulum-v1", hidden=4, pop_size=pop, episodes_per_member=per, optimizer="sgd",
                  lr=1e-5, sigma=0.5, fitness_shaping="none")
    state = es.init(jax.random.PRNGKey(0))
    episode_major = np.arange(pop * per).reshape(per, pop).T.reshape(-1)  # rows read episode-major
    _check_update(es, state, jax.random.PRNGKey(3), 0.5, member_of_row=episode_major)


@pytest.mark.parametrize("algo", ["openes", "eggroll"])
def test_gaussian_log_std_is_perturbed_and_updated(algo):
    pop, sigma = 6, 0.3
    es = _make_es(algo, "Pendulum-v1", hidden=4, pop_size=pop, sigma=sigma, deterministic_policy=False)
    state = es.init(jax.random.PRNGKey(0))
    path = next(p for p in traverse_util.flatten_dict(state.params) if p[-1] == "log_std")
    noise = es.noise.sample(state.noise_key, state.generation, state.params)
    variables, axes = es.noise.member_variables(state.params, noise, jnp.asarray(sigma))
    member_log_std = traverse_util.flatten_dict(variables["params"])[path]
    assert traverse_util.flatten_dict(axes["params"])[path] == 0  # one log-std per member
    base = traverse_util.flatten_dict(state.params)[path]
    np.testing.assert_allclose(member_log_std, base[None] + sigma * noise[path], rtol=1e-6)
    assert np.all(np.abs(np.asarray(noise[path])) > 0) and len(np.unique(np.asarray(noise[path]))) == pop
    obs = jnp.zeros((pop, 1, 3))
    _, log_std_out = jax.vmap(es.actor.apply, in_axes=(axes, 0))(variables, obs)
    np.testing.assert_allclose(log_std_out[:, 0], member_log_std, rtol=1e-6)  # the head reads it
    new = jax.jit(es.update)(state, jax.random.PRNGKey(1))[0]
    assert not np.allclose(traverse_util.flatten_dict(new.params)[path], base)


def test_config_choices_are_the_implemented_names():
    """The config's allowed values and the name -> implementation mappings must not drift apart
    (config.py cannot import the mappings: es.py and noise.py import config.py)."""
    from eggroll_bench.algos.config import ESConfig, rule_of
    from eggroll_bench.algos.es import OPTIMIZERS
    from eggroll_bench.algos.noise import FITNESS_SHAPING

    assert set(rule_of(ESConfig, "optimizer").choices) == set(OPTIMIZERS)
    assert set(rule_of(ESConfig, "fitness_shaping").choices) == set(FITNESS_SHAPING)
