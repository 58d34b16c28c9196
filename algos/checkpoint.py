"""Resumable trials and saved policies: the hooks the runner's host loop calls.

    hooks = TrialArtifacts(out_dir, (trial_id,), save_policies=True, checkpoint_every_s=600)
    result = runner.train(algo, env, seeds, ..., hooks=hooks)

One `TrialArtifacts` serves one compiled call: one trial (its rows are its seeds), or several
configurations trained together (`train_many`, rows = configuration x seed, one trial id per
configuration; the group's checkpoint is named after its first trial and the number of trials).

The runner calls, on the host, between compiled chunks:

- `hooks.resume(state, row_seeds)` once, with the freshly initialised state: returns the
  `Snapshot` of `DIR/checkpoints/<trial_id>.msgpack` to continue from, or None to start afresh;
- `hooks.after_chunk(state, evals, halted, errors, run_s)` after every chunk: keeps a host copy
  of the whole training state (every seed's `RunnerState`: algorithm state, key, env steps,
  updates) and writes it as the checkpoint once `checkpoint_every_s` run seconds have passed
  since the last one;
- `hooks.finished(state, results)` at the end (one `TrainResult` per configuration, in row
  order): saves each seed's final policy (`algos.policy`).

A checkpoint holds everything the host loop carries (the evaluation points so far, halted seeds
and their errors, run seconds), so a resumed trial continues with the same compiled chunk from
the same state and key: its evaluation points equal an uninterrupted run's. The file is written
atomically and removed by whoever records the trial's results as done or diverged
(`discard_checkpoint`), so such a trial never resumes again; a sweep keeps a failed trial's
checkpoint for its retry (`--retry-failed`). A checkpoint of other trials or seeds than the
run's is ignored (the run starts afresh and replaces it), and so is one written by another
eggroll-bench or library version (`provenance`) unless `allow_mixed_versions`; one that does not
fit the state's shapes or leaf paths is refused with `PolicyError`. For a group, whoever writes
its rows discards `checkpoint_id`.

Objects here are plain picklable data: a sweep sends `TrialArtifacts` to its trial processes.
JAX is imported inside methods only, so the sweep process can call `discard_checkpoint`.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from eggroll_bench.algos.policy import POLICIES_DIR, pack_tree, restore_tree, save_policy, unpack_leaves
from eggroll_bench.files import remove_temps, write_bytes_atomic
from eggroll_bench.plugins import loaded_modules
from eggroll_bench.provenance import differences, provenance
from eggroll_bench.algos.result import EvalPoint, TrainResult

CHECKPOINTS_DIR = "checkpoints"
DEFAULT_CHECKPOINT_MINUTES = 10.0


def checkpoint_path(results_dir: str | os.PathLike, trial_id: str) -> Path:
    return Path(results_dir) / CHECKPOINTS_DIR / f"{trial_id}.msgpack"


def discard_checkpoint(results_dir: str | os.PathLike, trial_id: str) -> None:
    """Remove a trial's checkpoint once its results are written (it must never resume again), and
    that of a group of trials it led (`<trial_id>+<n>`, see `TrialArtifacts.checkpoint_id`), with
    the temp files a killed writer left of either."""
    path = checkpoint_path(results_dir, trial_id)
    for stale in [path, *path.parent.glob(f"{trial_id}+*.msgpack")]:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    for pattern in (path.name, f"{trial_id}+*.msgpack"):
        remove_temps(path.parent, pattern)


def checkpointed_groups(results_dir: str | os.PathLike, first_trial: str) -> list[int]:
    """The sizes (in trials) of the checkpointed groups `first_trial` leads (1: its own checkpoint),
    largest first: `runner.train_group` trains such a group whole again, so that it resumes."""
    path = checkpoint_path(results_dir, first_trial)
    sizes = [1] if path.exists() else []
    for group in path.parent.glob(f"{first_trial}+*.msgpack"):
        extra = group.name[len(first_trial) + 1:-len(".msgpack")]
        if extra.isdigit():
            sizes.append(int(extra) + 1)
    return sorted(sizes, reverse=True)


def checkpoint_minutes(value: Any, field_name: str = "--checkpoint-every") -> float:
    """A checkpoint interval in minutes (0: after every chunk), or a ValueError naming the field."""
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field_name}: expected minutes of run time (a number >= 0), got {value!r}") from None
    if not (minutes >= 0 and np.isfinite(minutes)) or isinstance(value, bool):
        raise ValueError(f"{field_name}: expected minutes of run time (a number >= 0), got {value!r}")
    return minutes


@dataclass
class Snapshot:
    """What the runner's host loop carries between chunks, for every seed."""

    state: Any  # RunnerState, batched over seeds
    evals: list[list[EvalPoint]]
    halted: np.ndarray  # bool per seed
    errors: list[str]
    run_s: float


@dataclass
class TrialArtifacts:
    out_dir: str
    trial_ids: tuple[str, ...]  # one per configuration of the compiled call, in row order
    save_policies: bool = True
    checkpoint_every_s: float | None = DEFAULT_CHECKPOINT_MINUTES * 60  # None: never checkpoint
    log: Callable[[str], None] | None = None  # where to say "resuming from ..." (None: print)
    allow_mixed_versions: bool = False  # resume from a checkpoint another code / library version wrote
    # filled while training (not sent anywhere: a sweep's trial process builds its own copy)
    seeds: tuple[int, ...] = ()
    last: Snapshot | None = field(default=None, repr=False)
    written_run_s: float = 0.0
    checkpoints_written: int = 0
    checkpoint_s: float = 0.0  # wall seconds spent copying state to the host and writing checkpoints
    saved: list[tuple[int, Path, int]] = field(default_factory=list)  # (seed, policy file, bytes)
    resumed_from: Snapshot | None = field(default=None, repr=False)

    @property
    def checkpoint_id(self) -> str:
        ids = tuple(self.trial_ids)
        return ids[0] if len(ids) == 1 else f"{ids[0]}+{len(ids) - 1}"

    @property
    def checkpoint(self) -> Path:
        return checkpoint_path(self.out_dir, self.checkpoint_id)

    def _remove_temps(self) -> None:
        """Temp files a killed writer left of this run's checkpoint and policies: only this run
        writes those files now (a sweep runs a trial once at a time), so none is being written."""
        remove_temps(self.checkpoint.parent, self.checkpoint.name)
        for trial_id in self.trial_ids:
            remove_temps(Path(self.out_dir) / POLICIES_DIR / trial_id)

    def _say(self, line: str) -> None:
        (self.log or print)(line)

    # ---- called by the runner ----------------------------------------------------------------
    def resume(self, state: Any, row_seeds: Sequence[int]) -> Snapshot | None:
        self.seeds = tuple(int(s) for s in row_seeds)
        path = self.checkpoint
        self._remove_temps()
        if self.checkpoint_every_s is None or not path.exists():
            return None
        leaves, meta = unpack_leaves(path.read_bytes(), path)
        held = (tuple(meta.get("trial_ids", ())), tuple(meta.get("seeds", ())))
        if held != (tuple(self.trial_ids), self.seeds):
            # another grouping of trials or other seeds under the same name: its rows cannot be reused
            self._say(f"note: {path} holds trials {list(held[0])} seeds {list(held[1])}, this run trains "
                      f"{list(self.trial_ids)} seeds {list(self.seeds)}: starting afresh (it will be replaced)")
            return None
        if (changed := differences(meta)) and not self.allow_mixed_versions:
            # a trial half trained by other code or libraries would be neither version's result
            self._say(f"note: {path} was written by another version ({'; '.join(changed)}): starting afresh "
                      f"(it will be replaced; --allow-mixed-versions resumes from it)")
            return None
        restored = restore_tree(state, leaves, path, meta.get("leaf_paths"))
        snap = Snapshot(restored, [[EvalPoint(*p) for p in seed_evals] for seed_evals in meta["evals"]],
                        np.asarray(meta["halted"], bool), list(meta["errors"]), float(meta["run_s"]))
        self.written_run_s = snap.run_s
        self.resumed_from = snap
        self._say(f"resuming trial {self.checkpoint_id} from {path} (env steps "
                  f"{', '.join(f'{int(x):,}' for x in np.asarray(restored.env_steps))}, run {snap.run_s:.1f}s so far)")
        return snap

    def after_chunk(self, state: Any, evals: Sequence[Sequence[EvalPoint]], halted: np.ndarray,
                    errors: Sequence[str], run_s: float) -> None:
        if self.checkpoint_every_s is None:
            return
        import jax

        start = time.perf_counter()
        # a host copy each chunk: the next chunk donates `state`, and Ctrl-C must still find one to write
        self.last = Snapshot(jax.device_get(state), [list(e) for e in evals], np.array(halted, bool),
                             list(errors), float(run_s))
        if run_s - self.written_run_s >= self.checkpoint_every_s:
            self.write_checkpoint()
        self.checkpoint_s += time.perf_counter() - start

    def finished(self, state: Any, results: Sequence[TrainResult]) -> None:
        if not self.save_policies:
            return
        import jax

        if len(results) != len(self.trial_ids):
            raise ValueError(f"{len(results)} results for {len(self.trial_ids)} trial ids")
        host = jax.device_get(state)
        self.saved = []
        row = 0
        for trial_id, result in zip(self.trial_ids, results):
            meta = {"algo": result.algo, "env": result.env, "hparams": result.hparams, "budget": int(result.budget),
                    "versions": dict(result.versions), "code_version": result.code_version,
                    "num_agents": result.num_agents, "plugins": list(loaded_modules())}
            for seed in result.seeds:
                algo_state = jax.tree.map(lambda x: x[row], host.algo_state)
                path, size = save_policy(self.out_dir, trial_id, seed.seed, algo_state,
                                         {**meta, "status": seed.status, "env_steps": int(seed.env_steps),
                                          "updates": int(seed.updates),
                                          "final_return": seed.final.return_mean if seed.final else None})
                self.saved.append((seed.seed, path, size))
                row += 1

    # ---- called by the command that owns the run ------------------------------------------------
    def write_checkpoint(self) -> Path | None:
        """Write the last chunk's state now (after Ctrl-C, too); None when no chunk has finished."""
        snap = self.last
        if snap is None:
            return None
        meta = {**provenance(), "trial_ids": list(self.trial_ids), "seeds": list(self.seeds), "run_s": snap.run_s,
                "halted": [bool(h) for h in snap.halted], "errors": list(snap.errors),
                "evals": [[list(_point(p)) for p in seed_evals] for seed_evals in snap.evals]}
        write_bytes_atomic(self.checkpoint, pack_tree(snap.state, meta))
        self.written_run_s = snap.run_s
        self.checkpoints_written += 1
        return self.checkpoint

    def partial_result(self, algo: str, env: str, hparams: dict, budget: int, device: str = "",
                       versions: dict | None = None) -> TrainResult | None:
        """A single trial's evaluation points finished so far, every seed `interrupted` (None: no
        chunk finished). Its rows must be written without final rows: the trial is not finished."""
        from eggroll_bench.algos.result import SeedResult

        snap = self.last
        if snap is None:
            return None
        steps = np.asarray(snap.state.env_steps)
        updates = np.asarray(snap.state.updates)
        seeds = tuple(SeedResult(s, "interrupted", "interrupted by the user; rerun the same command to resume",
                                 int(steps[i]), int(updates[i]), tuple(snap.evals[i]))
                      for i, s in enumerate(self.seeds))
        return TrainResult(algo, env, dict(hparams), int(budget), seeds, float("nan"), snap.run_s, device,
                           dict(versions or {}))


def _point(p: EvalPoint) -> tuple:
    return (int(p.env_steps), int(p.updates), float(p.return_mean), float(p.return_std), float(p.wall_s))
