"""JAX's persistent compilation cache: a trial compiled once is loaded from disk by every later process.

A sweep runs each trial in a fresh process, and the paper's trials compile for 10 s to 3.5 min,
so without a disk cache every rerun (a resumed sweep, `--retry-failed`, the final sweep after a
tune sweep, a second seed set) pays the whole compile again.

The setting travels in the environment variable `EGGROLL_BENCH_COMPILE_CACHE` (a directory, or
`off`), so that spawned trial processes inherit it; Ray tasks are handed it explicitly. The
commands (`train`, `sweep`, `paper`) choose it with `choose` (flags > the variable > the default
directory) before any trial starts; the runner calls `configure` before it compiles. With the
variable unset (the Python API, the benchmarks), JAX's own settings are left alone, so a compile
benchmark never measures a cache load by surprise.

This module imports JAX only inside `configure` and `CacheWatch`: the sweep process calls `choose`
and must never import JAX.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "EGGROLL_BENCH_COMPILE_CACHE"
OFF = "off"
_HIT = "/jax/compilation_cache/cache_hits"
_MISS = "/jax/compilation_cache/cache_misses"

_configured: str | None = None  # the setting `configure` last applied in this process
_counts = {_HIT: 0, _MISS: 0}
_listening = False


def default_dir() -> Path:
    """`$XDG_CACHE_HOME/eggroll-bench/jax`, else `~/.cache/eggroll-bench/jax`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "eggroll-bench" / "jax"


def choose(directory: str | None = None, disabled: bool = False) -> str:
    """Resolve the command line's choice into a directory or `off`, and export it for trial processes.

    Order: `--no-compile-cache`, `--compile-cache DIR`, `$EGGROLL_BENCH_COMPILE_CACHE`, JAX's own
    `$JAX_COMPILATION_CACHE_DIR`, then `default_dir()`.
    """
    if disabled and directory:
        raise ValueError("--compile-cache and --no-compile-cache contradict each other; give one")
    if disabled:
        setting = OFF
    elif directory:
        setting = str(Path(directory).expanduser().resolve())
    else:
        setting = (os.environ.get(ENV_VAR) or os.environ.get("JAX_COMPILATION_CACHE_DIR")
                   or str(default_dir()))
    if setting != OFF:
        try:
            Path(setting).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"--compile-cache {setting}: cannot create the directory ({err}); "
                             f"name a writable one or pass --no-compile-cache") from None
    os.environ[ENV_VAR] = setting
    return setting


def configure() -> str | None:
    """Apply `$EGGROLL_BENCH_COMPILE_CACHE` to JAX (idempotent); the directory, None when off or unset."""
    global _configured
    setting = os.environ.get(ENV_VAR)
    if not setting or setting == _configured:
        return None if not setting or setting == OFF else setting
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    if setting == OFF:
        jax.config.update("jax_enable_compilation_cache", False)
    else:
        jax.config.update("jax_enable_compilation_cache", True)
        jax.config.update("jax_compilation_cache_dir", setting)
        # A trial's small `init` compiles in well under JAX's default 1 s threshold; caching it too
        # lets a rerun skip compiling altogether, which is what `compile_cached` reports.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # JAX decides once per process whether the cache is in use, at the first compile; anything
    # compiled before this call (an environment's set-up) would have fixed that decision.
    compilation_cache.reset_cache()
    _configured = setting
    return None if setting == OFF else setting


def _count(event: str, **_kwargs) -> None:
    if event in _counts:
        _counts[event] += 1


class CacheWatch:
    """Counts JAX's persistent-cache hits and misses between `__enter__` and `__exit__`.

    `cached` is True when every compile in the block was loaded from the cache, False when any
    was compiled, None when nothing consulted the cache (it is off).
    """

    def __enter__(self) -> "CacheWatch":
        global _listening
        if not _listening:
            from jax import monitoring

            monitoring.register_event_listener(_count)
            _listening = True
        self._start = dict(_counts)
        self.cached: bool | None = None
        return self

    def __exit__(self, *exc) -> None:
        hits = _counts[_HIT] - self._start[_HIT]
        misses = _counts[_MISS] - self._start[_MISS]
        self.cached = None if hits + misses == 0 else misses == 0
