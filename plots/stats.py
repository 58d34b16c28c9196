"""Statistics for the figures: PPO-normalised scores, IQM, confidence intervals.

Definitions (also in docs/figures.md):
- Final return R of a seed: its last evaluation (largest env_steps), or the final row's
  `return_mean` when the seed has no evaluation rows.
- PPO reference R_PPO of a task: the mean over PPO seeds of their final return R.
- Random return R_random: the task's `random_return` column (uniform-random policy).
- Normalised score of a seed: (R − R_random) / (R_PPO − R_random): 0 = random, 1 = PPO.
  Undefined (the task is reported as missing) with no PPO, no random return, or R_PPO <= R_random.
- Aggregates over tasks: IQM (mean of the middle 50% of the pooled seed scores, scipy's
  `trim_mean(x, 0.25)`) and mean (of the per-task means, every task weighted equally), each with
  a stratified-bootstrap 95% percentile CI (rliable, Agarwal et al. 2021): every replicate
  resamples the seeds of each task independently, with replacement, keeping each task's count.
- Over seeds within one task (curves, per-task points): mean with a 95% Student-t interval,
  which, unlike a bootstrap, does not shrink to nothing with the 3-5 seeds a sweep usually has.
- Between two algorithms on one task (the per-task verdicts): the difference of their seed means
  with Welch's t-interval (their seed spreads differ).
- The paper's style (`--style paper`): a seed's R / R_PPO, with the same R_PPO (PPO's final mean
  return); undefined for a task without PPO or with R_PPO <= 0. Per task: mean ± SEM over seeds;
  over tasks: the mean of the task means, SEM sqrt(Σ SEM²) / T (tasks independent).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as _sps  # scipy ships with jax; used only for Student-t quantiles

BOOTSTRAP_REPS = 10_000
BOOTSTRAP_SEED = 0  # fixed, so a figure re-rendered from the same results is identical


@dataclass(frozen=True)
class Interval:
    point: float
    lo: float
    hi: float


def iqm(x: np.ndarray | Sequence[float], axis: int = -1) -> np.ndarray | float:
    """Interquartile mean along `axis`: drop int(0.25·n) lowest and highest, average the rest."""
    x = np.sort(np.asarray(x, dtype=float), axis=axis)
    n = x.shape[axis]
    cut = int(0.25 * n)
    return np.take(x, np.arange(cut, n - cut), axis=axis).mean(axis=axis)


def aggregate_iqm(per_task: Sequence[np.ndarray]) -> np.ndarray | float:
    """IQM of all tasks' seed scores pooled (last axis = seeds)."""
    return iqm(np.concatenate([np.asarray(t, dtype=float) for t in per_task], axis=-1), axis=-1)


def aggregate_mean(per_task: Sequence[np.ndarray]) -> np.ndarray | float:
    """Mean over tasks of each task's mean over seeds (last axis = seeds)."""
    return np.mean([np.asarray(t, dtype=float).mean(axis=-1) for t in per_task], axis=0)


def stratified_bootstrap_ci(per_task: Sequence[np.ndarray | Sequence[float]],
                            statistic: Callable[[Sequence[np.ndarray]], np.ndarray | float],
                            reps: int = BOOTSTRAP_REPS, confidence: float = 0.95,
                            seed: int = BOOTSTRAP_SEED) -> Interval:
    """Point estimate and percentile CI of `statistic` over per-task seed scores.

    `statistic` takes a list of arrays whose last axis is seeds (one per task) and reduces that
    axis; it is called once on the data and once, vectorised, on (reps, n_seeds) resamples.
    """
    tasks = [np.asarray(t, dtype=float) for t in per_task]
    tasks = [t[np.isfinite(t)] for t in tasks]
    tasks = [t for t in tasks if t.size]
    if not tasks:
        return Interval(np.nan, np.nan, np.nan)
    rng = np.random.default_rng(seed)
    samples = [t[rng.integers(0, t.size, size=(reps, t.size))] for t in tasks]
    boot = np.asarray(statistic(samples), dtype=float)
    alpha = (1 - confidence) / 2
    lo, hi = np.percentile(boot, [100 * alpha, 100 * (1 - alpha)])
    return Interval(float(statistic(tasks)), float(lo), float(hi))


def t_interval(values: np.ndarray, axis: int = 0, confidence: float = 0.95):
    """Mean, lower, upper and count along `axis`, ignoring NaN; no interval (lo = hi = mean) for n < 2."""
    values = np.asarray(values, dtype=float)
    n = np.sum(np.isfinite(values), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.nansum(values, axis=axis)
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        dev = np.where(np.isfinite(values), values - np.expand_dims(mean, axis), 0.0)
        sd = np.sqrt(np.sum(dev ** 2, axis=axis) / np.maximum(n - 1, 1))
        half = np.where(n > 1, _sps.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n), 0.0)
    return mean, mean - half, mean + half, n


def welch_interval(a: np.ndarray | Sequence[float], b: np.ndarray | Sequence[float],
                   confidence: float = 0.95) -> Interval:
    """mean(a) − mean(b) with Welch's t-interval (unequal variances; Welch–Satterthwaite degrees of
    freedom), NaN ignored. With no spread in either sample the interval is the difference itself.
    A sample of one value has no spread to estimate: the bounds are NaN (the point is kept); with
    no value in either, everything is NaN."""
    a, b = (np.asarray(x, dtype=float) for x in (a, b))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not (a.size and b.size):
        return Interval(np.nan, np.nan, np.nan)
    diff = float(a.mean() - b.mean())
    if min(a.size, b.size) < 2:
        return Interval(diff, np.nan, np.nan)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se2 = va + vb
    if se2 == 0:
        return Interval(diff, diff, diff)
    dof = se2 ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = float(_sps.t.ppf(0.5 + confidence / 2, dof) * np.sqrt(se2))
    return Interval(diff, diff - half, diff + half)


def sem(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Standard error of the mean along `axis`, ignoring NaN (0 for a single value)."""
    values = np.asarray(values, dtype=float)
    n = np.sum(np.isfinite(values), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: handled by n below
        sd = np.nanstd(values, axis=axis, ddof=1) if values.size else np.nan
        return np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), 0.0)


def ppo_reference(finals: pd.DataFrame) -> pd.Series:
    """R_PPO per task: the mean over PPO seeds of the final return (NaN-free seeds only)."""
    ppo = finals[(finals["algo"] == "ppo") & np.isfinite(finals["final_return"])]
    return ppo.groupby("env")["final_return"].mean()


def random_returns(finals: pd.DataFrame) -> pd.Series:
    """R_random per task: the `random_return` recorded with its rows (first non-empty value)."""
    return finals.dropna(subset=["random_return"]).groupby("env")["random_return"].first()


def normalised_scores(finals: pd.DataFrame, reference: pd.DataFrame | None = None
                      ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-seed PPO-normalised scores, and the tasks whose score is undefined with the reason.

    `finals` has one row per (algo, env, seed) with `final_return` and `random_return`.
    `reference` (default: `finals`) holds the seeds R_PPO and R_random are taken from: scoring every
    configuration of a sweep against the PPO trial the summary shows, not against all PPO
    configurations pooled, keeps the sweep table's scores on the summary's scale.
    Returns `finals` restricted to defined tasks with a `score` column added.
    """
    ref = ppo_reference(finals if reference is None else reference)
    rnd = random_returns(finals)
    missing: dict[str, str] = {}
    for env in sorted(finals["env"].unique()):
        if env not in ref.index:
            missing[env] = "no PPO reference"
        elif env not in rnd.index:
            missing[env] = "no random-policy return"
        elif not ref[env] > rnd[env]:
            missing[env] = f"PPO ({ref[env]:.3g}) not above random ({rnd[env]:.3g})"
    out = finals[~finals["env"].isin(list(missing)) & np.isfinite(finals["final_return"])].copy()
    r_ppo = out["env"].map(ref).astype(float)  # an empty map would otherwise keep the str dtype of env
    r_rnd = out["env"].map(rnd).astype(float)
    out["r_ppo"] = r_ppo
    out["r_random"] = r_rnd
    out["score"] = (out["final_return"] - r_rnd) / (r_ppo - r_rnd)
    return out, missing


def aggregate_scores(scores: pd.DataFrame, reps: int = BOOTSTRAP_REPS,
                     seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Per algorithm: IQM and mean of normalised scores over tasks, with stratified-bootstrap CIs."""
    rows = []
    for algo, rows_a in scores.groupby("algo", sort=False):
        per_task = [g["score"].to_numpy() for _, g in rows_a.groupby("env")]
        for name, fn in (("IQM", aggregate_iqm), ("mean", aggregate_mean)):
            ci = stratified_bootstrap_ci(per_task, fn, reps=reps, seed=seed)
            rows.append({"algo": algo, "metric": name, "point": ci.point, "lo": ci.lo, "hi": ci.hi,
                         "tasks": len(per_task)})
    return pd.DataFrame(rows, columns=["algo", "metric", "point", "lo", "hi", "tasks"])


def ppo_ratios(finals: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-seed R / R_PPO (the paper's normalisation), and the tasks where it is undefined, with why.

    A ratio to a non-positive return has no meaning, so tasks with R_PPO <= 0 (e.g. Pendulum-v1,
    whose returns are negative) are left out rather than shown upside down.
    """
    ref = ppo_reference(finals)
    missing: dict[str, str] = {}
    for env in sorted(finals["env"].unique()):
        if env not in ref.index:
            missing[env] = "no PPO reference"
        elif not ref[env] > 0:
            missing[env] = f"R_PPO = {ref[env]:.3g} <= 0"
    out = finals[~finals["env"].isin(list(missing)) & np.isfinite(finals["final_return"])].copy()
    out["r_ppo"] = out["env"].map(ref)
    out["ratio"] = out["final_return"] / out["r_ppo"]
    return out, missing


def mean_sem_over_tasks(means: np.ndarray, sems: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over tasks (axis 0) of per-task means, and its SEM sqrt(Σ SEM²) / T (tasks independent)."""
    means, sems = np.asarray(means, dtype=float), np.asarray(sems, dtype=float)
    return means.mean(axis=0), np.sqrt(np.sum(sems ** 2, axis=0)) / means.shape[0]


def paper_score_table(ratios: pd.DataFrame) -> pd.DataFrame:
    """Per algorithm and task: mean and SEM over seeds of R / R_PPO (`ppo_ratios`), plus one row per
    algorithm with env = ALL_TASKS: the mean over the tasks it ran, with `mean_sem_over_tasks`."""
    rows = []
    for (algo, env), g in ratios.groupby(["algo", "env"], sort=True):
        values = g["ratio"].to_numpy(float)
        rows.append({"algo": algo, "env": env, "mean": values.mean(), "sem": float(sem(values)),
                     "n": int(values.size)})
    table = pd.DataFrame(rows, columns=["algo", "env", "mean", "sem", "n"])
    for algo, g in table.groupby("algo", sort=True):
        mean, err = mean_sem_over_tasks(g["mean"].to_numpy(), g["sem"].to_numpy())
        rows.append({"algo": algo, "env": ALL_TASKS, "mean": float(mean), "sem": float(err), "n": len(g)})
    return pd.DataFrame(rows, columns=["algo", "env", "mean", "sem", "n"])


ALL_TASKS = "mean over tasks"  # the aggregate row of `paper_score_table` (n = its number of tasks)
