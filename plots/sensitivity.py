"""Sweeps with several configurations per (algorithm, task): a table of every configuration and one
sensitivity figure per varied hyperparameter.

A hyperparameter is *varied* for an (algorithm, task) pair when its value differs between that
pair's trials (`plots.tidy.varied_hparams`). Scores are PPO-normalised against the PPO trial the
summary shows (`plots.stats.normalised_scores` with `reference`), so the table, the figures and
the summary share one scale.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from eggroll_bench.plots import style  # first: selects the headless Agg backend
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402

from eggroll_bench.plots.load import algo_order, hparams_frame, task_order  # noqa: E402
from eggroll_bench.plots.summary import markdown_table  # noqa: E402
from eggroll_bench.plots.stats import aggregate_mean, normalised_scores, sem, stratified_bootstrap_ci  # noqa: E402
from eggroll_bench.plots.tidy import Tables, format_value, varied_hparams  # noqa: E402

# beyond this many distinct values (a random search) points are not joined by a line: neighbouring
# values then come from different tasks and trials, and a line would suggest a trend along x
MAX_JOINED = 12
LOG_SPAN = 10.0  # positive values spanning more than this factor get a log x axis


def sweep_keys(tables: Tables) -> list[str]:
    """Every hyperparameter varied for at least one (algorithm, task) pair, sorted."""
    return sorted({k for keys in varied_hparams(tables.trials).values() for k in keys})


def trial_scores(tables: Tables) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-seed normalised scores of every trial (not only the selected ones), and undefined tasks."""
    return normalised_scores(tables.finals, reference=tables.selected_finals)


def config_table(tables: Tables) -> pd.DataFrame:
    """One row per trial of the (algorithm, task) pairs that ran more than one configuration: the
    varied hyperparameters, final return mean ± SEM over seeds, normalised score, timing."""
    trials = tables.trials[tables.trials["configs"] > 1]
    varied = varied_hparams(tables.trials)
    keys = sorted({k for (a, e), ks in varied.items() for k in ks if ((trials["algo"] == a) & (trials["env"] == e)).any()})
    scores, undefined = trial_scores(tables)
    mean_score = scores.groupby("trial_id")["score"].mean()
    hp = hparams_frame(trials["hparams"])
    rows = []
    for i, t in trials.iterrows():
        g = tables.finals[tables.finals["trial_id"] == t["trial_id"]]
        ret = g["final_return"].to_numpy(float)
        ret = ret[np.isfinite(ret)]
        counts = g["status"].value_counts()
        row = {"algo": t["algo"], "env": t["env"]}
        row.update({k: format_value(hp.at[i, k]) if k in hp else "–" for k in keys})
        row.update({
            "seeds": int(ret.size), "return_mean": ret.mean() if ret.size else np.nan,
            "return_sem": float(sem(ret)) if ret.size > 1 else np.nan,
            "normalised_score": mean_score.get(t["trial_id"], np.nan), "score_note": undefined.get(t["env"], ""),
            "run_s": t["run_s"], "compile_s": t["compile_s"], "call_configs": t["call_configs"],
            "statuses": ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())),
            "selected": bool(t["selected"]), "trial_id": t["trial_id"],
        })
        rows.append(row)
    out = pd.DataFrame(rows, columns=["algo", "env", *keys, "seeds", "return_mean", "return_sem", "normalised_score",
                                      "score_note", "run_s", "compile_s", "call_configs", "statuses", "selected",
                                      "trial_id"])
    rank = {**{a: i for i, a in enumerate(algo_order(out["algo"]))},
            **{e: i for i, e in enumerate(task_order(out["env"]))}}
    out["_env"], out["_algo"] = out["env"].map(rank), out["algo"].map(rank)
    out = out.sort_values(["_env", "_algo", "return_mean"], ascending=[True, True, False], na_position="last")
    return out.drop(columns=["_env", "_algo"]).reset_index(drop=True)


def _fmt(value, spec: str) -> str:
    return "–" if not (isinstance(value, (int, float, np.number)) and np.isfinite(value)) else format(value, spec)


def config_cells(table: pd.DataFrame, keys: list[str], shown: str = "**shown**") -> pd.DataFrame:
    """The configuration table as it is shown (sweep_table.md, the report page): formatted text cells,
    `shown` in the last column of the configuration the summary reports."""
    header = ["algo", "task", *keys, "seeds", "final return (mean ± SEM)", "normalised score", "run s",
              "configs in its call", "statuses", ""]
    rows = []
    for _, r in table.iterrows():
        ret = _fmt(r["return_mean"], ".4g") + ("" if not np.isfinite(r["return_sem"]) else f" ± {_fmt(r['return_sem'], '.2g')}")
        score = _fmt(r["normalised_score"], ".3f") if r["score_note"] == "" else f"– ({r['score_note']})"
        cells = [r["algo"], r["env"], *(r[k] for k in keys), r["seeds"], ret, score, _fmt(r["run_s"], ".1f"),
                 _fmt(r["call_configs"], "g"), r["statuses"], shown if r["selected"] else ""]
        rows.append([str(c) for c in cells])
    return pd.DataFrame(rows, columns=header)


def config_markdown(table: pd.DataFrame, keys: list[str]) -> str:
    return markdown_table(config_cells(table, keys))


def config_keys(table: pd.DataFrame) -> list[str]:
    """The varied hyperparameters: the columns of `config_table` before its values."""
    return [c for c in table.columns if c not in ("algo", "env") and c not in _VALUE_COLUMNS]


CONFIG_NOTE = ("One row per configuration of each "
               "algorithm and task that ran more than one; columns before `seeds` are the hyperparameters whose "
               "values differ between those configurations (– where a trial has no such key). Final return: "
               "last evaluation of each seed, mean ± SEM over seeds. Normalised score: mean over seeds of "
               "(R − R_random) / (R_PPO − R_random), R_PPO from the PPO trial in summary.md. **shown**: the "
               "configuration the per-task figures and the summary report. run s: the trial's share of its compiled "
               "call (the call's run seconds / the configurations trained in it, `configs in its call`).")


def write_sweep_table(tables: Tables, out_dir: Path) -> list[Path] | str:
    """`sweep_table.csv` and `sweep_table.md`, or why there is none."""
    table = config_table(tables)
    if table.empty:
        return "one configuration per algorithm and task (nothing to compare)"
    out_dir.mkdir(parents=True, exist_ok=True)
    csv, md = out_dir / "sweep_table.csv", out_dir / "sweep_table.md"
    table.to_csv(csv, index=False)
    md.write_text("# Configurations\n\n" + config_markdown(table, config_keys(table)) + "\n" + CONFIG_NOTE + "\n")
    return [csv, md]


_VALUE_COLUMNS = ("seeds", "return_mean", "return_sem", "normalised_score", "score_note", "run_s", "compile_s",
                  "call_configs", "statuses", "selected", "trial_id")


def file_name(key: str) -> str:
    return "sensitivity_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


def sensitivity_points(tables: Tables, key: str) -> tuple[pd.DataFrame, list[str]]:
    """Per algorithm and value of `key`: the mean over tasks of the mean normalised score over seeds,
    with a stratified-bootstrap 95% CI (seeds resampled within each task), and notes.

    Only (algorithm, task) pairs whose trials vary `key` take part. At one value, every trial with
    that value contributes its seeds, so the other varied hyperparameters are averaged over.
    """
    varied = varied_hparams(tables.trials)
    pairs = {pair for pair, keys in varied.items() if key in keys}
    scores, undefined = trial_scores(tables)
    by_reason: dict[str, list[str]] = {}
    for env, why in undefined.items():
        if any(e == env for _, e in pairs):
            by_reason.setdefault(why, []).append(env)
    notes = [f"left out ({why}): {', '.join(task_order(envs))}" for why, envs in by_reason.items()]
    pair_index = pd.MultiIndex.from_frame(scores[["algo", "env"]])
    scores = scores[pair_index.isin(list(pairs))].copy()
    values = hparams_frame(scores["hparams"])
    if key not in values:
        return pd.DataFrame(columns=["algo", "value", "point", "lo", "hi", "tasks"]), notes
    scores["value"] = values[key]
    scores = scores[scores["value"].map(lambda v: not (isinstance(v, float) and np.isnan(v)))]
    scores["value_key"] = scores["value"].map(format_value)
    rows = []
    for algo, a in scores.groupby("algo", sort=False):
        for value_key, v in a.groupby("value_key", sort=False):
            per_task = [g["score"].to_numpy(float) for _, g in v.groupby("env")]
            ci = stratified_bootstrap_ci(per_task, aggregate_mean)
            rows.append({"algo": algo, "value": v["value"].iloc[0], "label": value_key, "point": ci.point,
                         "lo": ci.lo, "hi": ci.hi, "tasks": len(per_task)})
    return pd.DataFrame(rows, columns=["algo", "value", "label", "point", "lo", "hi", "tasks"]), notes


def _tasks(n: int) -> str:
    return f"{n} task" + ("s" if n != 1 else "")


def _numeric(values: pd.Series) -> bool:
    return all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in values)


def sensitivity_figure(tables: Tables, key: str):
    """Final normalised score vs the value of `key`, a line per algorithm, 95% bootstrap CIs."""
    points, notes = sensitivity_points(tables, key)
    if points.empty:
        why = "; ".join(n.removeprefix("left out (").replace("):", ":", 1) for n in notes) or "no finished seeds"
        return f"no defined normalised score for the trials that vary {key} ({why})"
    numeric = _numeric(points["value"])
    if numeric:
        points["x"] = points["value"].astype(float)
        positive = points["x"].to_numpy()
        log = bool((positive > 0).all() and positive.max() / positive.min() > LOG_SPAN)
    else:
        order = sorted(points["label"].unique())
        points["x"] = points["label"].map({lab: i for i, lab in enumerate(order)}).astype(float)
        log = False
    algos = algo_order(points["algo"].unique())
    fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
    for algo in algos:
        p = points[points["algo"] == algo].sort_values("x")
        joined = numeric and p["x"].nunique() <= MAX_JOINED  # categories have no order to draw a line along
        ax.errorbar(p["x"], p["point"], yerr=[p["point"] - p["lo"], p["hi"] - p["point"]], color=style.colour(algo),
                    marker="o", ms=6, capsize=3, lw=2 if joined else 0, elinewidth=1.4,
                    label=f"{style.label(algo)} ({_tasks(int(p['tasks'].max()))})")
    ax.axhline(1.0, color="#333333", ls="--", lw=1)
    ax.axhline(0.0, color="#333333", ls=":", lw=1)
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    if numeric and points["x"].nunique() <= MAX_JOINED:
        ax.set_xticks(sorted(points["x"].unique()), [f"{v:g}" for v in sorted(points["x"].unique())])
    elif not numeric:
        ax.set_xticks(range(len(order)), order)
        ax.set_xlim(-0.5, len(order) - 0.5)
    ax.set_xlabel(key + (" (log scale)" if log else ""))
    ax.set_ylabel("final normalised score")
    ax.set_title(f"Sensitivity to {key}: final PPO-normalised score (0 = random, 1 = PPO)")
    ax.legend(loc="best", fontsize=9)
    tasks_per_value = points.groupby("algo")["tasks"].agg(["min", "max"])
    uneven = [style.label(a) for a, r in tasks_per_value.iterrows() if r["min"] != r["max"]]
    if uneven:
        notes.append(f"not every value ran on every task ({', '.join(uneven)}): points average different task sets")
    style.footnote(fig, notes + [
        "Point: mean over tasks of the mean score over seeds of every configuration with that value (the other "
        "varied hyperparameters averaged over); bar: 95% stratified-bootstrap CI, seeds resampled within each task. "
        "R_PPO: the PPO configuration in the summary."])
    return fig
