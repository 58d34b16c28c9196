"""The test session's caches live in a temporary directory of its own, never under the user's home."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eggroll_bench.algos import compile_cache
from eggroll_bench.envs import spec_cache

# Writes both caches the way the commands do: the spec cache (as `eggroll-bench envs`) and the
# persistent compile cache at its default directory (as `train` / `sweep`).
WRITES_BOTH_CACHES = '''
def test_writes_both_caches():
    import jax
    from eggroll_bench.algos import compile_cache
    from eggroll_bench.envs import spec_cache
    from eggroll_bench.envs.registry import get_task

    assert spec_cache.spec_summaries([get_task("CartPole-v1")])
    written = compile_cache.choose()
    compile_cache.configure()
    jax.jit(lambda x: x * 2 + 1).lower(jax.numpy.ones(3)).compile()
    assert any(os.scandir(written)) and any(spec_cache.cache_dir().rglob("*.json"))
'''


def test_the_session_caches_are_temporary_and_outside_home():
    home = Path.home().resolve()
    for directory in (compile_cache.default_dir(), spec_cache.cache_dir()):
        assert not directory.resolve().is_relative_to(home), directory
        assert directory.resolve().is_relative_to(Path(os.environ["EGGROLL_BENCH_TEST_CACHE"]).resolve())


def test_a_test_run_leaves_the_users_home_untouched(tmp_path):
    """A fresh pytest process, with this suite's conftest and an empty HOME, runs a test that writes
    both caches: nothing appears under HOME (matplotlib's config directory included), and the
    session's own directory is gone when it ends."""
    home, suite = tmp_path / "home", tmp_path / "suite"
    home.mkdir()
    suite.mkdir()
    shutil.copy(Path(__file__).with_name("conftest.py"), suite / "conftest.py")
    (suite / "test_caches.py").write_text("import os\n" + WRITES_BOTH_CACHES)
    env = {k: v for k, v in os.environ.items()
           if k not in ("EGGROLL_BENCH_TEST_CACHE", "XDG_CACHE_HOME", "MPLCONFIGDIR", "PYTEST_XDIST_WORKER")}
    env["HOME"] = str(home)
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q",
                           "-o", "addopts=", str(suite)], cwd=suite, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 passed" in proc.stdout
    assert list(home.rglob("*")) == [], sorted(home.rglob("*"))
    assert not list((tmp_path / "tmp").glob("eggroll-bench-test-cache-*"))  # removed at the end


def test_tests_compile_at_the_cheap_level_unless_marked_optimized():
    """conftest.py: unmarked tests (and the processes they start) compile with
    `jax_disable_most_optimizations`."""
    import jax

    assert jax.config.read("jax_disable_most_optimizations") is True
    assert os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] == "1"


@pytest.mark.optimized
def test_a_test_marked_optimized_compiles_as_users_runs_do():
    import jax

    assert jax.config.read("jax_disable_most_optimizations") is False
    assert os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] == "0"
