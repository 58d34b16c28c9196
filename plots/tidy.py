"""Shape the raw results table into what the figures draw: per-seed finals, trials, curves.

One trial per (algo, task) is shown in the per-task figures. When a sweep ran several
configurations of an algorithm on a task (a grid, or scaling rows), the one with the highest
mean final return over its seeds is shown — the usual "tuned baseline" reading; this is
optimistic when the grid is large, and the summary table says how many configurations there were.
Trials with evaluation rows (learning curves) are preferred over trials without (e.g. timing-only
scaling runs), so the curves and the scores always describe the same trial.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eggroll_bench.plots.load import hparams_frame
from eggroll_bench.plots.stats import t_interval

GRID_POINTS = 100
# hyperparameters that set the compute of a trial: EGGROLL and OpenES are timed against each
# other only when these match (otherwise the speed-up would mix in a different workload)
COMPUTE_KEYS = ("pop_size", "hidden", "depth", "episodes_per_member")


@dataclass
class Tables:
    rows: pd.DataFrame            # the validated results table
    finals: pd.DataFrame          # one row per (trial, seed), all trials
    trials: pd.DataFrame          # one row per trial, with hparams and `selected`
    notes: list[str] = field(default_factory=list)

    @property
    def selected_finals(self) -> pd.DataFrame:
        return self.finals[self.finals["trial_id"].isin(self.selected_ids)]

    @property
    def selected_evals(self) -> pd.DataFrame:
        rows = self.rows
        return rows[(rows["row_type"] == "eval") & rows["trial_id"].isin(self.selected_ids)]

    @property
    def selected_ids(self) -> set[str]:
        return set(self.trials.loc[self.trials["selected"], "trial_id"])


def seed_finals(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (trial, seed): final_return, env_steps, status and timing of that seed."""
    key = ["trial_id", "seed"]
    evals = rows[rows["row_type"] == "eval"].sort_values(key + ["env_steps"], kind="stable")
    last_eval = evals.groupby(key, sort=False).tail(1).set_index(key)
    final = rows[rows["row_type"] == "final"].drop_duplicates(key, keep="last").set_index(key)
    index = last_eval.index.union(final.index)
    base = final.reindex(index).combine_first(last_eval.reindex(index))
    out = base[["algo", "env", "num_agents", "budget", "random_return", "hparams",
                "run_s", "compile_s", "steps_per_s", "call_configs", "host_trials", "device"]].copy()
    # last evaluation first; the final row's own return only for seeds without evaluation rows
    out["final_return"] = last_eval["return_mean"].reindex(index).fillna(final["return_mean"].reindex(index))
    out["env_steps"] = final["env_steps"].reindex(index).fillna(last_eval["env_steps"].reindex(index))
    out["status"] = final["status"].reindex(index).fillna("").replace("", "unfinished")
    out["num_agents"] = out["num_agents"].fillna(1).astype(int)
    # the task's random return may be on any of its rows; fill seeds that lack it
    rnd = rows.dropna(subset=["random_return"]).groupby("env")["random_return"].first()
    out["random_return"] = out["random_return"].fillna(out["env"].map(rnd))
    return out.reset_index()


def trial_table(finals: pd.DataFrame, curve_trials: set[str] | frozenset = frozenset()) -> pd.DataFrame:
    """One row per trial: mean final return over seeds, timing, throughput, hparams.

    The seeds of a trial run together in one vmapped call, which it may share with other
    configurations (`algos.result.CallTiming`): every final row carries the trial's share of the
    call's compile_s and run_s, and steps_per_s is that seed's env steps / run_s. So the trial's
    times are the mean over its final rows and its throughput is the sum. `call_configs` is how many
    configurations shared its call (NaN for rows written before calls were recorded); `host_trials`
    how many trial processes shared its host at most (NaN before that was recorded).
    """
    agg = finals.groupby("trial_id", sort=False).agg(
        algo=("algo", "first"), env=("env", "first"), num_agents=("num_agents", "first"),
        budget=("budget", "first"), hparams=("hparams", "first"), seeds=("seed", "nunique"),
        mean_return=("final_return", "mean"), run_s=("run_s", "mean"),
        compile_s=("compile_s", "mean"), steps_per_s=("steps_per_s", lambda s: s.sum(min_count=1)),
        call_configs=("call_configs", "max"), host_trials=("host_trials", "max"), device=("device", "first"),
    ).reset_index()
    hp = hparams_frame(agg["hparams"])
    for key in COMPUTE_KEYS:
        agg[key] = pd.to_numeric(hp[key], errors="coerce") if key in hp else np.nan
    # highest mean final return per (algo, task); trial_id breaks ties so the choice is stable
    agg["has_curve"] = agg["trial_id"].isin(curve_trials)
    ranked = agg.assign(_r=agg["mean_return"].fillna(-np.inf)).sort_values(
        ["algo", "env", "has_curve", "_r", "trial_id"], ascending=[True, True, False, False, True])
    best = set(ranked.groupby(["algo", "env"]).head(1)["trial_id"])
    agg["selected"] = agg["trial_id"].isin(best)
    agg["configs"] = agg.groupby(["algo", "env"])["trial_id"].transform("nunique")
    return agg


def build_tables(rows: pd.DataFrame) -> Tables:
    finals = seed_finals(rows)
    trials = trial_table(finals, set(rows.loc[rows["row_type"] == "eval", "trial_id"]))
    notes = []
    multi = trials[trials["selected"] & (trials["configs"] > 1)]
    for _, t in multi.iterrows():
        notes.append(f"{t['env']}: {t['algo']} has {t['configs']} configurations; "
                     f"per-task figures show the best by mean final return among those with learning curves "
                     f"({t['trial_id']})")
    return Tables(rows=rows, finals=finals, trials=trials, notes=notes)


def agents_filter(df: pd.DataFrame, multi_agent: bool) -> pd.DataFrame:
    """The multi-agent rows (num_agents > 1) or the single-agent ones: the figures draw them apart."""
    return df[df["num_agents"] > 1] if multi_agent else df[df["num_agents"] <= 1]


def common_grid(evals: pd.DataFrame, x: str, points: int = GRID_POINTS) -> np.ndarray:
    """An evenly spaced grid from 0 to the furthest `x` any seed reached."""
    top = float(np.nanmax(evals[x])) if len(evals) else 0.0
    return np.linspace(0.0, top, points) if top > 0 else np.zeros(1)


def seed_matrix(evals: pd.DataFrame, x: str, grid: np.ndarray, y: str = "return_mean") -> np.ndarray:
    """(seeds, grid) returns, each seed linearly interpolated onto `grid`.

    ES seeds evaluate at different env_steps (episode lengths differ, and every step counts), so
    seeds are put on one grid before averaging. A seed is NaN outside its own first..last
    evaluation: curves are never extrapolated.
    """
    out = []
    for _, s in evals.groupby(["trial_id", "seed"], sort=True):
        s = s[np.isfinite(s[x]) & np.isfinite(s[y])].sort_values(x)  # a diverged seed may log inf/NaN
        xs, ys = s[x].to_numpy(float), s[y].to_numpy(float)
        if xs.size == 0:
            continue
        xs, first = np.unique(xs, return_index=True)  # repeated x (no steps yet): keep the first
        ys = ys[first]
        v = np.interp(grid, xs, ys)
        v[(grid < xs[0]) | (grid > xs[-1])] = np.nan
        out.append(v)
    return np.array(out) if out else np.empty((0, grid.size))


def curve_band(matrix: np.ndarray) -> pd.DataFrame:
    """Mean and 95% t-interval over seeds at each grid point that every seed covers (NaN elsewhere).

    A mean over whichever seeds happen to reach a point would change its population along the
    curve: a seed that stopped early (diverged, or a shorter ES run) would make the tail the mean
    of the survivors, which looks like learning or collapse that no seed did. So a curve ends at
    its shortest seed's last evaluation (and starts at its latest first one); figures mark the end
    when other seeds went further (`seed_ends`).
    """
    seeds = int(np.isfinite(matrix).any(axis=1).sum()) if matrix.size else 0
    mean, lo, hi, n = t_interval(matrix, axis=0)
    full = (n == seeds) & (seeds > 0)
    return pd.DataFrame({"mean": np.where(full, mean, np.nan), "lo": np.where(full, lo, np.nan),
                         "hi": np.where(full, hi, np.nan), "n": n})


def seed_ends(matrix: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each seed's last grid point with data (seeds without any data left out)."""
    return np.array([grid[np.flatnonzero(np.isfinite(row))[-1]] for row in matrix if np.isfinite(row).any()])


def _canonical(value) -> str:
    """A hashable, order-independent form of a hyperparameter value (lists and dicts included)."""
    return json.dumps(value, sort_keys=True, default=str)


def varied_hparams(trials: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """Per (algo, env): the hyperparameters whose values differ between that pair's trials, sorted.

    A key one trial has and another lacks counts as varied. Pairs with one trial map to [].
    """
    hp = hparams_frame(trials["hparams"])
    out: dict[tuple[str, str], list[str]] = {}
    for (algo, env), idx in trials.groupby(["algo", "env"], sort=False).groups.items():
        group = hp.loc[idx]
        keys = [k for k in group.columns
                if len({_canonical(v) if _present(v) else None for v in group[k]}) > 1]
        out[(algo, env)] = sorted(keys)
    return out


def _present(value) -> bool:
    """False for the NaN that `hparams_frame` fills in where a trial lacks a key."""
    return not (isinstance(value, float) and np.isnan(value))


def config_label(hparams: str, keys: list[str]) -> str:
    """"lr=0.01, sigma=0.05": a trial's values of `keys` (its varied hyperparameters)."""
    values = hparams_frame(pd.Series([hparams])).iloc[0] if keys else pd.Series(dtype=object)
    return ", ".join(f"{k}={format_value(values.get(k, np.nan))}" for k in keys)


def format_value(value) -> str:
    if not _present(value):
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return _canonical(value)
    return str(value)
