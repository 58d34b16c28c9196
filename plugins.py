"""Tasks and algorithms from outside the repository: entry points and `--import` modules.

A user package adds tasks or algorithms by registering them when one of its modules is imported
(`eggroll_bench.envs.register(Task(...))`, `eggroll_bench.algos.register_algorithm(...)`). That
module is found in one of two ways:

- a Python entry point in the package's metadata, group `eggroll_bench.tasks` or
  `eggroll_bench.algorithms` (pyproject: `[project.entry-points."eggroll_bench.tasks"]
  my_tasks = "my_pkg.tasks"`), loaded by every process the first time a name is looked up;
- a module named on the command line (`--import my_pkg.tasks`) or in a sweep file
  (`imports = ["my_pkg.tasks"]`), loaded with `load_modules`.

Every process that resolves a task or algorithm name loads the same modules: entry points load
themselves, and a sweep hands `loaded_modules()` to its trial processes and workers, which call
`load_modules` before they resolve anything. This module imports nothing of the package (it is
below every layer), so loading plugins never drags in JAX by itself.
"""
from __future__ import annotations

import importlib
import sys
from importlib import metadata
from typing import Iterable

GROUPS = ("eggroll_bench.tasks", "eggroll_bench.algorithms")

_entry_points_loaded = False
_modules: list[str] = []  # modules loaded by name, in order (what child processes must load too)


class PluginError(ImportError):
    """A plugin module or entry point could not be imported."""


def load_entry_points() -> None:
    """Import every module registered under `GROUPS` (once per process)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True  # before loading: a plugin that looks a name up must not recurse
    for group in GROUPS:
        for point in metadata.entry_points(group=group):
            try:
                point.load()
            except Exception as err:  # noqa: BLE001 — name the entry point, whatever went wrong
                raise PluginError(f"entry point {point.name!r} = {point.value!r} (group {group}) failed to "
                                  f"import: {type(err).__name__}: {err}") from err


def load_modules(modules: Iterable[str]) -> None:
    """Import `modules` (dotted names) and remember them for child processes; each loads once."""
    for name in modules:
        if not isinstance(name, str) or not name.strip():
            raise PluginError(f"imports: expected dotted module names, got {name!r}")
        name = name.strip()
        if name in _modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise PluginError(f"--import {name}: cannot import it ({err}); is its package installed, or its "
                              f"directory on PYTHONPATH? (searched: {', '.join(sys.path[:4])}, ...)") from err
        _modules.append(name)


def search_current_directory() -> None:
    """Let `load_modules` find a user's module beside them, as `python -m` would (the
    `eggroll-bench` script does not put the current directory on the path)."""
    import os

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def loaded_modules() -> tuple[str, ...]:
    """The modules loaded by name so far: a child process calls `load_modules` on these."""
    return tuple(_modules)
