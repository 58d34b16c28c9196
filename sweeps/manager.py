"""Run a sweep's pending trials into its results directory; report its status; pick tune winners.

Resume is the only behaviour: a (trial, seed) is finished iff its final row is in results.csv,
and a run executes every trial with an unfinished seed. Rows of a trial are written in one atomic
replace after the trial ends, so a killed sweep loses at most the trials in flight.

Outcomes: `failed` (the training call raised, or with `isolate` its process died) is recorded with
its error, the sweep goes on, and the exit status is 1. `diverged` (non-finite parameters or
returns, reported by the runner) is a result about the configuration, not a fault of the run:
recorded, exit status unaffected, and a diverged trial is never chosen as a tune winner.
`--retry-failed` re-runs failed trials (their old rows are replaced, never duplicated). A trial's
checkpoint is discarded once it is recorded done or diverged; a failed trial keeps its checkpoint,
so that its retry resumes from there (a failure is mostly the process's: killed, out of memory, a
lost Ray node, its time limit) instead of from step 0.

`isolate=True` runs each trial in a fresh process (`sweeps.isolation`), on the executor chosen
(`sweeps.executors`: up to N local trial processes at once, or Ray tasks): an XLA compile that
runs out of memory or a segfault is then one failed trial instead of the end of the sweep. The
results come back to this process, the only writer of the directory, so several trials at once
change nothing of the above. In process, the compiled functions of a finished trial are released
before the next one starts, so that a long sweep does not accumulate every trial's executables.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from eggroll_bench.algos.checkpoint import DEFAULT_CHECKPOINT_MINUTES, TrialArtifacts, discard_checkpoint
from eggroll_bench.algos.compile_cache import ENV_VAR as CACHE_ENV_VAR
from eggroll_bench.algos.host_memory import MEMORY_ENV_VAR as HOST_MEMORY_ENV_VAR
from eggroll_bench.algos.config import static_part
from eggroll_bench.algos.registry import config_class
from eggroll_bench.plugins import loaded_modules
from eggroll_bench.sweeps.executors import ExecutorConfig, ExecutorError, make_executor
from eggroll_bench.sweeps.isolation import TrialCrashed, TrialRaised, resolve_train
from eggroll_bench.sweeps.store import (MANIFEST_FILE, ResultsStore, SweepLock, check_owner, failed_result, lock_holder,
                          read_manifest, rows_from_result, write_manifest)
from eggroll_bench.sweeps.best import BEST_FILE, write_best
from eggroll_bench.sweeps.sweepfile import Sweep, SweepError, Trial, load_sweep
from eggroll_bench.sweeps.trackers import make_tracker
from eggroll_bench.sweeps.versions import check_versions

TrainFn = Callable[..., Any]  # algos.runner.train's signature


@dataclass(frozen=True)
class RunSummary:
    ran: int  # trials run by this call
    skipped: int  # trials already finished before it
    counts: dict[str, int]  # the sweep's trials by status after it (earlier runs included)

    @property
    def exit_status(self) -> int:
        """1 if any of the sweep's trials is recorded as failed (diverged is a result, not a failure)."""
        return 1 if self.counts["failed"] else 0


def trial_status(statuses: dict[int, str], seeds: tuple[int, ...] | None = None) -> str:
    """One trial's status from its seeds' final-row statuses: pending < failed < diverged < done."""
    if seeds is not None and any(s not in statuses for s in seeds):
        return "pending"
    values = set(statuses.values())
    for status in ("failed", "diverged"):
        if status in values:
            return status
    return "done"


def _pending_seeds(trial: Trial, finished: dict[str, dict[int, str]], retry_failed: bool) -> tuple[int, ...]:
    have = finished.get(trial.trial_id, {})
    return tuple(s for s in trial.seeds if s not in have or (retry_failed and have[s] == "failed"))


Job = list[tuple[Trial, tuple[int, ...]]]  # trials trained in one compiled call, with their pending seeds
TRAIN_GROUP = "eggroll_bench.algos.runner:train_group"  # named, not imported: this process never loads JAX


def group_key(trial: Trial, seeds: tuple[int, ...]) -> tuple:
    """What trials must share to train in one compiled call: algorithm, task, budget, seeds and
    every static hyperparameter (their traced ones become per-row data)."""
    static = static_part(config_class(trial.algo)(**trial.hparams))  # hparams are the resolved fields
    return trial.algo, trial.env, trial.budget, tuple(seeds), tuple(sorted(static.items()))


def group_trials(todo: list[tuple[Trial, tuple[int, ...]]], max_group: int | None = None) -> list[Job]:
    """`todo` as jobs: trials with one group key together (in first-seen order), at most
    `max_group` a job; the runner may split a job further to fit the device's memory."""
    if max_group is not None and max_group < 1:
        raise SweepError(f"--max-group must be >= 1, got {max_group}")
    groups: dict[tuple, Job] = {}
    for trial, seeds in todo:
        groups.setdefault(group_key(trial, seeds), []).append((trial, seeds))
    size = max_group or max(len(todo), 1)
    return [g[i:i + size] for g in groups.values() for i in range(0, len(g), size)]


def job_env_steps(job: Job) -> int:
    """The env steps a job trains: every trial's budget times its pending seeds."""
    return sum(trial.budget * len(seeds) for trial, seeds in job)


def longest_first(jobs: list[Job]) -> list[int]:
    """The order a pool starts `jobs` in: most env steps first, the file's order among equals.

    With several workers, a long job started last runs on while the other workers sit idle (the
    quick sweep's PPO on MPE, its longest, ran alone for its last two minutes in file order). Env
    steps stand in for run time: nothing else is known about a job before it runs."""
    return sorted(range(len(jobs)), key=lambda i: -job_env_steps(jobs[i]))


def _fmt_s(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def run_sweep(sweep: Sweep, *, wait: bool = False, retry_failed: bool = False, train: TrainFn | None = None,
              isolate: bool = False, log: Callable[[str], None] = print,
              executor: ExecutorConfig | None = None, save_policies: bool | None = None,
              checkpoint_every: float | None = None, tracker: str | None = None, group: bool = True,
              max_group: int | None = None, allow_mixed_versions: bool = False) -> RunSummary:
    """Run every pending trial of `sweep`, holding the directory's lock throughout.

    `train` defaults to `algos.runner.train`; with `isolate` it must be a module-level function
    (the child process imports it). With `isolate`, `executor` says where the trial processes run
    (`sweeps.executors`: a local pool of `workers`, or Ray, with an optional `trial_timeout`); this
    process alone writes the results.

    With the runner's `train`, each trial saves its seeds' final policies under `DIR/policies/`
    (`save_policies`, default: the sweep file's `save_policies`) and checkpoints its training state
    every `checkpoint_every` minutes of run time (default: the file's, else 10) under
    `DIR/checkpoints/`, resuming from it when the sweep runs again; `tracker` ("wandb" /
    "tensorboard") also logs each recorded trial there (`sweeps.trackers`).

    With the runner (`train` None) and `group`, pending trials that differ only in traced
    hyperparameters train together in one compiled call per job (`group_trials`, at most
    `max_group` each); every trial's rows are still written on their own, as it is recorded.

    Finished trials produced by another eggroll-bench or library version (`sweeps.versions`) are
    listed and refused (`MixedVersionsError`, before anything runs) unless `allow_mixed_versions`,
    which also lets a trial resume from a checkpoint another version wrote.

    Raises `StoreError` (another sweep's directory, or locked), `ExecutorError` (bad executor
    settings, no Ray, unreachable address) or `TrackerError` before anything in the directory is touched.
    """
    settings = executor or ExecutorConfig()
    if not isolate and (settings.kind != "local" or (settings.workers or 1) > 1):
        raise ExecutorError("--in-process runs one trial at a time in the sweep's own process; drop it to run "
                            "trials in parallel (--workers / --executor ray)")
    if not isolate and settings.trial_timeout is not None:
        raise ExecutorError("--in-process cannot stop a trial at trial_timeout (only a trial process can be "
                            "killed); drop --in-process or the time limit")
    if not isolate and settings.devices_per_trial is not None:
        raise ExecutorError("--in-process trains on every device the sweep process sees; devices_per_trial is "
                            "set for trial processes, before they start JAX: drop --in-process or devices_per_trial")
    check_owner(sweep.out, sweep.name)  # read-only: refuse before creating anything
    logger = make_tracker(tracker, sweep.out)
    after = _after_training(sweep, train, save_policies, checkpoint_every)
    if after is not None:
        after["allow_mixed_versions"] = allow_mixed_versions
    grouped = group and train is None
    if max_group is not None and max_group < 1:
        raise SweepError(f"--max-group must be >= 1, got {max_group}")
    job_fn = TRAIN_GROUP if grouped else train
    pool = make_executor(settings, job_fn, _trial_env(), loaded_modules(), sweep.out) if isolate else None
    try:
        with SweepLock(sweep.out, wait=wait, log=log):
            manifest = check_owner(sweep.out, sweep.name)  # again, now that nobody else can write
            store = ResultsStore(sweep.out)
            finished = store.finished()
            todo = [(t, seeds) for t in sweep.trials if (seeds := _pending_seeds(t, finished, retry_failed))]
            if todo:  # with nothing to run, nothing can mix
                check_versions(store, (t.trial_id for t in sweep.trials), allow_mixed_versions, log)
            _record_manifest(sweep, manifest, log)
            skipped = len(sweep.trials) - len(todo)
            log(f"sweep {sweep.name}: {len(sweep.trials)} trials x {len(sweep.seeds)} seeds, {skipped} "
                f"already finished, {len(todo)} to run -> {sweep.out}")
            progress = _Progress(len(sweep.trials), skipped, len(todo), log)
            jobs = group_trials(todo, max_group) if grouped else [[item] for item in todo]
            if len(jobs) < len(todo):
                log(f"{len(todo)} trials in {len(jobs)} compiled calls (trials differing only in traced "
                    f"hyperparameters train together; --no-group runs one at a time)")
            if pool is None:
                fn = resolve_train(job_fn) if todo else None
                for job in jobs:
                    for trial, seeds in job:
                        progress.started(trial, seeds)
                    results = _run_job_here(fn, job, grouped, log, after, max_group)
                    for (trial, _), result in zip(job, results):
                        progress.ended()
                        _record(store, sweep, trial, result, progress, logger)
            elif todo:
                _run_pool(pool, jobs, grouped, store, sweep, progress, log, after, logger, max_group)
            if sweep.mode == "tune":
                best = select_best(sweep, store.read())
                write_best(sweep.out, best)
                log(f"best configurations -> {sweep.out / BEST_FILE} ({len(best['choices'])} chosen)")
            store.consolidate()  # trial files -> one file (fast loads), and the results.csv export
            counts = count_statuses(sweep, store.finished())
            log("sweep {}: {}".format(sweep.name, ", ".join(f"{v} {k}" for k, v in counts.items())))
            return RunSummary(ran=len(todo), skipped=skipped, counts=counts)
    finally:
        if pool is not None:
            pool.close()


def _trial_env() -> dict[str, str]:
    """The settings a trial process must share with this one (set before it starts JAX). A local
    pool adds how many trial processes share the host's memory (`LocalPool`, `algos.host_memory`)."""
    return {k: os.environ[k] for k in (CACHE_ENV_VAR, HOST_MEMORY_ENV_VAR) if k in os.environ}


def _after_training(sweep: Sweep, train: TrainFn | None, save_policies: bool | None,
                    checkpoint_every: float | None) -> dict[str, Any] | None:
    """What each trial's `TrialArtifacts` is built from; None for a `train` that is not the runner's
    (a test's stand-in takes no hooks)."""
    if train is not None and getattr(train, "__module__", None) != "eggroll_bench.algos.runner":
        return None
    minutes = next(m for m in (checkpoint_every, sweep.checkpoint_every, DEFAULT_CHECKPOINT_MINUTES) if m is not None)
    # absolute: a trial process (a Ray worker above all) need not share this process's working directory
    return {"out_dir": str(sweep.out.resolve()), "checkpoint_every_s": float(minutes) * 60,
            "save_policies": sweep.save_policies if save_policies is None else bool(save_policies)}


def _job_call(job: Job, grouped: bool, progress: bool, after: dict[str, Any] | None,
              max_group: int | None) -> tuple[tuple, dict[str, Any]]:
    """The (args, kwargs) of one job: `train_group` over its trials, or `train` of its one trial."""
    first, seeds = job[0]
    kwargs: dict[str, Any] = {"total_steps": first.budget, "progress": progress}
    if after is not None:
        kwargs["hooks"] = TrialArtifacts(trial_ids=tuple(t.trial_id for t, _ in job), **after)
    if grouped:
        return (first.algo, first.env, seeds, [dict(t.hparams) for t, _ in job]), {**kwargs, "max_group": max_group}
    return (first.algo, first.env, seeds), {**kwargs, "overrides": dict(first.hparams)}


def _outcomes(job: Job, grouped: bool, outcome: Any, log) -> list:
    """One result per trial of the job; a job that raised or died fails each of its trials."""
    if isinstance(outcome, (TrialRaised, TrialCrashed)):
        return [_failed(trial, seeds, outcome, log) for trial, seeds in job]
    return list(outcome) if grouped else [outcome]


def _run_pool(pool, jobs: list[Job], grouped: bool, store: ResultsStore, sweep: Sweep, progress: "_Progress", log,
              after=None, logger=None, max_group: int | None = None) -> None:
    """Keep the pool's slots busy, starting jobs longest first; record each trial as its job ends (this
    process is the only writer)."""
    pool.start()
    log(f"trials run on: {pool.describe()}")
    queue = [(i, jobs[i]) for i in longest_first(jobs)]
    bars = pool.slots == 1  # several trials' progress bars at once would only garble the log
    while queue or pool.running:
        while queue and pool.running < pool.slots:
            i, job = queue.pop(0)
            for trial, seeds in job:
                progress.started(trial, seeds)
            pool.submit(i, *_job_call(job, grouped, bars, after, max_group))
        for i, outcome in pool.wait():
            job = jobs[i]
            for (trial, _), result in zip(job, _outcomes(job, grouped, outcome, log)):
                progress.ended()
                _record(store, sweep, trial, result, progress, logger)


def _record(store: ResultsStore, sweep: Sweep, trial: Trial, result, progress: "_Progress", logger=None) -> None:
    rows = rows_from_result(result, sweep=sweep.name, trial_id=trial.trial_id, suite=trial.suite,
                            random_return=trial.random_return)
    store.append(rows)
    status = trial_status({s.seed: s.status for s in result.seeds})
    if status != "failed":  # done or diverged: the trial never resumes again
        discard_checkpoint(sweep.out, trial.trial_id)
    # a failed trial keeps it (a killed process, a lost Ray node, a time limit): --retry-failed resumes there
    if logger is not None:
        logger.log_trial(result, trial.trial_id, sweep.name)
    progress.recorded(trial, result, status)


def _failed(trial: Trial, seeds: tuple[int, ...], err: Exception, log):
    details = err.child_traceback if isinstance(err, TrialRaised) else str(err)
    log(f"    {trial.describe()}:\n    " + details.rstrip().replace("\n", "\n    "))
    return failed_result(trial.algo, trial.env, trial.hparams, trial.budget, seeds, str(err))


def _run_job_here(fn: TrainFn, job: Job, grouped: bool, log: Callable[[str], None],
                  after: dict[str, Any] | None = None, max_group: int | None = None) -> list:
    """One job in this process (`--in-process`): one result per trial, failures recorded."""
    args, kwargs = _job_call(job, grouped, True, after, max_group)
    try:
        try:
            return _outcomes(job, grouped, fn(*args, **kwargs), log)
        finally:
            _release_compiled(fn)
    except Exception as err:  # noqa: BLE001 — any fault of one job is recorded; the sweep goes on
        tb = traceback.extract_tb(err.__traceback__)
        where = f" (at {tb[-1].filename}:{tb[-1].lineno})" if tb else ""
        log("    " + "".join(traceback.format_exception(err)).rstrip().replace("\n", "\n    "))
        return [failed_result(trial.algo, trial.env, trial.hparams, trial.budget, seeds,
                              f"{type(err).__name__}: {err}{where}") for trial, seeds in job]


def _release_compiled(train: TrainFn) -> None:
    """Drop the runner's compiled functions once a trial is over (a sweep's trials never share them)."""
    if getattr(train, "__module__", None) == "eggroll_bench.algos.runner":  # a test's fake train compiles nothing
        from eggroll_bench.algos import runner

        runner.release_compiled()


class _Progress:
    """The sweep's log lines: each trial as it starts, and after each, trials done / running / failed /
    pending with an ETA from this run's throughput (finished trials per second, so it holds for
    several trials at once)."""

    def __init__(self, total: int, skipped: int, todo: int, log: Callable[[str], None]):
        self.total, self.skipped, self.todo, self.log = total, skipped, todo, log
        self.submitted = self.running = self.ended_ok = self.failed = 0
        self.t0 = time.monotonic()

    def started(self, trial: Trial, seeds: tuple[int, ...]) -> None:
        self.submitted += 1
        self.running += 1
        self.log(f"[{self.skipped + self.submitted}/{self.total}] {trial.describe()} seeds {list(seeds)} "
                 f"budget {trial.budget:,}")

    def ended(self) -> None:
        self.running -= 1

    def recorded(self, trial: Trial, result, status: str) -> None:
        if status == "failed":
            self.failed += 1
        else:
            self.ended_ok += 1
        finals = [s.final.return_mean for s in result.seeds if s.final is not None]
        ret = f"return {sum(finals) / len(finals):.2f}" if finals else "no evaluation"
        errors = {s.error for s in result.seeds if s.error}
        why = f" ({'; '.join(sorted(errors))[:300]})" if errors else ""
        elapsed = time.monotonic() - self.t0
        ran = self.ended_ok + self.failed
        left = self.todo - ran
        eta = elapsed / ran * left if ran else 0.0
        self.log(f"    {trial.describe()} {status}{why}: {ret}, compile {result.compile_s:.1f}s "
                 f"run {result.run_s:.1f}s | {self.skipped + self.ended_ok} done, {self.running} running, "
                 f"{self.failed} failed, {self.todo - self.submitted} pending | elapsed {_fmt_s(elapsed)}, "
                 f"{left} left, ETA {_fmt_s(eta)}")


def _record_manifest(sweep: Sweep, manifest: dict | None, log) -> None:
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    source = str(sweep.source.resolve())
    if manifest and manifest.get("sha256") != sweep.sha256:
        # Same sweep name, edited file: finished trials whose config did not change are kept
        # (their ids are unchanged); the rest run now. Old hashes are kept for the record.
        log(f"note: {sweep.source} changed since this directory was last run; finished trials whose "
            f"configuration is unchanged are kept")
    history = list((manifest or {}).get("history", []))
    if manifest and manifest.get("sha256") != sweep.sha256:
        history.append({"sha256": manifest.get("sha256"), "sweep_file": manifest.get("sweep_file"),
                        "updated": manifest.get("updated")})
    write_manifest(sweep.out, {
        "name": sweep.name, "sweep_file": source, "sha256": sweep.sha256, "mode": sweep.mode,
        "created": (manifest or {}).get("created", now), "updated": now, "trials": len(sweep.trials),
        "seeds": list(sweep.seeds), "history": history,
    })


def count_statuses(sweep: Sweep, finished: dict[str, dict[int, str]], by_algo: bool = False) -> dict:
    """{'done': n, 'diverged': n, 'failed': n, 'pending': n} over the sweep's trials (or per algo)."""
    out: dict[str, dict[str, int]] = {}
    for trial in sweep.trials:
        key = trial.algo if by_algo else "all"
        counts = out.setdefault(key, {"done": 0, "diverged": 0, "failed": 0, "pending": 0})
        counts[trial_status(finished.get(trial.trial_id, {}), trial.seeds)] += 1
    return out if by_algo else out.get("all", {"done": 0, "diverged": 0, "failed": 0, "pending": 0})


def select_best(sweep: Sweep, results: pd.DataFrame) -> dict[str, Any]:
    """Per (algo, task): the trial with the highest mean over seeds of its final return.

    Only trials whose every seed is `done` with a finite final return compete, so a diverged or
    failed configuration is never chosen; pairs with no such trial are listed under `missing`. The
    mean is over exactly the trial's current seeds: rows of seeds a sweep file no longer lists
    (kept in the table) are left out.
    """
    final = results[results["row_type"] == "final"]
    by_trial = {tid: group for tid, group in final.groupby("trial_id")}
    choices, missing = [], []
    for algo in sweep.algos:
        for env in sweep.tasks:
            candidates = [t for t in sweep.trials if t.algo == algo and t.env == env]
            scored = []
            for t in candidates:
                rows = by_trial.get(t.trial_id)
                if rows is None:
                    continue
                # exactly the trial's seeds: rows of seeds the sweep no longer lists are not averaged in
                rows = rows[rows["seed"].astype(int).isin(t.seeds)]
                if set(rows["seed"].astype(int)) != set(t.seeds):
                    continue
                returns = rows["return_mean"].astype(float)
                if (rows["status"] == "done").all() and returns.map(math.isfinite).all():
                    scored.append((float(returns.mean()), t))
            if not scored:
                missing.append({"algo": algo, "env": env, "candidates": len(candidates)})
                continue
            score, t = max(scored, key=lambda x: x[0])
            choices.append({"algo": algo, "env": env, "trial_id": t.trial_id, "final_return": score,
                            "seeds": list(t.seeds), "candidates": len(candidates), "eligible": len(scored),
                            "varied": dict(t.varied), "hparams": dict(t.hparams), "budget": t.budget})
    return {"sweep": sweep.name, "sweep_file": str(sweep.source), "sha256": sweep.sha256,
            "metric": "mean over seeds of the final evaluation's return_mean", "choices": choices,
            "missing": missing}


@dataclass(frozen=True)
class DirStatus:
    directory: Path
    name: str | None  # the sweep's name (None for a lone `train --out` directory)
    sweep_file: str | None
    by_algo: dict[str, dict[str, int]]  # algo -> status -> trials
    notes: tuple[str, ...]
    running: str | None  # the lock holder, if a sweep is running now
    failures: tuple[dict[str, str], ...] = ()  # one per failed trial: trial_id, algo, env, error


def directory_status(directory: str | os.PathLike) -> DirStatus:
    """Trial counts of a results directory; pending needs the sweep file named in sweep.json."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SweepError(f"{directory}: no such results directory")
    manifest = read_manifest(directory)
    store = ResultsStore(directory)
    finished = store.finished() if store.path.exists() else {}
    notes: list[str] = []
    sweep = None
    if manifest is not None:
        try:
            sweep = load_sweep(manifest["sweep_file"], out=directory)
            if sweep.sha256 != manifest.get("sha256"):
                notes.append(f"{manifest['sweep_file']} changed since the last run; "
                             f"pending counts use the current file")
        except SweepError as err:
            notes.append(f"cannot count pending trials: {err}")
    else:
        notes.append(f"no {MANIFEST_FILE}: not a sweep directory; pending trials unknown")
    if sweep is not None:
        by_algo = count_statuses(sweep, finished, by_algo=True)
        extra = set(finished) - {t.trial_id for t in sweep.trials}
        if extra:
            notes.append(f"{len(extra)} trials in results.csv are no longer in the sweep file (kept, not counted)")
    else:
        by_algo = _count_without_sweep(store, finished)
    return DirStatus(directory, manifest["name"] if manifest else None,
                     manifest.get("sweep_file") if manifest else None, by_algo, tuple(notes), lock_holder(directory),
                     _failures(store, finished))


def _failures(store: ResultsStore, finished: dict[str, dict[int, str]]) -> tuple[dict[str, str], ...]:
    """The recorded error of each failed trial (its seeds share one training call, so one error)."""
    failed = {tid for tid, statuses in finished.items() if "failed" in statuses.values()}
    if not failed:
        return ()
    table = store.read()
    rows = table[(table["row_type"] == "final") & (table["status"] == "failed") & table["trial_id"].isin(failed)]
    rows = rows.drop_duplicates("trial_id")
    return tuple({"trial_id": r.trial_id, "algo": r.algo, "env": r.env, "error": str(r.error)}
                 for r in rows.itertuples())


def _count_without_sweep(store: ResultsStore, finished: dict[str, dict[int, str]]) -> dict[str, dict[str, int]]:
    table = store.read()
    algo_of = dict(zip(table["trial_id"], table["algo"]))
    out: dict[str, dict[str, int]] = {}
    for tid, statuses in finished.items():
        counts = out.setdefault(algo_of.get(tid, "?"), {"done": 0, "diverged": 0, "failed": 0})
        counts[trial_status(statuses)] += 1
    return out
