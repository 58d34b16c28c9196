"""`eggroll-bench sweep FILE` and `eggroll-bench status DIR`.

Exit status: 0 all trials done or diverged; 1 some trial failed (recorded, the others ran);
2 the sweep could not start (bad sweep file, another sweep's directory, directory in use) —
printed as one message, no traceback, and nothing in the results directory touched.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from eggroll_bench.algos.config import ConfigError
from eggroll_bench.cli.train import (add_after_training_flags, add_compile_cache_flags, apply_compile_cache,
                                     checkpoint_seconds)
from eggroll_bench.sweeps.store import StoreError

_STATUS_ORDER = ("done", "diverged", "failed", "pending")

if TYPE_CHECKING:
    from eggroll_bench.sweeps.executors import ExecutorConfig


def _error(command: str, err: Exception) -> int:
    print(f"eggroll-bench {command}: error: {err}", file=sys.stderr)
    return 2


def executor_settings(args: argparse.Namespace, sweep_file) -> "ExecutorConfig":
    """The sweep file's `[executor]` table, overridden key by key by the command line."""
    from eggroll_bench.sweeps.executors import settings
    from eggroll_bench.sweeps.sweepfile import load_executor_table

    return settings({"kind": args.executor, "workers": args.workers, "address": args.address,
                     "cpus_per_trial": args.ray_cpus_per_trial, "trial_timeout": args.trial_timeout,
                     "devices_per_trial": args.devices_per_trial},
                    load_executor_table(sweep_file))


def run_sweep_command(args: argparse.Namespace) -> int:
    from eggroll_bench.sweeps.executors import ExecutorError
    from eggroll_bench.sweeps.manager import run_sweep
    from eggroll_bench.sweeps.sweepfile import SweepError, load_sweep
    from eggroll_bench.sweeps.trackers import TrackerError, check_tracker

    try:
        sweep = load_sweep(args.file, out=args.out)
        executor = executor_settings(args, args.file)
        minutes = None if args.checkpoint_every is None else checkpoint_seconds(args) / 60
        check_tracker(args.log)
        grouping = group_settings(args)
    except (SweepError, ConfigError, ExecutorError, TrackerError) as err:
        return _error("sweep", err)
    if (code := apply_compile_cache("sweep", args)) is not None:
        return code
    if args.dry_run:
        return dry_run(sweep, grouping["group"], grouping["max_group"])
    try:
        summary = run_sweep(sweep, wait=args.wait, retry_failed=args.retry_failed, isolate=not args.in_process,
                            log=lambda line: print(line, flush=True), executor=executor,
                            save_policies=False if args.no_save else None, checkpoint_every=minutes, tracker=args.log,
                            allow_mixed_versions=args.allow_mixed_versions, **grouping)
    except (StoreError, SweepError, ExecutorError, TrackerError) as err:
        return _error("sweep", err)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished trials are saved in {sweep.out}, and trials in flight keep their last "
              f"checkpoint in {sweep.out / 'checkpoints'}; run the same command to resume", file=sys.stderr)
        return 130
    return summary.exit_status


def dry_run(sweep, group: bool, max_group: int | None) -> int:
    """List every trial, and the compiled calls they would share (pending or not: nothing is read)."""
    from eggroll_bench.sweeps.manager import group_trials

    todo = [(t, t.seeds) for t in sweep.trials]
    jobs = group_trials(todo, max_group) if group else [[item] for item in todo]
    n = 0
    for g, job in enumerate(jobs, 1):
        if len(job) > 1:
            print(f"call {g}: {len(job)} trials in one compile")
        for trial, seeds in job:
            n += 1
            print(f"{'  ' if len(job) > 1 else ''}[{n}/{len(todo)}] {trial.describe()} seeds {list(seeds)} "
                  f"budget {trial.budget:,}")
    print(f"{len(todo)} trials in {len(jobs)} compiled calls -> {sweep.out} (dry run: nothing written)")
    return 0


def group_settings(args: argparse.Namespace) -> dict:
    """`run_sweep`'s grouping keywords; a --max-group below 1 is a `SweepError`, before anything runs."""
    from eggroll_bench.sweeps.sweepfile import SweepError

    if args.max_group is not None and args.max_group < 1:
        raise SweepError(f"--max-group must be >= 1, got {args.max_group}")
    return {"group": not args.no_group, "max_group": args.max_group}


def add_group_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-group", action="store_true",
                   help="train every trial in its own compiled call (default: trials that differ only in traced "
                        "hyperparameters such as lr or sigma train together, one compile for all)")
    p.add_argument("--max-group", type=int, default=None, metavar="N",
                   help="at most N trials per compiled call (default: as many as fit in half the device's memory)")


def status_command(args: argparse.Namespace) -> int:
    from eggroll_bench.sweeps.manager import directory_status
    from eggroll_bench.sweeps.sweepfile import SweepError, load_sweep

    target = Path(args.dir)
    try:
        if target.is_file():  # a sweep file: look at its output directory
            target = load_sweep(target).out
        status = directory_status(target)
    except (SweepError, StoreError, ConfigError) as err:
        return _error("status", err)
    if status.name is None and not status.by_algo:  # neither a sweep's directory nor any finished trial
        return _error("status", f"no results in {status.directory}: no {status.directory / 'sweep.json'} and no "
                                f"finished trials in results.csv (a sweep writes them: `eggroll-bench sweep FILE`)."
                                + _nested_hint(status.directory))
    total = {k: sum(c.get(k, 0) for c in status.by_algo.values()) for k in _STATUS_ORDER}
    if args.json:
        print(json.dumps({"directory": str(status.directory), "sweep": status.name, "sweep_file": status.sweep_file,
                          "by_algo": status.by_algo, "total": total, "running": status.running,
                          "notes": list(status.notes), "failures": list(status.failures)}, indent=2))
        return 0
    known = status.name is not None and not any(n.startswith("cannot") for n in status.notes)
    cols = _STATUS_ORDER if known else _STATUS_ORDER[:3]
    print(f"{status.directory}: sweep {status.name!r} ({status.sweep_file})" if status.name is not None
          else f"{status.directory}:")
    print(f"  {'algo':10s}" + "".join(f"{c:>10s}" for c in cols) + f"{'total':>10s}")
    for algo, counts in sorted(status.by_algo.items()) + [("all", total)]:
        print(f"  {algo:10s}" + "".join(f"{counts.get(c, 0):>10d}" for c in cols)
              + f"{sum(counts.get(c, 0) for c in cols):>10d}")
    if status.running:
        print(f"  running now: {status.running}")
    for note in status.notes:
        print(f"  note: {note}")
    if status.failures:
        print("  failed trials (`eggroll-bench sweep FILE --retry-failed` runs them again):")
        for f in status.failures:
            print(f"    {f['algo']} {f['env']} [{f['trial_id']}]: {f['error'][:300]}")
    return 0


def _nested_hint(directory: Path) -> str:
    """A common slip: `status results/` instead of `status results/<sweep>/`."""
    below = sorted({p.parent.name for pattern in ("*/results.csv", "*/sweep.json") for p in directory.glob(pattern)})
    return f" Results directories below it: {', '.join(below)} (pass one of those)." if below else ""


def add_in_process_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in-process", action="store_true",
                   help="run the trials in this process instead of one fresh process per trial: saves a few "
                        "seconds of start-up per trial, but a native crash (an XLA compile out of memory, a "
                        "segfault) then ends the sweep instead of being recorded as that trial's failure")


def add_executor_flags(p: argparse.ArgumentParser) -> None:
    """Where trials run; each flag overrides the same key of a sweep file's [executor] table."""
    from eggroll_bench.sweeps.executors import CPU_WORKERS_MAX, KINDS

    p.add_argument("--executor", choices=KINDS, default=None,
                   help="local: a pool of trial processes on this machine (default); ray: one Ray task per trial "
                        "(needs the [ray] extra)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="trials at once (local default: the GPUs over --devices-per-trial, each trial seeing "
                        f"one GPU unless that is set; on CPU one per core, at most {CPU_WORKERS_MAX}; ray default: what the "
                        "cluster holds)")
    p.add_argument("--devices-per-trial", type=int, default=None, metavar="D",
                   help="devices each trial sees and is split over (local default: the GPUs over --workers, so "
                        "one worker gets them all; on CPU, forced XLA host devices; ray default: 1 GPU)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="ray: the cluster to use (auto, host:port or ray://host:port); default: start a local "
                        "cluster for this command and stop it after")
    p.add_argument("--ray-cpus-per-trial", type=float, default=None, metavar="C",
                   help="ray, on a cluster without GPUs: CPUs each trial asks for (default 1)")
    p.add_argument("--trial-timeout", type=float, default=None, metavar="MINUTES",
                   help="kill a trial process still running after MINUTES of wall-clock time (start-up and "
                        "compile included) and record the trial as failed, keeping its last checkpoint for "
                        "--retry-failed (default: no limit)")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="run a sweep file's pending trials (resumes by default)",
        description="Run every trial of FILE whose results are not yet in its results directory. "
                    "Resuming is the default: finished trials (final rows in results.csv) are skipped, "
                    "a trial interrupted mid-way continues from its last checkpoint. Exit status 0: all done or "
                    "diverged; 1: some trial failed; 2: bad sweep file or unusable directory.")
    p.add_argument("file", help="sweep file, e.g. sweeps/quick.toml")
    p.add_argument("--out", help="results directory (default: the file's `out`, else results/<name>)")
    p.add_argument("--resume", action="store_true", help="skip finished trials (the default; accepted for clarity)")
    p.add_argument("--retry-failed", action="store_true", help="also re-run trials recorded as failed")
    p.add_argument("--wait", action="store_true", help="if another sweep runs in the directory, wait for it")
    p.add_argument("--dry-run", action="store_true", help="list the trials and exit; writes nothing")
    add_in_process_flag(p)
    add_executor_flags(p)
    add_group_flags(p)
    add_after_training_flags(p, sweep=True)
    add_compile_cache_flags(p)
    p.set_defaults(func=run_sweep_command)

    s = subparsers.add_parser(
        "status", help="done / diverged / failed / pending trials of a results directory",
        description="Count the trials of a results directory by status, per algorithm, and list each failed "
                    "trial with its error. Exit status 0: the counts were printed, whatever the trials' state "
                    "(failed trials included); 2: nothing to report (no such directory, or one with neither "
                    "sweep.json nor finished trials in results.csv) or an unreadable sweep file, with a message "
                    "on stderr.")
    s.add_argument("dir", help="results directory (or a sweep file, for its directory)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=status_command)
