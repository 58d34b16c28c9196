"""One environment interface over gymnax, brax and jaxmarl, and the registry of named tasks."""
import jax

# jax >= 0.5 defaults to the "partitionable" threefry PRNG, whose HLO compiles 5-10x slower on
# CPU (measured: a population's noise 20 s -> 2 s, a whole ES generation 26 s -> 10 s). Every
# eggroll-bench key is split/folded per member under vmap, so nothing here needs partitionable
# random bits. This changes which random numbers a key yields (not their distribution); results
# are reproducible either way because every entry point imports this package first.
jax.config.update("jax_threefry_partitionable", False)
from envs.core import Env, EnvState, check_action
from envs.registry import (
    MissingExtraError, Task, all_tasks, get_task, make, register, require, resolve_tasks, suite_tasks, suites, unavailable,
)
from envs.spec import Box, Discrete, EnvSpec

__all__ = [
    "Box", "Discrete", "Env", "EnvSpec", "EnvState", "Task", "all_tasks", "check_action", "get_task",
    "MissingExtraError", "make", "register", "require", "resolve_tasks", "suite_tasks", "suites", "unavailable",
]
