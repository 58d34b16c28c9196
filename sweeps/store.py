"""One results directory: one Parquet file per trial, the sweep lock and the `sweep.json` manifest.

Usable without a sweep file: `eggroll-bench train --out DIR` calls `record_result(DIR, result)`.

Layout. `DIR/trials/<trial_id>.parquet` holds every row of one trial (all columns of
`sweeps/schema.py`, typed; text columns dictionary-encoded, so the config and version JSON a trial
repeats on each row is stored once per file). Appending a trial writes only that trial's file, so
its cost does not grow with the sweep. At the end of a sweep run `consolidate()` merges the trial
files into `trials/_compacted.parquet` (one file opens much faster than thousands; a trial file
written later, e.g. a retry, wins over its compacted rows) and exports the table as
`DIR/results.csv` (`export_csv`; `train --out` exports too). `ResultsStore.read()` loads it all into
the one table. When `trials/` exists it is the truth: the CSV may lag behind it. A directory
with only `results.csv` (written before this store) is read from the CSV, and its first append
converts it into `trials/` in one rename, keeping the CSV.

Crash safety. A trial file is only ever replaced whole: written to a temporary file in `trials/`,
fsynced, then `os.replace`d over the old one (atomic on POSIX). A SIGKILL at any moment leaves the
trial's old file, its new one, or (for a new trial) no file, never half a trial; temporary files of a
killed writer are never read and are removed by the next append. A short-lived `.write.lock`
serialises writers (two `train --out` processes on one directory, retrying the same trial); the
sweep-long `.lock` (`SweepLock`) keeps a second sweep process out of the directory altogether.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from eggroll_bench.algos.result import SeedResult, TrainResult
from eggroll_bench.files import TMP_SUFFIX, fsync_dir, make_dirs, remove_temps, replace_atomic, write_atomic
from eggroll_bench.sweeps.schema import (BOOL_COLUMNS, COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, SCHEMA_VERSION,
                                         TEXT_COLUMNS)

RESULTS_FILE = "results.csv"  # the CSV export (and the whole store of directories written before trials/)
TRIALS_DIR = "trials"
TRIAL_SUFFIX = ".parquet"
# Many trials' rows in one file (`ResultsStore.compact`); "_" cannot start a trial id.
COMPACTED_FILE = "_compacted.parquet"
_COMPACTED_IDS = b"eggroll_bench.trial_ids"  # its key-value metadata: JSON list of the trial ids in it
MANIFEST_FILE = "sweep.json"
LOCK_FILE = ".lock"  # held by a running sweep for its whole run
WRITE_LOCK_FILE = ".write.lock"  # held while a trial file (or the CSV export) is being written
# A trial id names a file: no path separators, no leading dot (temporary files start with one).
_TRIAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

_TEXT = pa.dictionary(pa.int32(), pa.string())
ARROW_SCHEMA = pa.schema([pa.field(c, pa.int64() if c in INT_COLUMNS else pa.float64() if c in FLOAT_COLUMNS
                                   else pa.bool_() if c in BOOL_COLUMNS else _TEXT) for c in COLUMNS])
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}  # as a CSV spells them


class StoreError(RuntimeError):
    """The results directory cannot be used as asked (another sweep's, locked, bad schema)."""


class LockHeld(StoreError):
    """Another process is running a sweep in this directory."""


# Hyperparameters added after results were first written, with their defaults: at that default a
# trial is the one it was before the field existed, so the field is left out of its id and a sweep
# written by an older version resumes (its finished trials keep their ids).
ADDED_LATER: dict[str, Any] = {"log_std": "param"}


def trial_id(algo: str, env: str, budget: int, hparams: Mapping[str, Any]) -> str:
    """Stable id of a resolved trial config: short sha256 of its canonical JSON (seeds excluded).

    Keys are sorted, so the id does not depend on the order anything was written in; the
    hyperparameters are the *resolved* ones, so spelling a default out or leaving it implicit
    gives the same id. `ADDED_LATER` fields at their default are left out.
    """
    hparams = {k: v for k, v in hparams.items() if k not in ADDED_LATER or v != ADDED_LATER[k]}
    payload = {"algo": algo, "env": env, "budget": int(budget), "hparams": hparams}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


def rows_from_result(result: TrainResult, *, sweep: str, trial_id: str, suite: str,
                     random_return: float | None) -> list[dict[str, Any]]:
    """The rows of one finished trial: every seed's eval rows, then one final row per seed.

    `compile_s` and `run_s` are the trial's share of its call's (`algos.result.CallTiming`), the
    same on every seed's final row (the seeds ran together, vmapped); `steps_per_s` is that seed's
    env steps / run_s, so the sum over a trial's seeds is the trial's throughput. The call's own
    figures are on every final row too (`call_*`).
    """
    common = {
        "schema_version": SCHEMA_VERSION, "sweep": sweep, "trial_id": trial_id, "algo": result.algo,
        "env": result.env, "suite": suite, "num_agents": result.num_agents,
        "hparams": json.dumps(result.hparams, sort_keys=True), "budget": int(result.budget),
        "random_return": _num(random_return), "versions": json.dumps(dict(result.versions), sort_keys=True),
        "device": result.device, "timestamp": _now(), "code_version": result.code_version,
        "host_trials": result.host_trials,
    }
    run_s = _num(result.run_s)
    call = result.call
    call_columns = {"call_id": ""} if call is None else {
        "call_id": call.call_id, "call_configs": call.configs, "call_rows": call.rows,
        "call_compile_s": _num(call.compile_s), "call_run_s": _num(call.run_s), "computed_updates": call.computed_updates}
    rows: list[dict[str, Any]] = []
    for seed in result.seeds:
        for point in seed.evals:
            rows.append({**common, "row_type": "eval", "seed": int(seed.seed), "env_steps": int(point.env_steps),
                         "updates": int(point.updates), "return_mean": float(point.return_mean),
                         "return_std": float(point.return_std), "wall_s": float(point.wall_s),
                         "status": seed.status, "error": "", "call_id": ""})
        last = seed.final
        rows.append({**common, "row_type": "final", "seed": int(seed.seed), "env_steps": int(seed.env_steps),
                     "updates": int(seed.updates),
                     "return_mean": float(last.return_mean) if last else None,
                     "return_std": float(last.return_std) if last else None,
                     "wall_s": float(last.wall_s) if last else None,
                     "compile_s": _num(result.compile_s), "compile_cached": result.compile_cached, "run_s": run_s,
                     "steps_per_s": seed.env_steps / run_s if run_s and run_s > 0 else None,
                     "status": seed.status, "error": seed.error, **call_columns})
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


def _arrow_column(name: str, values: list[Any]) -> pa.Array:
    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v) and name not in FLOAT_COLUMNS)

    try:
        if name in INT_COLUMNS:
            return pa.array([None if missing(v) else int(v) for v in values], pa.int64())
        if name in FLOAT_COLUMNS:
            return pa.array([None if v is None else float(v) for v in values], pa.float64())
        if name in BOOL_COLUMNS:
            return pa.array([None if missing(v) or v == "" else _BOOL_TEXT[v.lower()] if isinstance(v, str)
                             else bool(v) for v in values], pa.bool_())
        # encoding a plain string array is far quicker than building a dictionary array from Python
        return pa.array([None if missing(v) else str(v) for v in values], pa.string()).dictionary_encode()
    except (TypeError, ValueError, KeyError, pa.ArrowException) as err:
        raise StoreError(f"column {name!r}: cannot store {values[:3]!r}...: {err}") from None


def rows_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Rows (dicts keyed by schema columns; missing keys are empty) as a typed Arrow table."""
    unknown = sorted({k for r in rows for k in r} - set(COLUMNS))
    if unknown:
        raise StoreError(f"unknown columns {unknown}; the results schema (version {SCHEMA_VERSION}) has {list(COLUMNS)}")
    return pa.Table.from_arrays([_arrow_column(c, [r.get(c) for r in rows]) for c in COLUMNS], schema=ARROW_SCHEMA)


def _frame(table: pa.Table) -> pd.DataFrame:
    df = table.to_pandas()
    for col in df.columns:
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            # categorical -> object shares one str per distinct value, so a million rows of the same
            # hparams JSON cost a million pointers, not a million copies
            df[col] = df[col].astype(object)
    return df


class ResultsStore:
    """The results of one directory. Rows are keyed by (trial_id, seed): appending rows of a key that
    is already present replaces that key's rows (a retried trial), so no key is ever doubled."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.trials_dir = self.directory / TRIALS_DIR
        self.csv_path = self.directory / RESULTS_FILE

    @property
    def path(self) -> Path:
        """Where the results are read from: `trials/`, or `results.csv` in a directory that has only that."""
        if self.trials_dir.is_dir() or not self.csv_path.exists():
            return self.trials_dir
        return self.csv_path

    def trial_files(self) -> list[Path]:
        """Every trial's file, oldest write first (so rows come in the order they were appended)."""
        if not self.trials_dir.is_dir():
            return []
        stamped = []
        for p in self.trials_dir.glob(f"*{TRIAL_SUFFIX}"):  # temp files end in .tmp: never read
            if p.name == COMPACTED_FILE:
                continue
            with contextlib.suppress(FileNotFoundError):  # replaced by a writer while we listed
                stamped.append((p.stat().st_mtime_ns, p.name, p))
        return [p for _, _, p in sorted(stamped)]

    def _read_trials(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The compacted rows of trials that have no file of their own, then every trial file's rows.

        A trial's own file wins: it is newer (a retry after compacting) or, after a crash between
        compacting and removing the files compacted, the same rows.
        """
        for _ in range(5):
            try:
                return self._read_trials_once(columns)
            except FileNotFoundError:
                continue  # a compaction removed a file we had listed: its rows are compacted now; list again
        return self._read_trials_once(columns)

    def _read_trials_once(self, columns: Sequence[str] | None) -> pa.Table:
        columns = list(columns) if columns is not None else list(COLUMNS)
        files = self.trial_files()
        parts = []
        try:
            compacted = self.trials_dir / COMPACTED_FILE
            if compacted.exists():
                table = pq.read_table(compacted, columns=sorted(set(columns) | {"trial_id"}), schema=ARROW_SCHEMA)
                own = pa.array([f.name[:-len(TRIAL_SUFFIX)] for f in files], pa.string())
                if len(own):
                    table = table.filter(pc.invert(pc.is_in(table.column("trial_id").cast(pa.string()), own)))
                parts.append(table.select(columns))
            if files:
                parts.append(pads.dataset([str(f) for f in files], schema=ARROW_SCHEMA, format="parquet")
                             .to_table(columns=columns))
        except FileNotFoundError:
            raise
        except (pa.ArrowException, OSError) as err:
            raise StoreError(f"{self.trials_dir}: cannot read the trial files ({err}); they were not written "
                             f"by this version's results store (schema version {SCHEMA_VERSION})") from None
        if not parts:
            return ARROW_SCHEMA.empty_table().select(columns)
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

    def compact(self) -> None:
        """Merge every trial's file into `trials/_compacted.parquet`, so loading opens one file
        instead of one per trial. Run when no trial is being written (the end of a sweep run); a
        crash at any point leaves the same table readable."""
        with _flock(self.directory / WRITE_LOCK_FILE):
            files = self.trial_files()
            if not files:
                return
            table = self._read_trials().unify_dictionaries().combine_chunks()
            ids = sorted(set(table.column("trial_id").to_pylist()))
            table = table.replace_schema_metadata({_COMPACTED_IDS: json.dumps(ids)})
            # one dictionary per row group must hold every distinct hparams JSON in it, or Parquet
            # falls back to storing the JSON once per row
            _write_parquet(self.trials_dir / COMPACTED_FILE, table, row_group_size=1 << 17,
                           dictionary_pagesize_limit=64 << 20)
            for f in files:
                f.unlink()
            fsync_dir(self.trials_dir)

    def consolidate(self) -> Path | None:
        """End of a run: `compact()`, then `export_csv()`. Returns the CSV written (None: nothing to)."""
        if self.path == self.csv_path:
            return None  # a CSV-only directory nothing was added to: the CSV is the store
        self.compact()
        compacted = self.trials_dir / COMPACTED_FILE
        if (compacted.exists() and self.csv_path.exists() and not self.trial_files()
                and self.csv_path.stat().st_mtime_ns >= compacted.stat().st_mtime_ns):
            return self.csv_path  # nothing added since the last export (a resumed sweep with nothing to run)
        return self.export_csv()

    def read(self) -> pd.DataFrame:
        """The table with typed columns (empty, with every column, when nothing is written yet).

        Text columns are Python strings (object dtype); integers are int64 (float64 where a value is
        missing), the rest float64.
        """
        if self.path == self.csv_path:
            return self._read_csv()
        table = self._read_trials()
        if not table.num_rows:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
        return _frame(table)

    def _read_csv(self) -> pd.DataFrame:
        # trial ids are hex: an all-digit or "12e4..." id must not turn into a number
        df = pd.read_csv(self.csv_path, dtype={"trial_id": str, "sweep": str, "error": str})
        # a CSV written before a column was added lacks only that column: it reads with it empty
        unknown = [c for c in df.columns if c not in COLUMNS]
        if unknown or not {"row_type", "trial_id", "seed", "status"} <= set(df.columns):
            raise StoreError(f"{self.csv_path}: columns {list(df.columns)} are not schema version {SCHEMA_VERSION}'s "
                             f"{list(COLUMNS)}; write to a new directory")
        for col in COLUMNS:
            if col not in df.columns:
                df[col] = None
        return df[list(COLUMNS)]

    def finished(self) -> dict[str, dict[int, str]]:
        """trial_id -> {seed: status} for every (trial, seed) with a final row."""
        if self.path == self.csv_path:
            df = self._read_csv()[["trial_id", "seed", "row_type", "status"]]
        else:
            df = _frame(self._read_trials(["trial_id", "seed", "row_type", "status"]))
        final = df[df["row_type"] == "final"]
        out: dict[str, dict[int, str]] = {}
        for tid, seed, status in zip(final["trial_id"], final["seed"], final["status"]):
            out.setdefault(str(tid), {})[int(seed)] = str(status)
        return out

    def produced_by(self) -> dict[str, set[tuple[str, str]]]:
        """trial_id -> {(code_version, versions JSON)} of its finished results (done / diverged final
        rows; "" where a row predates the column)."""
        columns = ["trial_id", "row_type", "status", "code_version", "versions"]
        if self.path == self.csv_path:
            df = self._read_csv()[columns]
        else:
            df = _frame(self._read_trials(columns))
        df = df[(df["row_type"] == "final") & df["status"].isin(["done", "diverged"])]
        out: dict[str, set[tuple[str, str]]] = {}
        for tid, code, versions in zip(df["trial_id"], df["code_version"], df["versions"]):
            out.setdefault(str(tid), set()).add((code if isinstance(code, str) else "",
                                                 versions if isinstance(versions, str) else ""))
        return out

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Add rows: each trial's in one atomic replace of its own file, merged with the seeds it had."""
        if not rows:
            return
        by_trial: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            tid = row.get("trial_id")
            if not isinstance(tid, str) or not _TRIAL_ID.fullmatch(tid):
                raise StoreError(f"trial_id {tid!r} cannot name a trial file: use letters, digits, '_', '.', '-' "
                                 f"(not first), at most 128 characters")
            by_trial.setdefault(tid, []).append(row)
        tables = {tid: rows_table(group) for tid, group in by_trial.items()}  # bad rows fail before any write
        make_dirs(self.directory)
        with _flock(self.directory / WRITE_LOCK_FILE):
            self._remove_stale_temps()
            if not self.trials_dir.is_dir():
                if self.csv_path.exists():
                    self._convert_csv()
                else:
                    self.trials_dir.mkdir()
                    fsync_dir(self.directory)
            for tid, table in tables.items():
                path = self.trials_dir / f"{tid}{TRIAL_SUFFIX}"
                old = self._earlier_rows(tid, path)
                if old.num_rows:  # a retry, or more seeds of a trial: keep the seeds not re-run
                    seeds = pa.array(sorted(set(table.column("seed").to_pylist())), pa.int64())
                    kept = old.filter(pc.invert(pc.is_in(old.column("seed"), value_set=seeds)))
                    table = pa.concat_tables([kept, table]).unify_dictionaries() if kept.num_rows else table
                _write_parquet(path, table)

    def _earlier_rows(self, tid: str, path: Path) -> pa.Table:
        if path.exists():
            return pq.read_table(path, schema=ARROW_SCHEMA)
        compacted = self.trials_dir / COMPACTED_FILE
        # the footer lists the compacted trials: a new trial's append never scans the compacted rows
        if compacted.exists() and tid in json.loads(pq.read_schema(compacted).metadata[_COMPACTED_IDS]):
            return pq.read_table(compacted, schema=ARROW_SCHEMA, filters=pc.field("trial_id") == tid)
        return ARROW_SCHEMA.empty_table()

    def _convert_csv(self) -> None:
        """results.csv -> trials/ (called under the write lock when there is no trials/ yet).

        The files are written into a temporary directory that is renamed to trials/ once complete,
        so a crash mid-way leaves the CSV directory as it was.
        """
        df = self._read_csv()
        for col in TEXT_COLUMNS:
            df[col] = df[col].where(df[col].notna(), "")  # the CSV cannot tell "" from missing
        staging = Path(tempfile.mkdtemp(dir=self.directory, prefix=f".{TRIALS_DIR}.", suffix=TMP_SUFFIX))
        try:
            for tid, group in df.groupby("trial_id", sort=False):
                if not _TRIAL_ID.fullmatch(str(tid)):
                    raise StoreError(f"{self.csv_path}: trial_id {tid!r} cannot name a trial file")
                _write_parquet(staging / f"{tid}{TRIAL_SUFFIX}", rows_table(group.to_dict("records")))
            os.rename(staging, self.trials_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_dir(self.directory)

    def export_csv(self, path: str | os.PathLike | None = None) -> Path:
        """Write the whole table as CSV (default `DIR/results.csv`), atomically; returns its path."""
        target = Path(path) if path is not None else self.csv_path
        if self.path == self.csv_path and target == self.csv_path:
            return target  # a CSV-only directory: the CSV is the store
        target.parent.mkdir(parents=True, exist_ok=True)
        with _flock(self.directory / WRITE_LOCK_FILE):  # a snapshot: no trial lands half-way through
            table = self.read()
            replace_atomic(target, lambda f: table.to_csv(f, index=False, na_rep="", columns=list(COLUMNS)))
        return target

    def _remove_stale_temps(self) -> None:
        # Called under the write lock: any temp file or directory now present was left by a killed writer.
        for place in (self.directory, self.trials_dir):
            remove_temps(place)


def _write_parquet(path: Path, table: pa.Table, **options: Any) -> None:
    replace_atomic(path, lambda f: pq.write_table(table, f, **options))


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
    held = [p for p in (directory / TRIALS_DIR, directory / RESULTS_FILE) if p.exists()]
    if manifest is None and held:
        raise StoreError(f"{held[0]} exists but {directory} has no {MANIFEST_FILE}: it holds results "
                         f"not written by a sweep (e.g. `eggroll-bench train --out`); set another output directory")
    return manifest


def write_manifest(directory: str | os.PathLike, manifest: Mapping[str, Any]) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / MANIFEST_FILE, json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n")


def record_result(out_dir: str | os.PathLike, result: TrainResult, *, sweep: str = "train",
                  trial: str | None = None) -> str:
    """Add one `TrainResult` to `out_dir` (for `eggroll-bench train --out`), then re-export results.csv.

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
    store = ResultsStore(out_dir)
    store.append(rows)
    store.export_csv()  # a lone run is a whole "sweep": its end is when the export is due
    return tid

