"""The registry of named tasks and suites: adding an environment is one `register(...)` call.

Each `Task` knows how to build its environment, its default training budgets (a GPU-sized run
and a CPU `quick` run, in environment steps, counted the same way for every algorithm), the
return of a uniform-random policy (for normalised scores; measured by
`python -m envs.measure_random`, see that module for the protocol), and per-task overrides of
algorithm defaults (e.g. observation normalisation for brax).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping

from envs.core import Env, RawEnv


@dataclass(frozen=True)
class Task:
    name: str
    suite: str
    source: str  # the library it comes from: gymnax, brax, jaxmarl, ...
    factory: Callable[[], RawEnv]
    budget_gpu: int  # env steps for a full (GPU-sized) run
    budget_quick: int  # env steps for a CPU `quick` run
    random_return: float | None = None  # mean episode return of a uniform-random policy
    # Overrides of algorithm defaults for this task: {"ppo": {...}, "eggroll": {...}, "*": {...}}
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    notes: str = ""


_TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add a task; its name must be new. Returns the task, so it can be used as a value."""
    if task.name in _TASKS:
        raise ValueError(f"task {task.name!r} is already registered (suite {_TASKS[task.name].suite!r})")
    if task.budget_quick <= 0 or task.budget_gpu <= 0:
        raise ValueError(f"task {task.name!r}: budgets must be positive env-step counts")
    _TASKS[task.name] = task
    return task


def _unknown(kind: str, name: str, choices: list[str]) -> KeyError:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return KeyError(f"unknown {kind} {name!r}.{hint} Available: {', '.join(sorted(choices))}")


def get_task(name: str) -> Task:
    _load_builtin()
    if name not in _TASKS:
        raise _unknown("task", name, list(_TASKS))
    return _TASKS[name]


def suites() -> dict[str, list[str]]:
    _load_builtin()
    out: dict[str, list[str]] = {}
    for task in _TASKS.values():
        out.setdefault(task.suite, []).append(task.name)
    return out


def suite_tasks(suite: str) -> list[Task]:
    all_suites = suites()
    if suite not in all_suites:
        raise _unknown("suite", suite, list(all_suites))
    return [_TASKS[n] for n in all_suites[suite]]


def all_tasks() -> list[Task]:
    _load_builtin()
    return list(_TASKS.values())


def resolve_tasks(names: list[str]) -> list[Task]:
    """Task or suite names -> tasks, in order, without duplicates."""
    out: list[Task] = []
    for name in names:
        found = suite_tasks(name) if name in suites() else [get_task(name)]
        out.extend(t for t in found if t not in out)
    return out


@lru_cache(maxsize=None)
def make(name: str) -> Env:
    """The wrapped, auto-resetting environment of a registered task (built once per process)."""
    return Env(get_task(name).factory())


def _load_builtin() -> None:
    import envs.tasks  # noqa: F401  (registers the built-in suites on import)
