"""The network's initializer: flax's orthogonal init, without LAPACK in the compiled program."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eggroll_bench import envs
from eggroll_bench.algos.network import Actor, PolicyHead, orthogonal


@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (64, 2), (64, 256), (11, 5)])
def test_orthogonal_equals_flax_orthogonal(shape):
    key = jax.random.PRNGKey(7)
    ours = orthogonal(np.sqrt(2))(key, shape)
    np.testing.assert_allclose(ours, nn.initializers.orthogonal(np.sqrt(2))(key, shape), atol=1e-5)
    small = min(shape)
    gram = ours.T @ ours if shape[0] >= shape[1] else ours @ ours.T
    np.testing.assert_allclose(gram, 2 * np.eye(small), atol=1e-5)


def test_seed_vmapped_init_calls_no_lapack():
    """Batched LAPACK calls can deadlock jaxlib 0.10.2's CPU thread pool (see `orthogonal`)."""
    spec = envs.make("CartPole-v1").spec
    actor = Actor(PolicyHead(spec).action_dim, spec.discrete, 64, 3, "tanh")
    init = jax.vmap(lambda k: actor.init(k, jnp.zeros(spec.obs_shape)))
    hlo = jax.jit(init).lower(jax.random.split(jax.random.PRNGKey(0), 2)).as_text()
    assert "lapack" not in hlo and "custom_call" not in hlo


def test_pqn_mlp_forward_matches_hand_computation():
    """The paper's network: each hidden layer is Linear -> LayerNorm -> ReLU; the output is linear."""
    from eggroll_bench.algos.network import MLP

    net = MLP(hidden=5, depth=3, out=2, activation="pqn", out_scale=0.01)
    x = jax.random.normal(jax.random.PRNGKey(0), (7, 4))
    params = net.init(jax.random.PRNGKey(1), x)["params"]
    # Give LayerNorm's scale and bias non-trivial values so the hand computation checks them too.
    params = jax.tree_util.tree_map_with_path(
        lambda path, p: p + 0.3 * jax.random.normal(jax.random.PRNGKey(len(str(path))), p.shape)
        if "LayerNorm" in str(path) else p, params)
    h = np.asarray(x, np.float64)
    for i in range(3):
        lin, ln = params[f"Linear_{i}"], params[f"LayerNorm_{i}"]
        h = h @ np.asarray(lin["kernel"], np.float64) + np.asarray(lin["bias"], np.float64)
        mean, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
        h = (h - mean) / np.sqrt(var + 1e-6) * np.asarray(ln["scale"]) + np.asarray(ln["bias"])
        h = np.maximum(h, 0.0)
    out = h @ np.asarray(params["Linear_3"]["kernel"], np.float64) + np.asarray(params["Linear_3"]["bias"])
    np.testing.assert_allclose(np.asarray(net.apply({"params": params}, x)), out, rtol=1e-5, atol=1e-6)


def test_actor_mask_forbids_invalid_actions():
    """With `mask_size`, the trailing mask inputs decide which logits survive; all-invalid rows
    fall back to the unmasked logits rather than a NaN distribution."""
    from eggroll_bench.algos.network import Actor

    n = 4
    actor = Actor(action_dim=n, discrete=True, hidden=8, depth=2, activation="tanh", mask_size=n)
    features = jax.random.normal(jax.random.PRNGKey(0), (64, 6))
    mask = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (64, n)).astype(jnp.float32)
    mask = mask.at[1:, 0].set(1.0).at[0].set(0.0)  # row 0 has no valid action, every other row has one
    obs = jnp.concatenate([features, mask], axis=-1)
    params = actor.init(jax.random.PRNGKey(2), obs)
    logits = actor.apply(params, obs)
    unmasked = Actor(action_dim=n, discrete=True, hidden=8, depth=2, activation="tanh").apply(params, obs)
    valid = np.asarray(mask[1:]) > 0.5
    np.testing.assert_array_equal(np.asarray(logits[1:])[~valid], -1e9)
    np.testing.assert_array_equal(np.asarray(logits[1:])[valid], np.asarray(unmasked[1:])[valid])
    np.testing.assert_array_equal(np.asarray(logits[0]), np.asarray(unmasked[0]))
    greedy = np.asarray(jnp.argmax(logits[1:], -1))
    assert valid[np.arange(63), greedy].all()


def test_observation_normalisation_passes_the_action_mask_through():
    """Normalising a masked task's observations must not turn its 0/1 mask into other numbers."""
    from eggroll_bench.algos.observations import ObsNorm, preprocess
    from eggroll_bench.envs.spec import Discrete, EnvSpec

    spec = EnvSpec("masked", (6,), Discrete(2), max_steps=10, action_mask=True)
    assert spec.mask_size == 2
    norm = ObsNorm(jnp.full((6,), 5.0), jnp.full((6,), 4.0), jnp.asarray(100.0))
    obs = jnp.asarray([[1.0, 3.0, 5.0, 9.0, 1.0, 0.0], [7.0, 7.0, 7.0, 7.0, 0.0, 1.0]])
    x = preprocess(spec, norm, obs, normalize=True, agent_id=False)
    np.testing.assert_allclose(np.asarray(x[:, :4]), (np.asarray(obs[:, :4]) - 5.0) / 2.0, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(x[:, 4:]), np.asarray(obs[:, 4:]))
    with pytest.raises(ValueError, match="action_mask needs a single-agent discrete task"):
        EnvSpec("bad", (6,), envs.Box((1,), -1.0, 1.0), max_steps=10, action_mask=True)


def test_state_dependent_log_std_is_the_last_layers_second_half():
    """log_std="state": the policy's last layer outputs the mean and then the log-std, so the std
    varies with the observation; "param": one learned log-std per action, the same everywhere."""
    from eggroll_bench.algos.network import MLP

    spec = envs.make("Pendulum-v1").spec
    obs = jax.random.normal(jax.random.PRNGKey(0), (5,) + spec.obs_shape)
    state = Actor(1, False, 16, 2, "tanh", log_std="state")
    params = state.init(jax.random.PRNGKey(1), obs)["params"]
    assert set(params) == {"pi"} and params["pi"]["Linear_2"]["kernel"].shape == (16, 2)
    params = jax.tree.map(lambda p: p + 0.5, params)  # away from the near-zero init of the last layer
    mean, log_std = state.apply({"params": params}, obs)
    out = MLP(16, 2, 2, "tanh", out_scale=0.01).apply({"params": params["pi"]}, obs)
    np.testing.assert_allclose(mean, out[:, :1]) and np.testing.assert_allclose(log_std, out[:, 1:])
    assert np.ptp(np.asarray(log_std)) > 0
    param = Actor(1, False, 16, 2, "tanh").init(jax.random.PRNGKey(1), obs)["params"]
    assert param["log_std"].shape == (1,) and param["pi"]["Linear_2"]["kernel"].shape == (16, 1)
    # the head samples with that std: a wide std spreads the actions, the mean stays the greedy action
    head = PolicyHead(spec, "state")
    wide = head.sample((jnp.zeros((4000, 1)), jnp.full((4000, 1), np.log(3.0))), jax.random.PRNGKey(2), False)
    assert float(jnp.std(wide)) == pytest.approx(3.0, rel=0.05)


def test_state_dependent_log_std_is_refused_for_discrete_actions():
    from eggroll_bench.algos.config import ConfigError
    from eggroll_bench.algos.runner import train

    with pytest.raises(ConfigError, match=r"log_std='state': CartPole-v1 has discrete actions.*allowed there: 'param'"):
        train("openes", "CartPole-v1", [0], {"log_std": "state"}, total_steps=10_000, progress=False)
    with pytest.raises(ConfigError, match=r"log_std: 'learned' is not one of param, state"):
        train("ppo", "Pendulum-v1", [0], {"log_std": "learned"}, total_steps=10_000, progress=False)
