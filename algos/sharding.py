"""One trial over several devices: its parallel axis split over a 1-D mesh of every local device.

The runner vmaps a trial over rows (configurations x seeds); inside a row an algorithm vmaps over
its own parallel axis: ES population members (and their episodes), PPO environments. When the
process sees more than one device, the runner traces the trial inside `use_mesh(mesh)`, and the
algorithms mark that axis with `split` / `split_tree`: a sharding constraint that XLA's SPMD
partitioner propagates, so each device steps its share of the members / environments and only
the gradient's sum over members (or PPO's minibatch gathers) crosses devices. Rows stay whole on
every device. Without a mesh (one device, or sharding turned off) `split` is the identity, so the
single-device program is exactly the unsharded one.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Any, Iterator

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from eggroll_bench.algos.config import ConfigError

AXIS = "devices"
_MESH: contextvars.ContextVar[Mesh | None] = contextvars.ContextVar("eggroll_bench_mesh", default=None)


def make_mesh(shard: bool | None = None) -> Mesh | None:
    """A mesh over every local device, or None when there is one device or `shard` is False."""
    devices = jax.devices()
    if shard is False or len(devices) == 1:
        return None
    return Mesh(np.asarray(devices), (AXIS,))


@contextlib.contextmanager
def use_mesh(mesh: Mesh | None) -> Iterator[None]:
    """Trace inside this block to have `split` constrain onto `mesh`."""
    token = _MESH.set(mesh)
    try:
        yield
    finally:
        _MESH.reset(token)


def split(x: jax.Array, axis: int = 0) -> jax.Array:
    """`x` with `axis` split over the active mesh's devices (identity without a mesh)."""
    mesh = _MESH.get()
    if mesh is None:
        return x
    spec = [None] * x.ndim
    spec[axis] = AXIS
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, PartitionSpec(*spec)))


def split_tree(tree: Any) -> Any:
    """Every leaf's leading axis split over the active mesh."""
    return jax.tree.map(split, tree)


def check_divisible(name: str, value: int, devices: int, multiple_of: int = 1) -> None:
    """Refuse a parallel axis that cannot be split evenly, naming the nearest sizes that can."""
    step = math.lcm(devices, multiple_of)
    if devices > 1 and value % step:
        below, above = value // step * step, (value // step + 1) * step
        nearest = " or ".join(str(v) for v in (below, above) if v > 0)
        raise ConfigError(f"{name}={value} cannot be split evenly over {devices} devices; use {nearest} "
                          f"(a multiple of {step}), or turn sharding off (--no-shard)")
