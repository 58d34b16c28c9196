"""One environment interface over gymnax, brax and jaxmarl, and the registry of named tasks."""
from eggroll_bench.envs.core import Env, EnvState, check_action
from eggroll_bench.envs.registry import (
    MissingExtraError, Task, all_tasks, get_task, make, register, require, resolve_tasks, suite_tasks, suites, unavailable,
)
from eggroll_bench.envs.spec import Box, Discrete, EnvSpec

__all__ = [
    "Box", "Discrete", "Env", "EnvSpec", "EnvState", "Task", "all_tasks", "check_action", "get_task",
    "MissingExtraError", "make", "register", "require", "resolve_tasks", "suite_tasks", "suites", "unavailable",
]
