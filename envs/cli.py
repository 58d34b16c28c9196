"""`eggroll-bench envs [--suite S] [--json]`: list every registered task."""
from __future__ import annotations

import argparse
import json

from envs.registry import all_tasks, suite_tasks


def describe(task) -> dict:
    """A task's listing row (builds the environment to read its spec)."""
    from envs.registry import make

    spec = make(task.name).spec
    return {
        "name": task.name,
        "suite": task.suite,
        "source": task.source,
        "obs_shape": list(spec.obs_shape),
        "action_space": spec.action_space.describe(),
        "num_agents": spec.num_agents,
        "max_steps": spec.max_steps,
        "budget_gpu": task.budget_gpu,
        "budget_quick": task.budget_quick,
        "random_return": task.random_return,
    }


def run(args: argparse.Namespace) -> int:
    tasks = suite_tasks(args.suite) if args.suite else all_tasks()
    rows = [describe(t) for t in tasks]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'task':32s} {'suite':7s} {'source':8s} {'obs':>12s} {'action':28s} {'agents':>6s} {'gpu budget':>11s} {'quick':>10s} {'random':>10s}"
    print(header)
    print("-" * len(header))
    for r in rows:
        rnd = "" if r["random_return"] is None else f"{r['random_return']:.2f}"
        print(f"{r['name']:32s} {r['suite']:7s} {r['source']:8s} {str(tuple(r['obs_shape'])):>12s} "
              f"{r['action_space']:28s} {r['num_agents']:>6d} {r['budget_gpu']:>11,d} {r['budget_quick']:>10,d} {rnd:>10s}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("envs", help="list registered tasks and suites")
    p.add_argument("--suite", help="only this suite (core16, marl, ...)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
