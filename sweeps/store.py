"""One results directory: `results.csv` (atomic appends), the sweep lock and the `sweep.json` manifest.

Usable without a sweep file: `eggroll-bench train --out DIR` calls `record_result(DIR, result)`.

Crash safety. `results.csv` is only ever replaced whole: existing rows + new rows are written to a
temporary file in the same directory, fsynced, then `os.replace`d over the old file (atomic on
POSIX). A SIGKILL at any moment therefore leaves either the old table or the new one, never half a
trial. A short-lived `.write.lock` serialises the read-append-replace of concurrent writers (two
`train --out` processes on one directory); the sweep-long `.lock` (`SweepLock`) keeps a second
sweep process out of the directory altogether.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import math
import os
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pandas as pd

from eggroll_bench.algos.result import SeedResult, TrainResult
from eggroll_bench.sweeps.schema import COLUMNS, SCHEMA_VERSION

RESULTS_FILE = "results.csv"
MANIFEST_FILE = "sweep.json"
LOCK_FILE = ".lock"  # held by a running sweep for its whole run
WRITE_LOCK_FILE = ".write.lock"  # held while results.csv is being rewritten
_TMP_PREFIX = ".results.csv."
_TMP_SUFFIX = ".tmp"


class StoreError(RuntimeError):
    """The results directory cannot be used as asked (another sweep's, locked, bad schema)."""


class LockHeld(StoreError):
    """Another process is running a sweep in this directory."""


def trial_id(algo: str, env: str, budget: int, hparams: Mapping[str, Any]) -> str:
    """Stable id of a resolved trial config: short sha256 of its canonical JSON (seeds excluded).

    Keys are sorted, so the id does not depend on the order anything was written in; the
    hyperparameters are the *resolved* ones, so spelling a default out or leaving it implicit
    gives the same id.
    """
    payload = {"algo": algo, "env": env, "budget": int(budget), "hparams": dict(hparams)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


def rows_from_result(result: TrainResult, *, sweep: str, trial_id: str, suite: str,
                     random_return: float | None) -> list[dict[str, Any]]:
    """The rows of one finished trial: every seed's eval rows, then one final row per seed.

    `compile_s` and `run_s` belong to the whole call (the seeds ran together, vmapped), so every
    seed's final row carries the same values; `steps_per_s` is that seed's env steps / run_s, so the
    sum over a trial's seeds is the throughput of the call.
    """
    common = {
        "schema_version": SCHEMA_VERSION, "sweep": sweep, "trial_id": trial_id, "algo": result.algo,
        "env": result.env, "suite": suite, "num_agents": result.num_agents,
        "hparams": json.dumps(result.hparams, sort_keys=True), "budget": int(result.budget),
        "random_return": _num(random_return), "versions": json.dumps(dict(result.versions), sort_keys=True),
        "device": result.device, "timestamp": _now(),
    }
    run_s = _num(result.run_s)
    rows: list[dict[str, Any]] = []
    for seed in result.seeds:
        for point in seed.evals:
            rows.append({**common, "row_type": "eval", "seed": int(seed.seed), "env_steps": int(point.env_steps),
                         "updates": int(point.updates), "return_mean": float(point.return_mean),
                         "return_std": float(point.return_std), "wall_s": float(point.wall_s),
                         "status": seed.status, "error": ""})
        last = seed.final
        rows.append({**common, "row_type": "final", "seed": int(seed.seed), "env_steps": int(seed.env_steps),
                     "updates": int(seed.updates),
                     "return_mean": float(last.return_mean) if last else None,
                     "return_std": float(last.return_std) if last else None,
                     "wall_s": float(last.wall_s) if last else None,
                     "compile_s": _num(result.compile_s), "run_s": run_s,
                     "steps_per_s": seed.env_steps / run_s if run_s and run_s > 0 else None,
                     "status": seed.status, "error": seed.error})
    return [{c: row.get(c) for c in COLUMNS} for row in rows]


def failed_result(algo: str, env: str, hparams: Mapping[str, Any], budget: int, seeds: Sequence[int],
                  error: str) -> TrainResult:
    """A `TrainResult` for a trial whose training call raised: every seed failed with `error`."""
    return TrainResult(algo=algo, env=env, hparams=dict(hparams), budget=int(budget),
                       seeds=tuple(SeedResult(int(s), "failed", error, 0, 0, ()) for s in seeds),
                       compile_s=math.nan, run_s=math.nan, device="", versions={})


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text`: temp file in the same directory, fsync, `os.replace`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
    try:
        os.fchmod(fd, _file_mode(path))  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


class ResultsStore:
    """`results.csv` of one directory. Rows are keyed by (trial_id, seed): appending rows of a key
    that is already present replaces that key's rows (a retried trial), so no key is ever doubled."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.path = self.directory / RESULTS_FILE

    def read(self) -> pd.DataFrame:
        """The table with typed columns (empty, with every column, when nothing is written yet)."""
        if not self.path.exists():
            return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
        # trial ids are hex: an all-digit or "12e4..." id must not turn into a number
        return pd.read_csv(self.path, dtype={"trial_id": str, "sweep": str, "error": str})

    def _read_raw(self) -> pd.DataFrame:
        # Strings in, strings out: rewriting the table never reformats rows already written.
        if not self.path.exists():
            return pd.DataFrame(columns=list(COLUMNS), dtype=object)
        raw = pd.read_csv(self.path, dtype=str, keep_default_na=False)
        if tuple(raw.columns) != COLUMNS:
            raise StoreError(f"{self.path}: columns {list(raw.columns)} are not schema version {SCHEMA_VERSION}'s "
                             f"{list(COLUMNS)}; write to a new directory")
        return raw

    def finished(self) -> dict[str, dict[int, str]]:
        """trial_id -> {seed: status} for every (trial, seed) with a final row."""
        if not self.path.exists():
            return {}
        raw = self._read_raw()
        final = raw[raw["row_type"] == "final"]
        out: dict[str, dict[int, str]] = {}
        for tid, seed, status in zip(final["trial_id"], final["seed"], final["status"]):
            out.setdefault(tid, {})[int(seed)] = status
        return out

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Add one trial's rows in a single atomic replace of results.csv."""
        if not rows:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        new = pd.DataFrame([{c: row.get(c) for c in COLUMNS} for row in rows], columns=list(COLUMNS), dtype=object)
        keys = {(str(r["trial_id"]), str(r["seed"])) for r in rows}
        with _flock(self.directory / WRITE_LOCK_FILE):
            self._remove_stale_temps()
            old = self._read_raw()
            if len(old):
                stale = [(t, s) in keys for t, s in zip(old["trial_id"], old["seed"])]
                old = old[[not x for x in stale]]
            table = pd.concat([old, new], ignore_index=True) if len(old) else new
            write_atomic(self.path, table.to_csv(index=False, na_rep=""))

    def _remove_stale_temps(self) -> None:
        # Called under the write lock: any temp file now present was left by a killed writer.
        for tmp in self.directory.glob(f"{_TMP_PREFIX}*{_TMP_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


class SweepLock:
    """`fcntl.flock` on `DIR/.lock` for a whole sweep run; the file names the holder (pid, host).

    flock is released by the kernel when the holder dies, so a SIGKILLed sweep never leaves a
    stale lock behind; the pid text is only informative.
    """

    def __init__(self, directory: str | os.PathLike, *, wait: bool = False, log=print):
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self.wait = wait
        self.log = log
        self._fd: int | None = None

    def __enter__(self) -> "SweepLock":
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: keep the holder's pid readable
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock_holder(self.directory) or "unknown pid"
            if not self.wait:
                os.close(fd)
                raise LockHeld(f"{self.directory} is in use by another sweep ({holder}); wait for it to finish "
                               f"or pass --wait to start when it does") from None
            self.log(f"waiting for the sweep running in {self.directory} ({holder}) to finish...")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def lock_holder(directory: str | os.PathLike) -> str | None:
    """'pid N on HOST since T' if a process holds DIR's sweep lock now, else None. Never creates files."""
    path = Path(directory) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None  # nobody holds it
        except BlockingIOError:
            pass
        text = os.read(fd, 4096).decode(errors="replace")
    finally:
        os.close(fd)
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on {info['host']} since {info['since']}"
    except (ValueError, KeyError, TypeError):
        return "pid unknown (the holder has not written it yet)"


def read_manifest(directory: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(directory) / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except ValueError as err:
        raise StoreError(f"{path}: not valid JSON ({err}); this directory's owner is unknown") from None
    if not isinstance(manifest, dict) or "name" not in manifest:
        raise StoreError(f"{path}: has no sweep 'name'; this directory's owner is unknown")
    return manifest


def check_owner(directory: str | os.PathLike, sweep: str) -> dict[str, Any] | None:
    """Refuse a directory that holds another sweep's (or a lone run's) results; read-only.

    Returns the existing manifest (None for a new or empty directory).
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest is not None and manifest["name"] != sweep:
        raise StoreError(f"{directory / MANIFEST_FILE}: {directory} holds the results of sweep "
                         f"{manifest['name']!r} (from {manifest.get('sweep_file', '?')}), not {sweep!r}; "
                         f"set another output directory (`out = ...` in the sweep file, or --out)")
    if manifest is None and (directory / RESULTS_FILE).exists():
        raise StoreError(f"{directory / RESULTS_FILE} exists but {directory} has no {MANIFEST_FILE}: it holds results "
                         f"not written by a sweep (e.g. `eggroll-bench train --out`); set another output directory")
    return manifest


def write_manifest(directory: str | os.PathLike, manifest: Mapping[str, Any]) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / MANIFEST_FILE, json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n")


def record_result(out_dir: str | os.PathLike, result: TrainResult, *, sweep: str = "train",
                  trial: str | None = None) -> str:
    """Append one `TrainResult` to `out_dir/results.csv` (for `eggroll-bench train --out`).

    Returns the trial id (computed from the result's config unless `trial` is given). Refuses a
    directory that a sweep of another name owns.
    """
    from eggroll_bench.envs.registry import get_task

    manifest = read_manifest(out_dir)
    if manifest is not None and manifest["name"] != sweep:
        raise StoreError(f"{Path(out_dir) / MANIFEST_FILE}: {out_dir} belongs to sweep {manifest['name']!r}; "
                         f"write lone runs elsewhere")
    task = get_task(result.env)
    tid = trial or trial_id(result.algo, result.env, result.budget, result.hparams)
    rows = rows_from_result(result, sweep=sweep, trial_id=tid, suite=task.suite, random_return=task.random_return)
    ResultsStore(out_dir).append(rows)
    return tid

