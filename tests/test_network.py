"""The network's initializer: flax's orthogonal init, without LAPACK in the compiled program."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from algos.network import Actor, PolicyHead, orthogonal


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
