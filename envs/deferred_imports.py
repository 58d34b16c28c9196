"""Plotting libraries that environment packages import only to draw, loaded when first used.

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


def defer_plotting_imports() -> None:
    for name in PLOTTING:
        defer(name)
