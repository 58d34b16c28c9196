"""The registry of named tasks and suites: adding an environment is one `register(...)` call.

Each `Task` knows how to build its environment, its default training budgets (a GPU-sized run
and a CPU `quick` run, in environment steps, counted the same way for every algorithm), the
return of a uniform-random policy (for normalised scores; measured by
`python -m eggroll_bench.algos.measure_random`, see that module for the protocol), and per-task overrides of
algorithm defaults (e.g. observation normalisation for brax).
"""
from __future__ import annotations

import difflib
from functools import lru_cache
from typing import TYPE_CHECKING

from eggroll_bench import plugins
from eggroll_bench.envs.task import MissingExtraError, Task

if TYPE_CHECKING:
    from eggroll_bench.envs.core import Env


_TASKS: dict[str, Task] = {}
_ALSO_IN: dict[str, list[str]] = {}  # suite -> tasks registered elsewhere that also belong to it


def register(task: Task) -> Task:
    """Add a task; its name must be new. Returns the task, so it can be used as a value."""
    _load_builtin()
    if task.name in _TASKS:
        raise ValueError(f"task {task.name!r} is already registered (suite {_TASKS[task.name].suite!r})")
    if task.budget_quick <= 0 or task.budget_gpu <= 0:
        raise ValueError(f"task {task.name!r}: budgets must be positive env-step counts")
    _TASKS[task.name] = task
    return task


def add_to_suite(suite: str, names: list[str]) -> None:
    """Make already-registered tasks members of another suite too (paper16 reuses core16 tasks)."""
    for name in names:
        if name not in _TASKS:
            raise _unknown("task", name, list(_TASKS))
        _ALSO_IN.setdefault(suite, []).append(name)


def unavailable(tasks: list[Task]) -> str | None:
    """Why these tasks cannot run here (missing optional libraries and how to install them), or None."""
    missing: dict[tuple[str, str], list[str]] = {}
    for task in tasks:
        for _, package, extra in task.missing():
            missing.setdefault((package, extra), []).append(task.name)
    if not missing:
        return None
    parts = [f"{package} (needed by {', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
             for (package, _), names in missing.items()]
    extras = sorted({extra for _, extra in missing})
    install = " ".join(f'pip install -e ".[{extra}]"' for extra in extras)
    return f"not installed: {'; '.join(parts)}. Install the optional environments with: {install}"


def require(tasks: list[Task]) -> None:
    """Raise MissingExtraError naming the packages and the install command, if any is missing."""
    message = unavailable(tasks)
    if message:
        raise MissingExtraError(message)


def _unknown(kind: str, name: str, choices: list[str]) -> KeyError:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return KeyError(f"unknown {kind} {name!r}.{hint} Available: {', '.join(sorted(choices))}")


def get_task(name: str) -> Task:
    _load_builtin()
    if name not in _TASKS:
        plugins.load_entry_points()
    if name not in _TASKS:
        raise _unknown("task", name, list(_TASKS))
    return _TASKS[name]


def suites() -> dict[str, list[str]]:
    _load_all()
    out: dict[str, list[str]] = {}
    for task in _TASKS.values():
        out.setdefault(task.suite, []).append(task.name)
    for suite, names in _ALSO_IN.items():
        out[suite] = names + [n for n in out.get(suite, []) if n not in names]
    return out


def suite_tasks(suite: str) -> list[Task]:
    all_suites = suites()
    if suite not in all_suites:
        raise _unknown("suite", suite, list(all_suites))
    return [_TASKS[n] for n in all_suites[suite]]


def all_tasks() -> list[Task]:
    _load_all()
    return list(_TASKS.values())


def resolve_tasks(names: list[str]) -> list[Task]:
    """Task or suite names -> tasks, in order, without duplicates."""
    out: list[Task] = []
    for name in names:
        found = suite_tasks(name) if name in suites() else [get_task(name)]
        out.extend(t for t in found if t not in out)
    return out


@lru_cache(maxsize=None)
def make(name: str) -> "Env":
    """The wrapped, auto-resetting environment of a registered task (built once per process)."""
    from eggroll_bench.envs.core import Env  # JAX loads here, not when a name is looked up

    task = get_task(name)
    require([task])
    return Env(task.factory())


_builtin_loaded = False


def _load_builtin() -> None:
    """Register the built-in suites (`envs.tasks`) once, on first use."""
    global _builtin_loaded
    if _builtin_loaded:
        return
    _builtin_loaded = True
    from eggroll_bench.envs import tasks

    for task in tasks.TASKS:
        register(task)
    for suite, names in tasks.ALSO_IN:
        add_to_suite(suite, names)


def _load_all() -> None:
    """Built-ins and the tasks of installed plugins (entry points): what a listing shows."""
    _load_builtin()
    plugins.load_entry_points()
