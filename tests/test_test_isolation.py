"""The test session's caches live in a temporary directory of its own, never under the user's home."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from eggroll_bench.algos import compile_cache
from eggroll_bench.envs import spec_cache


def test_the_session_caches_are_temporary_and_outside_home():
    home = Path.home().resolve()
    for directory in (compile_cache.default_dir(), spec_cache.cache_dir()):
        assert not directory.resolve().is_relative_to(home), directory
        assert directory.resolve().is_relative_to(Path(os.environ["EGGROLL_BENCH_TEST_CACHE"]).resolve())


def test_a_test_run_leaves_the_users_cache_untouched(tmp_path):
    """Run a test that writes both caches (a CLI train with the persistent compile cache on) in a
    fresh pytest process whose HOME is an empty directory: nothing appears under it (matplotlib's
    config directory included)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("EGGROLL_BENCH_TEST_CACHE", "XDG_CACHE_HOME", "MPLCONFIGDIR", "PYTEST_XDIST_WORKER")}
    env["HOME"] = str(home)
    tests = Path(__file__).parent
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q",
                           str(tests / "test_runner.py::test_train_cli_writes_rows_in_the_results_schema")],
                          cwd=tests.parent, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 passed" in proc.stdout
    assert list(home.rglob("*")) == [], sorted(home.rglob("*"))
