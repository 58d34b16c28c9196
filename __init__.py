"""eggroll-bench: EGGROLL, OpenES and PPO on gymnax, brax and jaxmarl tasks, one jitted runner.

Layers, each importing only those before it: `envs` -> `algos` -> `sweeps` / `benchmarks` ->
`plots` -> `cli`. Nothing here imports JAX: a sweep's parent process and `status` never pay for it.
"""
from __future__ import annotations

import os
import sys

__version__ = "0.2.0"

# jax >= 0.5 defaults to the "partitionable" threefry PRNG, whose HLO compiles 5-10x slower on CPU
# (measured: a population's noise 20 s -> 2 s, a whole ES generation 26 s -> 10 s). Every key here
# is split / folded per member under vmap, so nothing needs partitionable random bits. The setting
# changes which numbers a key yields, so it is made here, before any submodule can import JAX:
# through the environment when JAX is not loaded yet (child processes inherit it), and on JAX's
# config when a user imported JAX first.
os.environ["JAX_THREEFRY_PARTITIONABLE"] = "false"
if "jax" in sys.modules:
    sys.modules["jax"].config.update("jax_threefry_partitionable", False)
