"""The state-file format of saved policies and checkpoints: leaves are matched by their path in the
tree, so a version that reorders or renames two same-shaped leaves cannot load them swapped."""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from eggroll_bench.algos.policy import PolicyError, leaf_paths, pack_leaves, pack_tree, restore_tree, unpack_leaves


class StatsV1(struct.PyTreeNode):
    mean: jax.Array
    var: jax.Array


class StatsV2(struct.PyTreeNode):  # a later version declares the same two fields the other way round
    var: jax.Array
    mean: jax.Array


def state(stats_cls, mean, var):
    return {"params": {"Dense_0": {"kernel": jnp.ones((2, 3))}}, "obs": stats_cls(mean=mean, var=var)}


def test_leaves_come_back_by_path():
    saved = state(StatsV1, jnp.arange(3.0), jnp.full(3, 7.0))
    assert leaf_paths(saved) == ["obs/mean", "obs/var", "params/Dense_0/kernel"]
    leaves, meta = unpack_leaves(pack_tree(saved, {"seed": 0}), Path("f"))
    back = restore_tree(jax.eval_shape(lambda: saved), leaves, Path("f"), meta["leaf_paths"])
    np.testing.assert_array_equal(back["obs"].mean, np.arange(3.0))
    np.testing.assert_array_equal(back["obs"].var, np.full(3, 7.0))


def test_same_shaped_leaves_in_another_order_are_refused_naming_the_leaf():
    leaves, meta = unpack_leaves(pack_tree(state(StatsV1, jnp.arange(3.0), jnp.full(3, 7.0)), {}), Path("f.msgpack"))
    template = jax.eval_shape(lambda: state(StatsV2, jnp.zeros(3), jnp.zeros(3)))
    with pytest.raises(PolicyError, match=r"f.msgpack: array 0 is leaf 'obs/mean', the algorithm's state has "
                                          r"leaf 'obs/var' there"):
        restore_tree(template, leaves, Path("f.msgpack"), meta["leaf_paths"])
    renamed = jax.eval_shape(lambda: {**state(StatsV1, jnp.zeros(3), jnp.zeros(3)),
                                      "params": {"Dense_1": {"kernel": jnp.ones((2, 3))}}})
    with pytest.raises(PolicyError, match=r"array 2 is leaf 'params/Dense_0/kernel'.*'params/Dense_1/kernel'"):
        restore_tree(renamed, leaves, Path("f.msgpack"), meta["leaf_paths"])


def test_a_file_written_before_paths_were_stored_loads_with_a_warning():
    saved = state(StatsV1, jnp.arange(3.0), jnp.full(3, 7.0))
    old = pack_leaves(jax.tree.leaves(saved), {"seed": 0})  # what the previous version wrote
    leaves, meta = unpack_leaves(old, Path("old.msgpack"))
    assert "leaf_paths" not in meta
    with pytest.warns(UserWarning, match="old.msgpack: written before leaf paths were stored"):
        back = restore_tree(jax.eval_shape(lambda: saved), leaves, Path("old.msgpack"), meta.get("leaf_paths"))
    np.testing.assert_array_equal(back["obs"].var, np.full(3, 7.0))
