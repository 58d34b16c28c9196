"""Read a sweep's `results.csv` and check it can be plotted, with messages a person can act on.

Everything the figures need comes from this one table (DESIGN.md "Results", `sweeps/schema.py`).
Problems that make plotting impossible raise `ResultsError`; gaps that only cost a figure or a
task (no PPO reference, no random-policy return, an algorithm missing on a task) are returned
as notes by `describe_gaps`, so the figures that can be drawn still are.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from eggroll_bench.sweeps.schema import COLUMNS, SCHEMA_VERSION

RESULTS_FILE = "results.csv"

# The columns the figures read. Others in the schema (versions, timestamp, ...) are optional
# here, so a table missing only bookkeeping columns still plots.
REQUIRED: tuple[str, ...] = (
    "schema_version", "row_type", "trial_id", "algo", "env", "num_agents", "seed", "env_steps",
    "return_mean", "wall_s", "compile_s", "run_s", "steps_per_s", "status", "hparams", "budget",
    "random_return",
)
NUMERIC: tuple[str, ...] = (
    "schema_version", "num_agents", "seed", "env_steps", "updates", "return_mean", "return_std",
    "wall_s", "compile_s", "run_s", "steps_per_s", "budget", "random_return",
)
ALGO_ORDER: tuple[str, ...] = ("eggroll", "openes", "ppo")


class ResultsError(Exception):
    """The results cannot be plotted at all; the message says why and what to do."""


def results_path(results_dir: str | Path) -> Path:
    """The results file of `results_dir` (a sweep directory, or the CSV itself)."""
    path = Path(results_dir)
    if path.is_file():
        return path
    if not path.exists():
        raise ResultsError(f"no such directory: {path}")
    csv = path / RESULTS_FILE
    if csv.is_file():
        return csv
    # A common slip: pointing at `results/` instead of `results/<sweep>/`.
    nested = sorted(p.parent.name for p in path.glob(f"*/{RESULTS_FILE}"))
    hint = f" Sweeps found below it: {', '.join(nested)} (pass one of those directories)." if nested else ""
    raise ResultsError(f"no results in {path}: expected {csv} (written by `eggroll-bench sweep`).{hint}")


def load_results(results_dir: str | Path) -> pd.DataFrame:
    """The validated results table: numeric columns as floats, text columns without NaN."""
    csv = results_path(results_dir)
    try:
        df = pd.read_csv(csv, dtype={"trial_id": str, "error": str, "hparams": str})
    except pd.errors.EmptyDataError:
        raise ResultsError(f"no results in {csv}: the file is empty") from None
    check_schema(df, csv)
    df = df[df["row_type"].isin(["eval", "final"])].copy()
    if df.empty:
        raise ResultsError(f"no results in {csv}: no 'eval' or 'final' rows")
    for col in NUMERIC:
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    for col in set(COLUMNS) - set(NUMERIC):
        df[col] = df[col].fillna("").astype(str) if col in df else ""
    df["num_agents"] = df["num_agents"].fillna(1).astype(int)
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
    bad = sorted({str(v) for v in versions.unique() if v != SCHEMA_VERSION})
    if bad:
        numeric = [float(v) for v in bad if v != "nan"]
        if numeric and max(numeric) > SCHEMA_VERSION:
            advice = "it is newer than this eggroll-bench; upgrade eggroll-bench to plot it"
        else:
            advice = "re-run the sweep with this version of eggroll-bench"
        raise ResultsError(f"{source}: schema_version {', '.join(bad)} found, but this eggroll-bench reads "
                           f"schema version {SCHEMA_VERSION}; {advice}.")


def hparams_frame(hparams: pd.Series) -> pd.DataFrame:
    """The `hparams` JSON column as a frame (one column per hyperparameter), same index."""
    cache: dict[str, dict] = {}

    def parse(text: str) -> dict:
        if text not in cache:
            try:
                value = json.loads(text) if text else {}
            except json.JSONDecodeError:
                value = {}  # an unreadable cell only costs the scaling figure this row
            cache[text] = value if isinstance(value, dict) else {}
        return cache[text]

    return pd.DataFrame([parse(t) for t in hparams.astype(str)], index=hparams.index)


def algo_order(algos) -> list[str]:
    """Known algorithms in the fixed order (EGGROLL, OpenES, PPO), then any others sorted."""
    present = set(algos)
    return [a for a in ALGO_ORDER if a in present] + sorted(present - set(ALGO_ORDER))


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
