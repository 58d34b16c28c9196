"""Read a sweep's results and check they can be plotted, with messages a person can act on.

The results are `DIR/trials/` (one Parquet file per trial, `sweeps/store.py`); a directory with only
`results.csv` (written before the Parquet store, or a CSV export copied elsewhere) is read from that.
Everything the figures need comes from this one table (docs/design.md "Results", `sweeps/schema.py`).
Problems that make plotting impossible raise `ResultsError`; gaps that only cost a figure or a
task (no PPO reference, no random-policy return, an algorithm missing on a task) are returned
as notes by `describe_gaps`, so the figures that can be drawn still are.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from eggroll_bench.algos.registry import algorithm_names
from eggroll_bench.sweeps.schema import COLUMNS, SCHEMA_VERSION, TEXT_COLUMNS
from eggroll_bench.sweeps.store import RESULTS_FILE, TRIALS_DIR, ResultsStore, StoreError

# The columns the figures read. Others in the schema (versions, timestamp, ...) are optional
# here, so a table missing only bookkeeping columns still plots.
REQUIRED: tuple[str, ...] = (
    "schema_version", "row_type", "trial_id", "algo", "env", "num_agents", "seed", "env_steps",
    "return_mean", "wall_s", "compile_s", "run_s", "steps_per_s", "status", "hparams", "budget",
    "random_return",
)
NUMERIC: tuple[str, ...] = (
    "schema_version", "num_agents", "seed", "env_steps", "updates", "return_mean", "return_std",
    "wall_s", "compile_s", "run_s", "steps_per_s", "budget", "random_return", "call_configs", "call_rows",
    "call_compile_s", "call_run_s", "computed_updates", "host_trials",
)
# Schema 1 lacks the call_* columns, and a grouped trial's compile_s / run_s there were its whole
# call's: its returns read as they are, its times are dropped (NaN) rather than shown wrong.
READABLE_VERSIONS = (1, SCHEMA_VERSION)
TIMING = ("wall_s", "compile_s", "run_s", "steps_per_s")


class ResultsError(Exception):
    """The results cannot be plotted at all; the message says why and what to do."""


def results_path(results_dir: str | Path) -> Path:
    """Where `results_dir` (a sweep directory, its `trials/`, or a CSV file) keeps its results:
    `DIR/trials` when it exists (results.csv beside it is only an export), else `DIR/results.csv`."""
    path = Path(results_dir)
    if path.is_file() or (path.is_dir() and path.name == TRIALS_DIR):
        return path
    if not path.exists():
        raise ResultsError(f"no such directory: {path}")
    for candidate in (path / TRIALS_DIR, path / RESULTS_FILE):
        if candidate.exists():
            return candidate
    # A common slip: pointing at `results/` instead of `results/<sweep>/`.
    nested = sorted({p.parent.name for name in (TRIALS_DIR, RESULTS_FILE) for p in path.glob(f"*/{name}")})
    hint = f" Sweeps found below it: {', '.join(nested)} (pass one of those directories)." if nested else ""
    raise ResultsError(f"no results in {path}: expected {path / TRIALS_DIR} or {path / RESULTS_FILE} "
                       f"(written by `eggroll-bench sweep`).{hint}")


def load_results(results_dir: str | Path) -> pd.DataFrame:
    """The validated results table: numeric columns as floats, text columns without NaN."""
    source = results_path(results_dir)
    if source.is_dir():
        try:
            df = ResultsStore(source.parent).read()
        except StoreError as err:
            raise ResultsError(f"cannot plot: {err}") from None
        if df.empty:
            raise ResultsError(f"no results in {source}: no trial files yet")
    else:
        try:
            df = pd.read_csv(source, dtype={"trial_id": str, "error": str, "hparams": str})
        except pd.errors.EmptyDataError:
            raise ResultsError(f"no results in {source}: the file is empty") from None
    check_schema(df, source)
    df = df[df["row_type"].isin(["eval", "final"])].copy()
    if df.empty:
        raise ResultsError(f"no results in {source}: no 'eval' or 'final' rows")
    for col in NUMERIC:  # a table written before an optional column was added reads with it empty
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else np.nan
    for col in set(COLUMNS) - set(NUMERIC):
        if col not in df:
            df[col] = ""
        elif col in TEXT_COLUMNS and df[col].dtype == object:
            # the store's text columns are already str objects, shared between rows: keep them so
            # (astype(str) would copy a trial's hparams JSON into every one of its rows)
            df[col] = df[col].where(df[col].notna(), "")
        else:
            df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
    df["num_agents"] = df["num_agents"].fillna(1).astype(int)
    df.loc[df["schema_version"] < SCHEMA_VERSION, list(TIMING)] = np.nan
    return df.reset_index(drop=True)


def check_schema(df: pd.DataFrame, source: str | Path = "results") -> None:
    """Raise `ResultsError` naming missing columns or an unreadable schema version."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        why = ("it has no schema_version column, so it predates the versioned results schema or was not "
               "written by eggroll-bench" if "schema_version" in missing
               else "it was written with an older or different results schema")
        raise ResultsError(f"{source}: cannot plot, {why}; missing columns: {', '.join(missing)}. "
                           f"Re-run the sweep with this version of eggroll-bench (schema version {SCHEMA_VERSION}).")
    if df.empty:
        raise ResultsError(f"no results in {source}: the table has a header but no rows")
    versions = pd.to_numeric(df["schema_version"], errors="coerce")
    bad = sorted({str(v) for v in versions.unique() if v not in READABLE_VERSIONS})
    if bad:
        numeric = [float(v) for v in bad if v != "nan"]
        if numeric and max(numeric) > SCHEMA_VERSION:
            advice = "it is newer than this eggroll-bench; upgrade eggroll-bench to plot it"
        else:
            advice = "re-run the sweep with this version of eggroll-bench"
        raise ResultsError(f"{source}: schema_version {', '.join(bad)} found, but this eggroll-bench reads "
                           f"schema versions {', '.join(map(str, READABLE_VERSIONS))}; {advice}.")


def hparams_frame(hparams: pd.Series) -> pd.DataFrame:
    """The `hparams` JSON column as a frame (one column per hyperparameter), same index."""
    def parse(text: str) -> dict:
        try:
            value = json.loads(text) if text else {}
        except json.JSONDecodeError:
            value = {}  # an unreadable cell only costs the scaling figure this row
        return value if isinstance(value, dict) else {}

    # parse each distinct JSON text once: a sweep has far fewer configurations than rows
    codes, uniques = pd.factorize(hparams.astype(object).where(hparams.notna(), ""))
    if not len(uniques):
        return pd.DataFrame(index=hparams.index)
    distinct = pd.DataFrame([parse(str(t)) for t in uniques])
    return distinct.iloc[codes].set_index(hparams.index)


def algo_order(algos) -> list[str]:
    """Registered algorithms in registry order (EGGROLL, OpenES, PPO, then plugins), then any others sorted."""
    present = set(algos)
    registered = algorithm_names()
    return [a for a in registered if a in present] + sorted(present - set(registered))


def task_order(tasks) -> list[str]:
    """Task names sorted case-insensitively (gymnax's CartPole-v1 next to brax's ant, not before it)."""
    return sorted(set(tasks), key=lambda t: (t.lower(), t))


def describe_gaps(df: pd.DataFrame) -> list[str]:
    """Human-readable notes on what the figures will show as missing, one per line."""
    notes = []
    algos = algo_order(df["algo"].unique())
    for env in task_order(df["env"]):
        rows = df[df["env"] == env]
        present = set(rows["algo"])
        if "ppo" not in present:
            notes.append(f"no PPO reference: {env} (its normalised scores are not defined)")
        absent = [a for a in algos if a not in present and a != "ppo"]
        if absent:
            notes.append(f"{env}: no results for {', '.join(absent)}")
        if rows["random_return"].isna().all():
            notes.append(f"no random-policy return: {env} (random_return column empty; "
                         "normalised scores are not defined)")
    return notes
