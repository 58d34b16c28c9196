"""How much host memory one training process plans for on CPU: a stable figure, not the free RAM.

`runner.train_group` splits a group of configurations until the compiled call fits in a fraction
of the device's memory. On an accelerator that is the device's limit. On CPU it used to be the
momentarily free RAM, so a rerun could split a group differently (and miss the group's checkpoint,
named after the split), and N local trial processes each planned for half of the same free RAM.
Here it is the host's memory (`EGGROLL_BENCH_HOST_MEMORY_GB` to set it, e.g. on a shared machine;
default the physical RAM) divided by the trial processes sharing the host
(`EGGROLL_BENCH_LOCAL_WORKERS`, set by a sweep for its local pool; default 1). No JAX here: the
sweep process sets the variables.
"""
from __future__ import annotations

import os

MEMORY_ENV_VAR = "EGGROLL_BENCH_HOST_MEMORY_GB"
WORKERS_ENV_VAR = "EGGROLL_BENCH_LOCAL_WORKERS"


def host_memory_bytes() -> int | None:
    """This process's share of the host's memory in bytes (None: unknown); a bad setting is a
    ValueError naming the variable."""
    text = os.environ.get(MEMORY_ENV_VAR, "").strip()
    if text:
        try:
            total = float(text) * 2**30
        except ValueError:
            total = float("nan")
        if not total > 0:
            raise ValueError(f"{MEMORY_ENV_VAR}={text!r}: expected the host memory to plan for, in GB (> 0)")
    else:
        try:
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return int(total // host_trials())


def host_trials() -> int:
    """How many trial processes share this host at most (`EGGROLL_BENCH_LOCAL_WORKERS`; 1 when unset):
    the local pool's size, or what a Ray node's resources allow. Recorded with every result, since
    trials that share a CPU's cores run slower than alone."""
    workers = os.environ.get(WORKERS_ENV_VAR, "1").strip() or "1"
    if not workers.isdigit() or int(workers) < 1:
        raise ValueError(f"{WORKERS_ENV_VAR}={workers!r}: expected the number of trial processes on this host (>= 1)")
    return int(workers)
