"""Per-task verdicts: is EGGROLL better than, comparable with, or worse than OpenES on a task?

Both ES are compared on the trial each algorithm shows for the task (`Tables.selected_finals`,
the summary's row), from the final return of every seed. The rule (`rule()`):

    better      if the 95% Welch interval of mean(EGGROLL) − mean(OpenES) over seeds lies above 0
                and the difference is at least MARGIN of PPO's normalising range (R_PPO − R_random)
    worse       the same, below 0
    comparable  otherwise (the interval holds 0, or the gap is smaller than the margin)

(and no verdict where either algorithm has a single seed: there is no spread to judge by, e.g. a
search's one-seed trials).

Welch's interval, not a pooled one, because the two algorithms' seed spreads differ (an ES that
solves CartPole on every seed has none). The margin keeps a gap that is consistent but too small
to matter (e.g. 500 against 498) from being called a difference; without a PPO reference (or with
PPO not above random) there is no scale, and only the interval decides.

Beside each verdict: the paper's category for the tasks it shares with the sweep (`PAPER`), with
what makes the two comparable or not, the time figure's speed-up, and each ES's normalised score
(R − R_random) / (R_PPO − R_random) and R / R_PPO (the paper's normalisation, undefined where
R_PPO <= 0) at its mean final return.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eggroll_bench.files import write_atomic
from eggroll_bench.plots.figures_systems import speed_ups
from eggroll_bench.plots.load import task_order
from eggroll_bench.plots.stats import (Interval, normalised_scores, ppo_ratios, ppo_reference, t_interval,
                                        welch_interval)
from eggroll_bench.plots.summary import markdown_table
from eggroll_bench.plots.tidy import Tables

MARGIN = 0.05
BETTER, COMPARABLE, WORSE, TOO_FEW = "better", "comparable", "worse", "too few seeds (1)"
FILES = ("verdicts.csv", "verdicts.md")


@dataclass(frozen=True)
class PaperVerdict:
    category: str  # EGGROLL vs OpenES in the paper, in its own words
    source: str


# The paper's word on the tasks of its 16 that a CPU sweep can share. Its text gives only the totals
# (EGGROLL competitive with OpenES on 7/16 tasks, worse on 2, better on 7; §6.2) and names no task
# per category: CartPole-v1 and Pendulum-v1 appear as curves (PPO-normalised, 10 seeds) and in the
# training-time figure, whose speed-ups its text states. No category is read off a plot here.
_PAPER_SOURCE = ("arXiv 2511.16652 (EGGROLL paper) §6.2: totals 7/16 comparable, 2/16 worse, 7/16 better, no "
                 "task named per category; per-task curves in its Fig. 9 (v1) / 14 (v2); time in Fig. 15 (v2)")
PAPER: dict[str, PaperVerdict] = {
    "CartPole-v1": PaperVerdict("category not stated in the text (curves only); EGGROLL 1.83x faster", _PAPER_SOURCE),
    "Pendulum-v1": PaperVerdict("category not stated in the text (curves only); EGGROLL 7.81x faster", _PAPER_SOURCE),
}
PAPER_SETUP = ("the paper tuned each algorithm with 20 random-search trials, trained for the budgets its "
               "figures' axes show (up to 5e8 env steps) on an NVIDIA L40S, 10 seeds, 3x256 pqn MLP; "
               "here: this sweep's search, budget, seeds and network, on a CPU")


def rule(margin: float = MARGIN) -> str:
    return (f"better / worse: the 95% Welch interval of mean(EGGROLL) − mean(OpenES) over seeds excludes 0 and "
            f"the gap is at least {margin:.0%} of PPO's range R_PPO − R_random (only the interval decides where "
            f"there is no PPO reference); comparable otherwise; none with a single seed on either side")


def verdict(diff: Interval, scale: float, margin: float = MARGIN) -> str:
    """The rule on one task: `diff` is EGGROLL − OpenES, `scale` the normalising range (NaN: none)."""
    if not np.isfinite(diff.point):
        return "–"
    if not (np.isfinite(diff.lo) and np.isfinite(diff.hi)):  # one seed on a side: no spread to judge by
        return TOO_FEW
    big = not np.isfinite(scale) or abs(diff.point) >= margin * scale
    if diff.lo > 0 and big:
        return BETTER
    if diff.hi < 0 and big:
        return WORSE
    return COMPARABLE


def verdict_table(tables: Tables, margin: float = MARGIN) -> pd.DataFrame:
    """One row per task where both ES ran: each one's mean final return with its 95% t-interval and
    R / R_PPO, the difference with its Welch interval, the verdict and the paper's category."""
    finals = tables.selected_finals
    finals = finals[np.isfinite(finals["final_return"])]
    r_ppo, faster = ppo_reference(finals), speed_ups(tables)
    # per-seed scores by the summary's own rules; a seed mean of them is the score of the mean return
    scores = normalised_scores(finals)[0].groupby(["env", "algo"])[["score", "r_ppo", "r_random"]].mean()
    ratios = ppo_ratios(finals)[0].groupby(["env", "algo"])["ratio"].mean()
    rows = []
    for env in task_order(finals["env"].unique()):
        seeds = {a: finals.loc[(finals["env"] == env) & (finals["algo"] == a), "final_return"].to_numpy(float)
                 for a in ("eggroll", "openes")}
        if not all(v.size for v in seeds.values()):
            continue
        ppo = float(r_ppo.get(env, np.nan))
        scored = scores.xs(env, level="env") if env in scores.index.get_level_values("env") else None
        scale = float((scored["r_ppo"] - scored["r_random"]).iloc[0]) if scored is not None else np.nan
        diff = welch_interval(seeds["eggroll"], seeds["openes"])
        paper = PAPER.get(env)
        row = {"env": env, "verdict": verdict(diff, scale, margin),
               "diff": diff.point, "diff_lo": diff.lo, "diff_hi": diff.hi, "r_ppo": ppo,
               "speed_up": faster[env].ratio if env in faster else np.nan,
               "speed_up_text": faster[env].text if env in faster else "–",
               "paper": paper.category if paper else "", "paper_source": paper.source if paper else ""}
        for algo, values in seeds.items():
            mean, lo, hi, n = t_interval(values)
            lo, hi = (lo, hi) if n > 1 else (np.nan, np.nan)  # one seed: no interval, not a zero-width one
            row.update({f"{algo}_mean": float(mean), f"{algo}_lo": float(lo), f"{algo}_hi": float(hi),
                        f"{algo}_seeds": int(n),
                        f"{algo}_score": float(scores["score"].get((env, algo), np.nan)),
                        f"{algo}_ratio": float(ratios.get((env, algo), np.nan))})
        rows.append(row)
    return pd.DataFrame(rows)


def _interval(mean: float, lo: float, hi: float) -> str:
    return f"{mean:.4g} [{lo:.4g}, {hi:.4g}]" if np.isfinite(lo) and np.isfinite(hi) else f"{mean:.4g}"


def verdict_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The table as shown (verdicts.md and the report page)."""
    rows = []
    for _, r in table.iterrows():
        score, ratio = (" / ".join("–" if not np.isfinite(r[f"{a}_{k}"]) else f"{r[f'{a}_{k}']:.2f}"
                                   for a in ("eggroll", "openes")) for k in ("score", "ratio"))
        rows.append([r["env"],
                     _interval(r["eggroll_mean"], r["eggroll_lo"], r["eggroll_hi"]) + f" ({r['eggroll_seeds']})",
                     _interval(r["openes_mean"], r["openes_lo"], r["openes_hi"]) + f" ({r['openes_seeds']})",
                     score, ratio, _interval(r["diff"], r["diff_lo"], r["diff_hi"]), f"**{r['verdict']}**",
                     r["speed_up_text"], r["paper"] or "–"])
    return pd.DataFrame(rows, columns=["task", "EGGROLL: mean [95% CI] (seeds)", "OpenES: mean [95% CI] (seeds)",
                                       "normalised score (EGGROLL / OpenES)", "R / R_PPO (EGGROLL / OpenES)",
                                       "EGGROLL − OpenES [95% Welch CI]",
                                       "verdict", "run time (the time figure's pair)", "the paper"])


def verdict_note(table: pd.DataFrame) -> str:
    sources = sorted({s for s in table.get("paper_source", []) if s})
    note = (f"Rule: {rule()}. Each algorithm's trial is the one the summary shows for the task. Run time: "
            "the time figure's ratio, per configuration, of trials with the same budget, population, network "
            "and episodes per member where both algorithms ran such settings; otherwise of the two trials "
            "shown, marked (settings differ), whose settings the figure's footnote gives.")
    if sources:
        note += (f" The paper's column: {'; '.join(sources)}. What differs between the two: {PAPER_SETUP}; "
                 "so a verdict here is a finding at this budget, network and hardware, not a replication.")
    return note


def write_verdicts(tables: Tables, out_dir: Path) -> list[Path] | str:
    table = verdict_table(tables)
    if table.empty:
        return "no task where both EGGROLL and OpenES ran"
    out_dir.mkdir(parents=True, exist_ok=True)
    csv, md = (out_dir / f for f in FILES)
    write_atomic(csv, table.to_csv(index=False))
    write_atomic(md, "# EGGROLL vs OpenES per task\n\n" + markdown_table(verdict_cells(table)) + "\n"
                 + verdict_note(table) + "\n")
    return [csv, md]
