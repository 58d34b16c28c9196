"""One environment interface over gymnax, brax and jaxmarl, and the registry of named tasks.

Importing this package does not import JAX (the registry and the task descriptions are plain
Python): `Env`, `EnvState` and `check_action` load `envs.core`, and with it JAX, on first use.
"""
from eggroll_bench.envs.registry import (
    MissingExtraError, Task, all_tasks, get_task, make, register, require, resolve_tasks, suite_tasks, suites, unavailable,
)
from eggroll_bench.envs.spec import Box, Discrete, EnvSpec

_CORE = ("Env", "EnvState", "check_action")

__all__ = [
    "Box", "Discrete", "Env", "EnvSpec", "EnvState", "Task", "all_tasks", "check_action", "get_task",
    "MissingExtraError", "make", "register", "require", "resolve_tasks", "suite_tasks", "suites", "unavailable",
]


def __getattr__(name: str):
    if name in _CORE:
        from eggroll_bench.envs import core

        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
