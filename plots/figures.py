"""Learning-curve figures: per-task return curves (single- and multi-agent) and the paper-style
PPO-normalised curve averaged over tasks.

Each builder returns a matplotlib Figure, or a string saying why it cannot be drawn.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eggroll_bench.plots import style  # first: selects the headless Agg backend
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
from eggroll_bench.plots.load import algo_order, task_order
from eggroll_bench.plots.stats import mean_sem_over_tasks, ppo_reference, sem, t_interval
from eggroll_bench.plots.tidy import Tables, agents_filter, common_grid, curve_band, seed_ends, seed_matrix

X_LABELS = {"env_steps": "environment steps", "wall_s": "wall-clock (s), compile excluded"}
X_TITLES = {"env_steps": "environment steps", "wall_s": "wall-clock time"}
X_UNITS = {"env_steps": "env steps", "wall_s": "s"}
TRUNCATION_MARK = 0.05  # a curve cut this far (fraction of the axis) before its longest seed is marked


def curves_figure(tables: Tables, x: str, multi_agent: bool = False):
    """Evaluation return vs `x` ("env_steps" or "wall_s"), one panel per task, mean and 95% CI."""
    kind = "multi-agent" if multi_agent else "single-agent"
    evals = agents_filter(tables.selected_evals, multi_agent)
    finals = agents_filter(tables.selected_finals, multi_agent)
    if finals.empty:
        return f"no {kind} results"
    if evals.empty:
        return f"no evaluation rows for {kind} tasks (only final rows)"
    algos = algo_order(tables.finals["algo"].unique())
    tasks = task_order(finals["env"])
    fig, axes = style.panel_grid(len(tasks), ncols=3 if multi_agent else 4)
    notes, clipped = [], False
    for ax, task in zip(axes, tasks):
        style.panel_title(ax, task)
        ev = evals[evals["env"] == task]
        ev = ev[np.isfinite(ev[x])]
        missing = [a for a in algos if a not in set(ev["algo"])]
        no_curve = [a for a in missing if a in set(finals.loc[finals["env"] == task, "algo"])]
        if ev.empty:
            style.mark_missing(ax, f"no {X_TITLES[x]} recorded in evaluation rows")
            notes.append(f"{task}: no evaluation rows with {x}")
            continue
        clipped |= _draw_curves(ax, ev, x, [a for a in algos if a not in missing], task, notes)
        if missing:
            text = "no " + ", ".join(style.label(a) for a in missing)
            ax.text(0.98, 0.03, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                    color=style.NOTE_COLOUR, style="italic")
            absent = [style.label(a) for a in missing if a not in no_curve]
            if absent:
                notes.append(f"{task}: no results for {', '.join(absent)}")
            if no_curve:
                notes.append(f"{task}: {', '.join(style.label(a) for a in no_curve)} ran without evaluation "
                             "rows (final results only), so no curve")
        if x == "env_steps":
            ax.xaxis.set_major_formatter(style.steps_formatter())
        ax.set_xlim(left=0)
    ylabel = "team return (evaluation)" if multi_agent else "evaluation return"
    fig.supxlabel(X_LABELS[x])
    fig.supylabel(ylabel)
    fig.suptitle(f"{'Multi-agent' if multi_agent else 'Per-task'} return vs {X_TITLES[x]} "
                 "(mean and 95% CI over seeds)")
    style.algo_legend(fig, algos)
    style.footnote(fig, notes + ["Each seed's curve is interpolated onto a common grid per task before "
                                 "averaging (ES seeds evaluate at different env steps), and a curve spans only "
                                 "the range every one of its seeds covers (|: where other seeds ran further); "
                                 "band: 95% t-interval"
                                 + (" (with few seeds it is wide: the y axis spans the seeds' returns and "
                                    "clips the band)." if clipped else ".")])
    return fig


def _draw_curves(ax, ev: pd.DataFrame, x: str, algos: list[str], task: str = "",
                 notes: list[str] | None = None) -> bool:
    """One panel's mean curves and bands; True when a band reaches past the y limits.

    A curve ends at its shortest seed's last evaluation (`tidy.curve_band`); where other seeds ran
    on by more than TRUNCATION_MARK of the axis, the end is marked with a bar and `notes` says
    where. An algorithm whose seeds share a single evaluation point is a marker (mean and
    t-interval over seeds), with a `style.PlotWarning`: a one-point line would be invisible.
    """
    notes = [] if notes is None else notes
    grid = common_grid(ev, x)
    values, clipped = [], False
    for algo in algos:
        sub = ev[ev["algo"] == algo]
        colour, name = style.colour(algo), style.label(algo)
        per_seed = sub.groupby(["trial_id", "seed"])[x].nunique()
        if per_seed.max() <= 1:  # one evaluation per seed: no curve to draw
            points = sub[np.isfinite(sub["return_mean"])]
            mean, lo, hi, n = t_interval(points["return_mean"].to_numpy(float))
            at = float(points[x].mean())
            ax.errorbar([at], [mean], yerr=[[mean - lo], [hi - mean]], color=colour, marker="o", ms=7, capsize=3)
            values.append(points["return_mean"].to_numpy(float))
            _warn(notes, f"{task}: {name} has a single evaluation point (at {at:,.0f} {X_UNITS[x]}, {int(n)} seeds), "
                  "drawn as a marker, not a curve")
            continue
        matrix = seed_matrix(sub, x, grid)
        band = curve_band(matrix)
        finite = np.flatnonzero(np.isfinite(band["mean"].to_numpy()))
        data = matrix[np.isfinite(matrix)]
        values.append(data)
        if finite.size == 0:
            _warn(notes, f"{task}: {name}'s seeds share no {X_UNITS[x]} range with every seed evaluated, so no mean curve")
            continue
        if finite.size == 1:
            i = finite[0]
            ax.errorbar([grid[i]], [band["mean"][i]], yerr=[[band["mean"][i] - band["lo"][i]],
                                                            [band["hi"][i] - band["mean"][i]]],
                        color=colour, marker="o", ms=7, capsize=3)
            _warn(notes, f"{task}: {name}'s seeds overlap at a single point (at {grid[i]:,.0f} {X_UNITS[x]}), drawn as a "
                  "marker, not a curve")
            continue
        ax.plot(grid, band["mean"], color=colour, lw=2, label=name)
        ax.fill_between(grid, band["lo"], band["hi"], color=colour, alpha=0.2, lw=0)
        ends = seed_ends(matrix, grid)
        cut = grid[finite[-1]]
        if ends.size and ends.max() - cut > TRUNCATION_MARK * grid[-1]:
            ax.plot([cut], [band["mean"][finite[-1]]], color=colour, marker="|", ms=14, mew=2.5)
            later = int(np.sum(ends > cut))
            notes.append(f"{task}: {name} ends at {_amount(cut, x)}, where its shortest seed ends; "
                         f"{later} of {ends.size} seeds ran to {_amount(ends.max(), x)}")
        if data.size and np.isfinite(band["lo"]).any():
            clipped |= bool(np.nanmin(band["lo"]) < data.min() or np.nanmax(band["hi"]) > data.max())
    _limit_to_data(ax, np.concatenate(values) if values else np.empty(0))
    return clipped


def _amount(value: float, x: str) -> str:
    return f"{value:,.0f} env steps" if x == "env_steps" else f"{value:,.1f} s"


def _warn(notes: list[str], message: str) -> None:
    """Say it under the figure and to whoever renders it (`plots.render` lists it with the gaps)."""
    notes.append(message)
    warnings.warn(message, style.PlotWarning, stacklevel=3)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _limit_to_data(ax, values: np.ndarray) -> None:
    """y limits from the seeds' own returns: a t-interval over 2-3 seeds can be ten times wider
    than the returns themselves and would flatten every curve."""
    if values.size:
        lo, hi = float(values.min()), float(values.max())
        pad = 0.08 * (hi - lo) if hi > lo else max(1.0, 0.1 * abs(hi))
        ax.set_ylim(lo - pad, hi + pad)


@dataclass(frozen=True)
class PaperCurves:
    """What `paper_curve_figure` draws: per algorithm the task-averaged R / R_PPO and its SEM on `grid`."""

    x: str  # "env_steps", or "progress" when the tasks' budgets differ
    grid: np.ndarray
    lines: dict[str, tuple[np.ndarray, np.ndarray, list[str]]]  # algo -> (mean, SEM, tasks averaged)
    tasks: list[str]
    notes: list[str]


def paper_curves(finals: pd.DataFrame, evals: pd.DataFrame) -> PaperCurves | str:
    """The paper's style: R / R_PPO, mean ± SEM over seeds, averaged over tasks, vs env steps.

    Per task and grid point: mean and SEM over seeds of R / R_PPO. Across tasks: the mean of the
    task means, with SEM sqrt(sum of task SEM²) / T (tasks independent), only where every task
    has data, so the mix of tasks never changes along a curve. Tasks with R_PPO <= 0 are left
    out, as a ratio to a non-positive return has no meaning. When the tasks' budgets differ, x is
    each seed's progress, env steps / max(budget, the seed's final env steps): every seed that
    finished ends at exactly 1 even when its last update overshot the budget (a seed that stopped
    early, diverged, ends before 1), so the tasks line up at their end and the PPO curve ends at 1.
    Returns a reason string when there is nothing to draw.
    """
    if evals.empty:
        return "no single-agent evaluation rows"
    ref = ppo_reference(finals)
    notes = []
    no_ppo = task_order(set(finals["env"]) - set(ref.index))
    if no_ppo:
        notes.append(f"no PPO reference: {', '.join(no_ppo)}")
    bad = task_order(ref.index[~(ref > 0)])
    if bad:
        notes.append(f"left out, R_PPO <= 0 so R / R_PPO is undefined: {', '.join(bad)}")
    tasks = task_order(ref.index[ref > 0])
    if not tasks:
        return "no task has a positive PPO reference return (R / R_PPO undefined)"
    budgets = finals[finals["env"].isin(tasks)].groupby("env")["budget"].max()
    ev = evals[evals["env"].isin(tasks)].copy()
    if budgets.nunique() == 1 and np.isfinite(budgets).all():
        x, grid = "env_steps", common_grid(ev, "env_steps")
    else:
        reached = ev.groupby(["trial_id", "seed"])["env_steps"].transform("max")
        ev["progress"] = ev["env_steps"] / np.maximum(ev["budget"].astype(float), reached)  # the seed's own trial
        x, grid = "progress", np.linspace(0, 1, 101)
        notes.append("tasks have different env-step budgets: x is each seed's progress, env steps / "
                     "max(budget, its final env steps)")
    lines = {}
    for algo in algo_order(ev["algo"].unique()):
        means, sems, used = [], [], []
        for task in tasks:
            m = seed_matrix(ev[(ev["algo"] == algo) & (ev["env"] == task)], x, grid) / ref[task]
            if m.shape[0]:
                mean = curve_band(m)["mean"].to_numpy()  # only where every seed of the task has data
                means.append(mean)
                sems.append(np.where(np.isfinite(mean), sem(m, axis=0), np.nan))
                used.append(task)
        if used:
            mean, err = mean_sem_over_tasks(np.array(means), np.array(sems))
            lines[algo] = (mean, err, used)
    starts = {algo: grid[np.isfinite(mean)].min() for algo, (mean, _, _) in lines.items() if np.isfinite(mean).any()}
    late = {algo: start for algo, start in starts.items() if start > grid[-1] / 2}
    if late:
        notes.append("a curve starts where every task of its algorithm has an evaluation: " + ", ".join(
            f"{style.label(a)} from {v:.2f}" if x == "progress" else f"{style.label(a)} from {v:,.0f} steps"
            for a, v in late.items()))
    return PaperCurves(x, grid, lines, tasks, notes)


def paper_curve_figure(tables: Tables):
    """Draws `paper_curves` of the single-agent results: a line per algorithm, its final point marked."""
    curves = paper_curves(agents_filter(tables.selected_finals, False), agents_filter(tables.selected_evals, False))
    if isinstance(curves, str):
        return curves
    grid = curves.grid
    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    for algo, (mean, err, used) in curves.lines.items():
        colour = style.colour(algo)
        ax.plot(grid, mean, color=colour, lw=2, label=f"{style.label(algo)} ({_plural(len(used), 'task')})")
        ax.fill_between(grid, mean - err, mean + err, color=colour, alpha=0.2, lw=0)
        finite = np.flatnonzero(np.isfinite(mean))
        if finite.size:  # the end point, visible even when a curve is a single point
            i = finite[-1]
            ax.errorbar(grid[i], mean[i], yerr=err[i] if np.isfinite(err[i]) else None, color=colour, marker="o",
                        ms=5, capsize=3)
    ax.axhline(1.0, color="#333333", ls="--", lw=1)
    ax.text(0.01, 1.0, " PPO final return", transform=ax.get_yaxis_transform(), va="bottom", fontsize=9)
    if curves.x == "env_steps":
        ax.xaxis.set_major_formatter(style.steps_formatter())
        ax.set_xlabel("environment steps")
    else:
        ax.set_xlabel("training progress (fraction of each task's env-step budget)")
    ax.set_ylabel("return / PPO final return")
    ax.set_title(f"Paper style: R / R_PPO averaged over {_plural(len(curves.tasks), 'task')} (mean ± SEM over seeds)")
    ax.legend(loc="lower right")
    style.footnote(fig, curves.notes + ["R_PPO: PPO's final mean return (mean over PPO seeds of the final "
                                        "evaluation return); SEM of the task average: sqrt(sum of per-task SEM²) / "
                                        "tasks; dot: the curve's last point."])
    return fig
