"""Shared test setup: compiled functions are cached per process, so keep one pytest process."""
import os

# Deterministic, single-device CPU runs (CI has no GPU); silence TPU/GPU probing noise.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402


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
