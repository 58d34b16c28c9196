"""One environment interface over gymnax, brax and jaxmarl, and the registry of named tasks."""
from envs.core import Env, EnvState, check_action
from envs.registry import Task, all_tasks, get_task, make, register, resolve_tasks, suite_tasks, suites
from envs.spec import Box, Discrete, EnvSpec

__all__ = [
    "Box", "Discrete", "Env", "EnvSpec", "EnvState", "Task", "all_tasks", "check_action", "get_task",
    "make", "register", "resolve_tasks", "suite_tasks", "suites",
]
