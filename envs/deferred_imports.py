"""Imports that environment packages make and a trial does not need: skipped or deferred.

Two tools, each for one library's habit (both keep the environments' code and numbers as they are):
- `import_past_package_inits` imports a submodule without running its parent packages'
  `__init__`s (jaxmarl's imports every environment it has: see the function);
- `defer_plotting_imports` defers plotting libraries to their first use (below).

gymnax imports every one of its environments when it is imported, and two of them (Pong, Catch)
import `matplotlib.pyplot` and `seaborn` at module level for their `render` methods. That is
about 1.5 s of a trial process's start on a 2-core CPU (seaborn pulls in `scipy.stats` and
pandas), paid by every trial, CLI command and test subprocess that makes a gymnax task, though
none of them draws with those libraries.

`defer_plotting_imports()`, called before such a package is imported, puts a stand-in module in
`sys.modules` for each library not imported yet. An `import` binds the stand-in; the first
attribute read through it imports the real library, which from then on is what `sys.modules` holds
and what the stand-in forwards every read to. Nothing changes for code that uses the libraries:
the cost moves to that first use. (The standard library's `importlib.util.LazyLoader` does not
serve here: on Python 3.11 the import statement itself reads the module's `__spec__`, which makes
it load at once.)
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types

PLOTTING = ("matplotlib.pyplot", "seaborn")

_lock = threading.RLock()  # re-entrant: one library's real import may read another's stand-in


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is read, then forwards to the real one."""

    def __getattr__(self, attr: str):  # called only for what the stand-in itself does not hold
        return getattr(_load(self.__name__), attr)


def _load(name: str) -> types.ModuleType:
    with _lock:
        module = sys.modules.get(name)
        if module is None or isinstance(module, _Deferred):
            sys.modules.pop(name, None)
            module = importlib.import_module(name)  # also rebinds the parent package's attribute
        return module


def defer(name: str) -> None:
    """Make `import name` bind a stand-in that imports `name` on first use (nothing if it is
    already imported, or not installed: then the importing package's own error stands)."""
    if name in sys.modules:
        return
    parent, _, child = name.rpartition(".")
    if parent:
        importlib.import_module(parent)  # a submodule is found through its package
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stand_in = _Deferred(name)
    stand_in.__spec__ = spec  # what the import statement reads; reading it must not load
    sys.modules[name] = stand_in
    if parent:  # `import matplotlib.pyplot as plt` reads the package's attribute
        setattr(sys.modules[parent], child, stand_in)


def import_past_package_inits(name: str, packages: tuple[str, ...]) -> types.ModuleType:
    """Import module `name` without running the `__init__` of `packages` (its parent packages,
    outermost first), which are found on disk but stand as bare packages while it imports.

    For jaxmarl: `import jaxmarl` imports every environment it ships (STORM, SMAX, MABrax with brax
    and MuJoCo, JaxNav, Overcooked, ...), 3.2 s on a 2-core CPU, where the MPE tasks need 0.5 s of
    it. Afterwards `sys.modules` is as it was before the call: the stand-ins and every module the
    import loaded are removed again, so a later `import jaxmarl` runs the real package, whole and
    consistent (its MPE classes are then new class objects, equal in code, of which the caller
    holds the first). Where a package is already imported it is used as it is."""
    with _lock:
        before = set(sys.modules)
        try:
            for package in packages:
                if package in sys.modules:
                    continue
                parent, _, child = package.rpartition(".")
                if parent:
                    locations = [f"{path}/{child}" for path in sys.modules[parent].__path__]
                else:
                    spec = importlib.util.find_spec(package)  # a top-level package: found, not run
                    if spec is None:
                        raise ModuleNotFoundError(f"No module named {package!r}", name=package)
                    locations = list(spec.submodule_search_locations)
                bare = types.ModuleType(package)
                bare.__path__ = locations
                bare.__spec__ = importlib.machinery.ModuleSpec(package, None, is_package=True)
                bare.__spec__.submodule_search_locations = locations
                sys.modules[package] = bare
            return importlib.import_module(name)
        finally:
            for loaded in set(sys.modules) - before:
                del sys.modules[loaded]


def defer_plotting_imports() -> None:
    for name in PLOTTING:
        defer(name)
