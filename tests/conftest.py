"""Shared test setup: compiled functions are cached per process, so keep one pytest process.

The test session never writes to the user's home: before anything is imported, it points the
caches (`$XDG_CACHE_HOME`: the spec cache and the persistent compile cache's default directory)
at one temporary directory of its own, shared by the xdist workers (they inherit the
controller's environment) and removed when the session ends. So a run on a fresh machine measures
what a new contributor gets, and the user's `~/.cache/eggroll-bench` is never touched. Within the
session every compile goes through that directory's persistent compile cache, so a program two
tests train is compiled once.

Most tests compile with XLA's cheapest setting, which the tests marked `optimized` (learning,
recorded returns) do not use; see `_FAST_COMPILE` below.
"""
import os
import shutil
import tempfile

# Deterministic, single-device CPU runs (CI has no GPU); silence TPU/GPU probing noise.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

_OWN_CACHE = "EGGROLL_BENCH_TEST_CACHE"  # set by the session that made the directory
if _OWN_CACHE not in os.environ:  # the controller (or a lone pytest process): make it
    os.environ[_OWN_CACHE] = tempfile.mkdtemp(prefix="eggroll-bench-test-cache-")
    _made_here = True
else:  # an xdist worker: use the controller's
    _made_here = False
os.environ["XDG_CACHE_HOME"] = os.environ[_OWN_CACHE]
os.environ["MPLCONFIGDIR"] = os.path.join(os.environ[_OWN_CACHE], "matplotlib")  # else ~/.config/matplotlib
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)  # the user's choice of cache must not leak into the tests
# Every compile of the session (in-process tests, their trial subprocesses, both xdist workers) goes
# through one persistent compile cache in that directory: tests that train the same program (a
# sweep's trials, a CLI run and the API run it is checked against) compile it once per session.
os.environ["EGGROLL_BENCH_COMPILE_CACHE"] = os.path.join(os.environ[_OWN_CACHE], "eggroll-bench", "jax")

# Compile effort. Most tests check bookkeeping, equalities and failure handling on small programs
# whose compile is most of their time; JAX's `jax_disable_most_optimizations` (XLA backend
# optimisation level 0, no expensive LLVM passes) compiles them with about 30% less CPU. The tests
# marked `optimized` are about what the production program computes (learning within a budget,
# recorded returns): they compile as users' runs do, and run faster for it. The setting travels in
# the environment variable JAX reads at import, so xdist workers, trial processes and CLI
# subprocesses compile at the level of the test that started them (both sides of an equality
# compare programs of one level). It is part of the persistent compile cache's key.
_FAST_COMPILE = "JAX_DISABLE_MOST_OPTIMIZATIONS"
os.environ[_FAST_COMPILE] = "1"

import pytest  # noqa: E402

from eggroll_bench.algos import compile_cache  # noqa: E402

compile_cache.choose()  # creates the directory named above
compile_cache.configure()  # before the first compile: JAX decides once per process whether to cache


def pytest_addoption(parser):
    parser.addoption("--require-paper", action="store_true",
                     help="error, instead of skipping the `paper` tests, when the [paper] extra is not installed "
                          "(CI's paper run)")


def pytest_collection_modifyitems(config, items):
    """`paper` tests need the [paper] extra: skip them without it, naming the install command."""
    from eggroll_bench.envs.registry import suite_tasks, unavailable

    missing = unavailable(suite_tasks("paper16"))
    if not missing:
        return
    if config.getoption("--require-paper"):
        raise pytest.UsageError(f"--require-paper: {missing}")
    skip = pytest.mark.skip(reason=f"[paper] extra: {missing}")
    for item in items:
        if "paper" in item.keywords:
            item.add_marker(skip)


def _compile_at_level_of(node) -> None:
    """Compile at XLA's full optimisation when `node` (a module or a test) is marked `optimized`,
    else at its cheapest setting, from now on, in this process and the processes it starts.
    Programs already compiled in this process at the other level are dropped (JAX's in-memory
    caches do not key on the setting)."""
    import jax

    from eggroll_bench.algos.runner import release_compiled

    optimized = node.get_closest_marker("optimized") is not None
    fast = "0" if optimized else "1"
    if os.environ[_FAST_COMPILE] != fast:
        os.environ[_FAST_COMPILE] = fast
        jax.config.update("jax_disable_most_optimizations", not optimized)
        release_compiled()


@pytest.fixture(scope="module", autouse=True)
def _module_compile_level(request):
    """The level of a module marked `optimized` as a whole, set before its module-scoped fixtures
    (autouse fixtures come first within a scope) compile anything."""
    _compile_at_level_of(request.node)


@pytest.fixture(autouse=True)
def _test_compile_level(request, _module_compile_level):
    _compile_at_level_of(request.node)


def pytest_unconfigure(config):
    if _made_here:
        shutil.rmtree(os.environ[_OWN_CACHE], ignore_errors=True)
