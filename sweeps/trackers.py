"""Optional experiment-tracker logging of finished trials: `--log wandb` / `--log tensorboard`.

Each trial becomes one run per seed in the tracker, holding what the results table holds for it:
every evaluation point (`return_mean`, `return_std`, `wall_s`, against `env_steps` as the step)
and the final row's timings (`compile_s`, `run_s`, `steps_per_s`, `env_steps`, `updates`,
`status`) as summary values; the run is named `<algo>-<env>-<trial_id>-seed<s>` and its config
is the resolved hyperparameters with algo, env, budget, seed and trial_id. Logged from the
`TrainResult` the results rows come from, once the trial's rows are written, in the process that
writes them (the sweep process never imports JAX, and neither does this module).

A trial logged again (`--retry-failed`, or a `train --out` rerun) replaces its runs rather than
adding a second set: each wandb run has a stable id per (results directory, trial, seed) and is
resumed (`resume="allow"`: one run, its summary and config overwritten; the failed attempt logged
no evaluation points, so its history gains none twice), and each TensorBoard run directory is
cleared before its events are written.

wandb runs offline unless the user chose otherwise (`WANDB_MODE` set, e.g. after `wandb login`,
to `online`): nothing leaves the machine by default, and no login is needed. Its files go under
`DIR/wandb/`. TensorBoard event files (tensorboardX) go under `DIR/tensorboard/<run name>/`.
Both need the `[log]` extra (`pip install -e ".[log]"`); a missing package is reported before
any training starts (`check_tracker`).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any, Protocol

from eggroll_bench.algos.result import TrainResult

TRACKERS = ("wandb", "tensorboard")
_PACKAGE = {"wandb": "wandb", "tensorboard": "tensorboardX"}
INSTALL = 'pip install -e ".[log]"'


class TrackerError(ValueError):
    """An unknown tracker, or its package is not installed."""


def check_tracker(name: str | None) -> None:
    """Refuse an unknown tracker or a missing package, before any work."""
    if name is None:
        return
    if name not in TRACKERS:
        raise TrackerError(f"--log {name!r}: unknown tracker; allowed: {', '.join(TRACKERS)}")
    if importlib.util.find_spec(_PACKAGE[name]) is None:
        raise TrackerError(f"--log {name}: the package {_PACKAGE[name]!r} is not installed; install the extra: {INSTALL}")


class Tracker(Protocol):
    def log_trial(self, result: TrainResult, trial_id: str, sweep: str) -> None: ...


def run_name(result: TrainResult, trial_id: str, seed: int) -> str:
    return f"{result.algo}-{result.env}-{trial_id}-seed{seed}"


def run_id(out_dir: str | os.PathLike, trial_id: str, seed: int) -> str:
    """A wandb run id, the same for every attempt at (results directory, trial, seed): the directory
    is part of it, so two directories running the same sweep file do not resume each other's runs."""
    where = hashlib.sha256(str(Path(out_dir).resolve()).encode()).hexdigest()[:8]
    return f"{trial_id}-seed{int(seed)}-{where}"


def _config(result: TrainResult, trial_id: str, sweep: str, seed: int) -> dict[str, Any]:
    return {**result.hparams, "algo": result.algo, "env": result.env, "budget": int(result.budget),
            "seed": int(seed), "trial_id": trial_id, "sweep": sweep, "device": result.device}


def _summary(result: TrainResult, seed) -> dict[str, Any]:
    run_s = result.run_s
    return {"compile_s": result.compile_s, "run_s": run_s,
            "steps_per_s": seed.env_steps / run_s if run_s and run_s > 0 else float("nan"),
            "env_steps": int(seed.env_steps), "updates": int(seed.updates), "status": seed.status,
            "final_return": seed.final.return_mean if seed.final else float("nan")}


class WandbTracker:
    def __init__(self, out_dir: str | os.PathLike):
        os.environ.setdefault("WANDB_MODE", "offline")  # the user's own choice (e.g. online) wins
        os.environ.setdefault("WANDB_SILENT", "true")
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    def init_args(self, result: TrainResult, trial_id: str, sweep: str, seed: int) -> dict[str, Any]:
        """`wandb.init`'s arguments for one seed: a retry of the trial resumes the same run."""
        return {"project": f"eggroll-bench-{sweep}", "name": run_name(result, trial_id, seed), "group": trial_id,
                "config": _config(result, trial_id, sweep, seed), "dir": str(self.dir), "reinit": "create_new",
                "id": run_id(self.dir, trial_id, seed), "resume": "allow"}

    def log_trial(self, result: TrainResult, trial_id: str, sweep: str) -> None:
        import wandb

        for seed in result.seeds:
            run = wandb.init(**self.init_args(result, trial_id, sweep, seed.seed))
            try:
                run.define_metric("env_steps")
                run.define_metric("*", step_metric="env_steps")
                for p in seed.evals:
                    run.log({"env_steps": p.env_steps, "updates": p.updates, "return_mean": p.return_mean,
                             "return_std": p.return_std, "wall_s": p.wall_s})
                run.summary.update(_summary(result, seed))
            finally:
                run.finish(exit_code=0 if seed.status != "failed" else 1)


class TensorboardTracker:
    def __init__(self, out_dir: str | os.PathLike):
        self.dir = Path(out_dir) / "tensorboard"

    def log_trial(self, result: TrainResult, trial_id: str, sweep: str) -> None:
        from tensorboardX import SummaryWriter

        for seed in result.seeds:
            logdir = self.dir / run_name(result, trial_id, seed.seed)
            shutil.rmtree(logdir, ignore_errors=True)  # a retry replaces the run's events, never adds a second set
            with SummaryWriter(logdir=str(logdir)) as writer:
                writer.add_text("config", json.dumps(_config(result, trial_id, sweep, seed.seed), sort_keys=True))
                for p in seed.evals:
                    writer.add_scalar("return_mean", p.return_mean, p.env_steps)
                    writer.add_scalar("return_std", p.return_std, p.env_steps)
                    writer.add_scalar("wall_s", p.wall_s, p.env_steps)
                    writer.add_scalar("updates", p.updates, p.env_steps)
                step = int(seed.env_steps)
                for key, value in _summary(result, seed).items():
                    if isinstance(value, (int, float)):
                        writer.add_scalar(f"final/{key}", value, step)
                writer.add_text("final/status", f"{seed.status} {seed.error}".strip(), step)


def make_tracker(name: str | None, out_dir: str | os.PathLike) -> Tracker | None:
    """The tracker `name` writing under `out_dir` (None: no tracker). Checks it first."""
    check_tracker(name)
    if name is None:
        return None
    return WandbTracker(out_dir) if name == "wandb" else TensorboardTracker(out_dir)
