"""PPO-normalised score figures: per-task scores and the IQM / mean aggregates over tasks (robust
style), and the paper's R / R_PPO per task and over tasks, mean ± SEM (paper style).

Score definitions and CI methods are in `plots.stats`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from eggroll_bench.plots import style  # first: selects the headless Agg backend
import matplotlib.pyplot as plt  # noqa: E402

from eggroll_bench.plots.load import algo_order, task_order  # noqa: E402
from eggroll_bench.plots.stats import (ALL_TASKS, aggregate_scores, normalised_scores, paper_score_table,  # noqa: E402
                         ppo_ratios, t_interval)
from eggroll_bench.plots.tidy import Tables, agents_filter  # noqa: E402

DODGE = 0.26


def scores_figure(tables: Tables, reps: int | None = None):
    """Left: each task's per-seed scores (mean, 95% t-interval over seeds, seeds as dots).
    Right: IQM and mean over tasks per algorithm with stratified-bootstrap 95% CIs."""
    finals = agents_filter(tables.selected_finals, multi_agent=False)
    if finals.empty:
        return "no single-agent results"
    scores, undefined = normalised_scores(finals)
    if scores.empty:
        by_reason: dict[str, list[str]] = {}
        for task, reason in undefined.items():
            by_reason.setdefault(reason, []).append(task)
        reasons = "; ".join(f"{r}: {', '.join(ts)}" for r, ts in by_reason.items())
        return f"no task has a defined PPO-normalised score ({reasons})"
    algos = algo_order(finals["algo"].unique())
    tasks = task_order(finals["env"])
    agg = aggregate_scores(scores, **({"reps": reps} if reps else {}))

    # aggregate panels keep a fixed height at the top right, whatever the number of tasks;
    # the legend sits in the space left under them
    agg_h = 0.42 * len(algos) + 0.9
    height = max(2 * agg_h + 1.4, 0.28 * len(tasks) * max(1, len(algos)) + 1.2)
    fig = plt.figure(figsize=(12, height), layout="constrained")
    grid = fig.add_gridspec(3, 2, width_ratios=[1.7, 1], height_ratios=[agg_h, agg_h, height - 2 * agg_h])
    ax = fig.add_subplot(grid[:, 0])
    notes = _per_task(ax, scores, undefined, tasks, algos)
    for row, metric in enumerate(("IQM", "mean")):
        _aggregate(fig.add_subplot(grid[row, 1]), agg[agg["metric"] == metric], metric, algos, len(tasks))
    legend_ax = fig.add_subplot(grid[2, 1])
    legend_ax.axis("off")
    from matplotlib.lines import Line2D
    legend_ax.legend(handles=[Line2D([], [], color=style.colour(a), marker="o", lw=2, label=style.label(a))
                              for a in algos], loc="upper center", frameon=False, ncols=len(algos))
    fig.suptitle("PPO-normalised score: (R − R_random) / (R_PPO − R_random)")
    style.footnote(fig, notes + [
        "R: final evaluation return of a seed; R_PPO: mean over PPO seeds of R; R_random: uniform-random "
        "policy. Per task: mean and 95% t-interval over seeds (dots: seeds). Aggregates: stratified bootstrap "
        "over seeds within tasks, 95% percentile CI."])
    return fig


def _per_task(ax, scores: pd.DataFrame, undefined: dict[str, str], tasks: list[str],
              algos: list[str]) -> list[str]:
    notes = []
    offsets = {a: (i - (len(algos) - 1) / 2) * DODGE for i, a in enumerate(algos)}
    for y, task in enumerate(tasks):
        if task in undefined:
            ax.text(0.5, y, f"{undefined[task]}: score undefined", transform=ax.get_yaxis_transform(),
                    ha="center", va="center", fontsize=9, color=style.NOTE_COLOUR, style="italic",
                    bbox={"fc": "white", "ec": "none"})
            notes.append(f"{undefined[task]}: {task}")
            continue
        have = scores[scores["env"] == task]
        for algo in algos:
            s = have.loc[have["algo"] == algo, "score"].to_numpy(float)
            if s.size == 0:
                notes.append(f"{task}: no {style.label(algo)} results")
                continue
            mean, lo, hi, _ = t_interval(s)
            yy = y + offsets[algo]
            ax.scatter(s, np.full(s.size, yy), s=12, color=style.colour(algo), alpha=0.45, lw=0, zorder=2)
            ax.errorbar(mean, yy, xerr=[[mean - lo], [hi - mean]], fmt="o", color=style.colour(algo),
                        ms=6, capsize=3, lw=1.6, zorder=3)
    ax.axvline(0, color="#333333", lw=1, ls=":")
    ax.axvline(1, color="#333333", lw=1, ls="--")
    ax.set_yticks(range(len(tasks)), tasks)
    ax.set_ylim(len(tasks) - 0.5, -0.5)  # first task on top
    ax.set_xlabel("normalised score (0 = random, 1 = PPO)")
    ax.set_title("Per task (final return)")
    ax.grid(axis="y", visible=False)
    for y in range(len(tasks) - 1):
        ax.axhline(y + 0.5, color="#e0e0e0", lw=0.8)
    return notes


def _aggregate(ax, agg: pd.DataFrame, metric: str, algos: list[str], n_tasks: int) -> None:
    shown = [a for a in algos if a in set(agg["algo"])]
    for y, algo in enumerate(shown):
        r = agg[agg["algo"] == algo].iloc[0]
        ax.barh(y, r["hi"] - r["lo"], left=r["lo"], height=0.55, color=style.colour(algo), alpha=0.35)
        ax.plot([r["point"], r["point"]], [y - 0.28, y + 0.28], color=style.colour(algo), lw=2.5)
        ax.text(r["hi"], y, f"  {r['point']:.2f}", va="center", fontsize=9)
    labels = [f"{style.label(a)}\n({int(agg.loc[agg['algo'] == a, 'tasks'].iloc[0])}/{n_tasks} tasks)"
              for a in shown]
    ax.set_yticks(range(len(shown)), labels)
    ax.set_ylim(len(shown) - 0.5, -0.5)
    ax.axvline(1, color="#333333", lw=1, ls="--")
    ax.margins(x=0.25)
    ax.set_xlabel("normalised score")
    ax.set_title(f"{metric} over tasks (95% bootstrap CI)")
    ax.grid(axis="y", visible=False)


def paper_scores_figure(tables: Tables):
    """The paper's style at the end of training: each task's R / R_PPO, mean ± SEM over seeds (dots:
    seeds), and at the bottom the mean over tasks ± sqrt(Σ SEM²) / T."""
    finals = agents_filter(tables.selected_finals, multi_agent=False)
    if finals.empty:
        return "no single-agent results"
    ratios, undefined = ppo_ratios(finals)
    if ratios.empty:
        return "no task has a positive PPO reference return (R / R_PPO undefined)"
    table = paper_score_table(ratios)
    algos = algo_order(finals["algo"].unique())
    rows = task_order(ratios["env"]) + [ALL_TASKS]
    offsets = {a: (i - (len(algos) - 1) / 2) * DODGE for i, a in enumerate(algos)}
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(rows) * max(1, len(algos)) + 1.6), layout="constrained")
    for y, env in enumerate(rows):
        for algo in algos:
            r = table[(table["algo"] == algo) & (table["env"] == env)]
            if r.empty:
                continue
            yy = y + offsets[algo]
            if env != ALL_TASKS:
                seeds = ratios.loc[(ratios["algo"] == algo) & (ratios["env"] == env), "ratio"].to_numpy(float)
                ax.scatter(seeds, np.full(seeds.size, yy), s=12, color=style.colour(algo), alpha=0.45, lw=0)
            ax.errorbar(r["mean"].iloc[0], yy, xerr=r["sem"].iloc[0], fmt="o", color=style.colour(algo), ms=6,
                        capsize=3, lw=1.6, zorder=3)
    counts = table[table["env"] == ALL_TASKS].set_index("algo")["n"]
    label = f"{ALL_TASKS} ({', '.join(f'{style.label(a)} {counts[a]}' for a in algos if a in counts)})"
    ax.set_yticks(range(len(rows)), rows[:-1] + [label])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.axhline(len(rows) - 1.5, color="#333333", lw=0.8)
    ax.axvline(1, color="#333333", lw=1, ls="--")
    ax.set_xlabel("final return / PPO final return")
    ax.grid(axis="y", visible=False)
    ax.set_title("Paper style: R / R_PPO per task (mean ± SEM over seeds)")
    style.algo_legend(fig, algos)
    style.footnote(fig, [f"left out ({why}): {env}" for env, why in undefined.items()] + [
        "R: final evaluation return of a seed; R_PPO: PPO's final mean return (mean over PPO seeds of R), so PPO "
        "scores 1 on average. Dots: seeds. Mean over tasks: the task means averaged, SEM sqrt(sum of SEM²) / tasks."])
    return fig
