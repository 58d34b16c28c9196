"""`eggroll-bench envs [--suite S] [--json]`: list every registered task."""
from __future__ import annotations

import argparse
import json

import sys

from eggroll_bench.envs.registry import all_tasks, suite_tasks, unavailable


def describe(task, spec: dict | None = None) -> dict:
    """A task's listing row. `spec`: its `envs.spec_cache.summarise` summary (default: looked up
    in the spec cache, which builds the environment only when its entry is missing or stale)."""
    from eggroll_bench.envs.registry import suites
    from eggroll_bench.envs.spec_cache import spec_summaries

    spec = spec if spec is not None else spec_summaries([task])[task.name]
    return {
        "name": task.name,
        "suite": task.suite,  # the suite it was registered in
        "suites": [s for s, names in suites().items() if task.name in names],  # every suite it is in
        "source": task.source,
        "obs_shape": list(spec["obs_shape"]),
        "action_space": spec["action_space"],
        "num_agents": spec["num_agents"],
        "max_steps": spec["max_steps"],
        "budget_gpu": task.budget_gpu,
        "budget_quick": task.budget_quick,
        "random_return": task.random_return,
    }


def run(args: argparse.Namespace) -> int:
    try:
        tasks = suite_tasks(args.suite) if args.suite else all_tasks()
    except KeyError as err:
        print(f"eggroll-bench envs: error: {err.args[0]}", file=sys.stderr)
        return 2
    missing = unavailable(tasks)
    if missing and args.suite:  # asked for this suite by name: it cannot be used here
        print(f"eggroll-bench envs: error: suite {args.suite!r}: {missing}", file=sys.stderr)
        return 2
    installed = [t for t in tasks if not t.missing()]
    from eggroll_bench.envs.spec_cache import spec_summaries

    specs = spec_summaries(installed)  # one cache read and at most one write for the whole listing
    rows = [describe(t, specs[t.name]) for t in installed]
    if missing:  # the full listing: show what is installed, say what is not
        print(f"{len(tasks) - len(installed)} task(s) not listed: {missing}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'task':40s} {'suites':14s} {'source':8s} {'obs':>12s} {'action':28s} {'agents':>6s} {'gpu budget':>11s} {'quick':>10s} {'random':>10s}"
    print(header)
    print("-" * len(header))
    for r in rows:
        rnd = "" if r["random_return"] is None else f"{r['random_return']:.2f}"
        print(f"{r['name']:40s} {','.join(r['suites']):14s} {r['source']:8s} {str(tuple(r['obs_shape'])):>12s} "
              f"{r['action_space']:28s} {r['num_agents']:>6d} {r['budget_gpu']:>11,d} {r['budget_quick']:>10,d} {rnd:>10s}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("envs", help="list registered tasks and suites",
                              description="List the registered tasks. Each task's observation shape, action "
                                          "space, agents and step limit come from a cache in "
                                          "$XDG_CACHE_HOME/eggroll-bench (default ~/.cache/eggroll-bench), "
                                          "rebuilt by building the environment when missing or when the "
                                          "library versions change.")
    p.add_argument("--suite", help="only this suite (core16, marl, ...)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
