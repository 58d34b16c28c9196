"""Systems figures: EGGROLL vs OpenES training time, throughput scaling, multi-agent wall-clock.

Timing of a trial is the mean over its seeds' final rows of `run_s` and `compile_s`: its share of
the compiled call it trained in (the call's seconds / the configurations trained in it; see
`algos.result.CallTiming`), the same on every seed's row. Its throughput is the sum of the seeds'
`steps_per_s` (see `plots.tidy.trial_table`). The time figure says when the two algorithms it
compares trained in calls of different sizes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eggroll_bench.plots import style  # first: selects the headless Agg backend
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter  # noqa: E402

from eggroll_bench.plots.load import algo_order, task_order  # noqa: E402
from eggroll_bench.plots.tidy import COMPUTE_KEYS, Tables, agents_filter  # noqa: E402

ES = ("eggroll", "openes")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
INFERENCE_COLUMNS = ("hidden", "pop_size", "steps_per_s")


def timing_pairs(trials: pd.DataFrame) -> pd.DataFrame:
    """Per task, the EGGROLL and OpenES trial to time against each other.

    Prefer a pair with the same budget and compute settings (COMPUTE_KEYS): the selected
    (best-return) EGGROLL trial's settings when OpenES ran them too, else the largest matching
    population × width. Without any match, the two selected trials, flagged `matched=False`.
    """
    rows = []
    es = trials[trials["algo"].isin(ES)]
    for env in task_order(es["env"]):
        t = es[es["env"] == env]
        egg, oes = t[t["algo"] == "eggroll"], t[t["algo"] == "openes"]
        if egg.empty or oes.empty:
            rows.append({"env": env, "eggroll": _first(egg), "openes": _first(oes), "matched": False})
            continue
        keys = ["budget", *COMPUTE_KEYS]
        merged = egg.merge(oes, on=keys, suffixes=("_e", "_o"))  # NaN keys never match: safe
        if merged.empty:
            rows.append({"env": env, "eggroll": _first(egg), "openes": _first(oes), "matched": False})
            continue
        best = merged[merged["selected_e"]]
        if best.empty:  # the best-return EGGROLL settings have no OpenES twin: time the largest shared
            size = merged["pop_size"].fillna(1) * merged["hidden"].fillna(1)
            best = merged.loc[[size.idxmax()]]
        r = best.iloc[0]
        rows.append({"env": env, "eggroll": r["trial_id_e"], "openes": r["trial_id_o"], "matched": True})
    return pd.DataFrame(rows, columns=["env", "eggroll", "openes", "matched"])


def speed_up(eggroll: pd.Series, openes: pd.Series) -> float:
    """OpenES run time / EGGROLL run time of two trials (each its per-configuration share)."""
    e, o = float(eggroll["run_s"]), float(openes["run_s"])
    return o / e if e > 0 and np.isfinite(o) else float("nan")


@dataclass(frozen=True)
class SpeedUp:
    """One task's EGGROLL-vs-OpenES speed-up as the time figure draws it. `matched`: the two trials
    share budget and compute settings (COMPUTE_KEYS); otherwise they are the two selected trials."""

    ratio: float
    matched: bool

    @property
    def text(self) -> str:
        """How the time figure, the report page and the verdict table state it."""
        told = f"EGGROLL {self.ratio:.1f}× faster" if self.ratio >= 1 else f"EGGROLL {1 / self.ratio:.1f}× slower"
        return told if self.matched else f"{told} (settings differ)"


def speed_ups(tables: Tables) -> dict[str, SpeedUp]:
    """Per task, the speed-up the time figure draws (its pairs from `timing_pairs`)."""
    trials = tables.trials.set_index("trial_id")
    out = {}
    for _, p in timing_pairs(tables.trials).iterrows():
        if isinstance(p["eggroll"], str) and isinstance(p["openes"], str):
            if np.isfinite(ratio := speed_up(trials.loc[p["eggroll"]], trials.loc[p["openes"]])):
                out[p["env"]] = SpeedUp(ratio, bool(p["matched"]))
    return out


def geometric_mean(speed_ups: dict[str, SpeedUp]) -> float:
    """The overall speed-up the time figure states: the geometric mean over tasks."""
    return float(np.exp(np.mean(np.log([s.ratio for s in speed_ups.values()]))))


def call_sizes(eggroll: pd.Series, openes: pd.Series) -> tuple[float, float] | None:
    """The configurations per call of two timed trials when they differ (None when equal or unknown):
    vmapping several configurations in one call changes what each one's share costs."""
    sizes = (float(eggroll.get("call_configs", np.nan)), float(openes.get("call_configs", np.nan)))
    return sizes if all(np.isfinite(sizes)) and sizes[0] != sizes[1] else None


def call_size_notes(differ: dict[tuple[float, float], list[str]]) -> list[str]:
    """One note per pair of call sizes, naming its tasks."""
    return [f"{', '.join(tasks)}: EGGROLL trained {e:g} configuration{'s' if e != 1 else ''} per call, OpenES "
            f"{o:g}; times are per-configuration shares, and batching changes a share (it amortises "
            f"per-call costs; a batched rollout runs until its longest episode ends)"
            for (e, o), tasks in differ.items()]


def shared_host_notes(trials: pd.DataFrame) -> list[str]:
    """A note when the timed trials shared a CPU's cores with other trials: their absolute times are
    longer than alone (EGGROLL's and OpenES's alike, so their ratio is still like with like)."""
    cpu = trials[trials["device"].astype(str).str.startswith("cpu") & (trials["host_trials"] > 1)]
    if cpu.empty:
        return []
    most = int(cpu["host_trials"].max())
    return [f"up to {most} trials ran at once on the CPU ({cpu['device'].iloc[0]}), sharing its cores: absolute "
            f"times are longer than a trial alone would take"]


def _first(t: pd.DataFrame):
    sel = t[t["selected"]]
    return sel["trial_id"].iloc[0] if len(sel) else None


def time_bars(ax, times: pd.DataFrame, tasks: list[str], algos: list[str],
              labels: list[str] | None = None) -> list[str]:
    """Horizontal bars per task and algorithm: run time, compile time stacked after it (hatched)."""
    notes = []
    height = 0.8 / max(1, len(algos))
    for y, task in enumerate(tasks):
        for i, algo in enumerate(algos):
            r = times[(times["env"] == task) & (times["algo"] == algo)]
            yy = y + (i - (len(algos) - 1) / 2) * height
            if r.empty or not np.isfinite(r["run_s"].iloc[0]):
                ax.text(0.01, yy, f"no {style.label(algo)} timing", transform=ax.get_yaxis_transform(),
                        va="center", fontsize=8, color=style.NOTE_COLOUR, style="italic")
                notes.append(f"{task}: no {style.label(algo)} timing")
                continue
            run, comp = float(r["run_s"].iloc[0]), float(np.nan_to_num(r["compile_s"].iloc[0]))
            ax.barh(yy, run, height=height * 0.9, color=style.colour(algo))
            ax.barh(yy, comp, left=run, height=height * 0.9, color=style.colour(algo), alpha=0.35,
                    hatch="//", edgecolor="white", lw=0)
    ax.set_yticks(range(len(tasks)), labels or tasks)
    ax.set_ylim(len(tasks) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    totals = (times["run_s"] + times["compile_s"].fillna(0)).to_numpy(float)
    positive = times["run_s"].to_numpy(float)
    positive = positive[np.isfinite(positive) & (positive > 0)]
    if positive.size and np.nanmax(totals) / positive.min() > 30:  # spans orders of magnitude
        ax.set_xscale("log")
        ax.set_xlim(left=positive.min() / 2)
    ax.set_xlabel("wall-clock (s): run (solid) + compile (hatched)")
    return notes


def training_time_figure(tables: Tables):
    pairs = timing_pairs(tables.trials)
    if pairs.empty:
        return "no EGGROLL or OpenES results"
    both = pairs["eggroll"].map(lambda v: isinstance(v, str)) & pairs["openes"].map(lambda v: isinstance(v, str))
    if not both.any():  # a one-algorithm bar chart says nothing about the speed-up it is for
        ran = [a for a in ES if pairs[a].map(lambda v: isinstance(v, str)).any()]
        if len(ran) == 1:
            other = next(a for a in ES if a not in ran)
            return (f"only {style.label(ran[0])} ran (no {style.label(other)} results), so there is no "
                    "EGGROLL vs OpenES time to compare")
        return "EGGROLL and OpenES never ran on the same task, so there is no time to compare"
    trials = tables.trials.set_index("trial_id")
    times, notes, ratios, labels = [], [], speed_ups(tables), []
    differ: dict[tuple[float, float], list[str]] = {}
    for _, p in pairs.iterrows():
        labels.append(p["env"])
        for algo in ES:
            if isinstance(p[algo], str):
                t = trials.loc[p[algo]]
                times.append({"env": p["env"], "algo": algo, "run_s": t["run_s"], "compile_s": t["compile_s"]})
        if isinstance(p["eggroll"], str) and isinstance(p["openes"], str):
            e, o = trials.loc[p["eggroll"]], trials.loc[p["openes"]]
            if p["matched"] and np.isfinite(e["pop_size"]) and np.isfinite(e["hidden"]):
                labels[-1] = f"{p['env']}\n(pop {e['pop_size']:g}, hidden {e['hidden']:g})"
                if not e["selected"]:
                    notes.append(f"{p['env']}: timed at settings both algorithms ran, not at EGGROLL's "
                                 "best-return configuration (OpenES did not run that one)")
            if (sizes := call_sizes(e, o)) is not None:
                differ.setdefault(sizes, []).append(p["env"])
            if not p["matched"]:
                notes.append(f"{p['env']}: EGGROLL and OpenES ran different budgets or settings "
                             f"(pop_size {e['pop_size']:g} vs {o['pop_size']:g}, hidden {e['hidden']:g} vs "
                             f"{o['hidden']:g}, budget {e['budget']:g} vs {o['budget']:g})")
    notes += call_size_notes(differ) + shared_host_notes(trials.loc[[t for a in ES for t in pairs[a]
                                                                     if isinstance(t, str)]])
    times = pd.DataFrame(times)
    tasks = list(pairs["env"])
    fig, ax = plt.subplots(figsize=(10, max(3.2, 0.75 * len(tasks) + 1.6)), layout="constrained")
    notes += time_bars(ax, times, tasks, list(ES), labels)
    # the ratios as a column right of the panel: never on top of a bar, whatever the scale
    for y, task in enumerate(tasks):
        if task in ratios:
            ax.text(1.02, y, ratios[task].text, transform=ax.get_yaxis_transform(), va="center",
                    ha="left", fontsize=10, fontweight="bold")
    overall = f"; geometric mean {geometric_mean(ratios):.1f}×" if ratios else ""
    ax.set_title(f"EGGROLL vs OpenES training time per configuration for the same env-step budget\n"
                 f"speed-up = OpenES run time / EGGROLL run time{overall}")
    notes.append("times: each trial's share of its compiled call (the call's seconds / configurations trained in it)")
    style.algo_legend(fig, ES, bars=True)
    style.footnote(fig, notes)
    return fig


def load_inference(path: Path | None) -> tuple[pd.DataFrame | None, str]:
    """The pure-inference ceiling table, or None and why it is absent."""
    if path is None or not Path(path).is_file():
        where = f" ({path} not found)" if path is not None else ""
        return None, f"pure-inference ceiling not measured{where}"
    df = pd.read_csv(path)
    missing = [c for c in INFERENCE_COLUMNS if c not in df.columns]
    if missing:
        return None, f"pure-inference ceiling not shown: {path} lacks columns {', '.join(missing)}"
    for c in INFERENCE_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df.dropna(subset=list(INFERENCE_COLUMNS)), ""


def throughput_figure(tables: Tables, inference: Path | None = None):
    """env steps / s vs population size and vs hidden width (log-log), one row per task."""
    t = tables.trials
    t = t[t["algo"].isin(ES) & np.isfinite(t["steps_per_s"]) & (t["steps_per_s"] > 0)]
    t = t.dropna(subset=["pop_size", "hidden"])
    varies = {env: [v for v in ("pop_size", "hidden") if g[v].nunique() > 1] for env, g in t.groupby("env")}
    varies = {env: v for env, v in varies.items() if v}
    if not varies:
        return "the results vary neither pop_size nor hidden (run a scaling sweep to draw this figure)"
    columns = [v for v in ("pop_size", "hidden") if any(v in vs for vs in varies.values())]
    ceiling, why_not = load_inference(inference)
    envs = task_order(varies)
    fig, axes = plt.subplots(len(envs), len(columns), figsize=(6.6 * len(columns), 4.4 * len(envs)),
                             layout="constrained", squeeze=False)
    notes = [why_not] if why_not else []
    for row, env in enumerate(envs):
        g = t[t["env"] == env].groupby(["algo", "pop_size", "hidden"], as_index=False)["steps_per_s"].mean()
        for col, xvar in enumerate(columns):
            _scaling_panel(axes[row][col], g, xvar, ceiling, env, why_not)
    fig.suptitle("Throughput scaling of EGGROLL and OpenES (log-log)")
    style.footnote(fig, notes + ["Throughput: env steps / run second (compile excluded) of a trial's "
                                 "vmapped call, all its seeds together; repeated settings averaged."])
    return fig


def _scaling_panel(ax, g: pd.DataFrame, xvar: str, ceiling, env: str, why_not: str) -> None:
    """Colour = algorithm, marker = the other variable's value, dashed = inference ceiling."""
    from matplotlib.lines import Line2D

    other = "hidden" if xvar == "pop_size" else "pop_size"
    names = {"pop_size": "population size", "hidden": "hidden width"}
    short = {"pop_size": "pop", "hidden": "hidden"}
    others = sorted(g[other].unique())
    algos = algo_order(g["algo"].unique())
    drew_ceiling = False
    for k, value in enumerate(others):
        marker = MARKERS[k % len(MARKERS)]
        for algo in algos:
            line = g[(g["algo"] == algo) & (g[other] == value)].sort_values(xvar)
            if len(line):
                ax.plot(line[xvar], line["steps_per_s"], marker=marker, color=style.colour(algo), lw=2, ms=6)
        if ceiling is not None:
            line = ceiling[ceiling[other] == value].groupby(xvar, as_index=False)["steps_per_s"].mean()
            if len(line):
                ax.plot(line[xvar], line["steps_per_s"], ls="--", color="#333333", marker=marker, mfc="none", lw=1.3)
                drew_ceiling = True
    if not drew_ceiling:
        text = why_not or f"pure-inference ceiling not measured at these {short[other]} values"
        ax.text(0.02, 0.02, text, transform=ax.transAxes, fontsize=8, color=style.NOTE_COLOUR, style="italic")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_locator(LogLocator(subs="auto"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(sorted(g[xvar].unique()))
    ax.set_xlabel(names[xvar])
    ax.set_ylabel("env steps / s")
    ax.set_title(f"{env}: vs {names[xvar]}")
    handles = [Line2D([], [], color=style.colour(a), lw=2, label=style.label(a)) for a in algos]
    if drew_ceiling:
        handles.append(Line2D([], [], color="#333333", ls="--", lw=1.3, label="inference\nceiling"))
    handles += [Line2D([], [], color="#777777", ls="none", marker=MARKERS[k % len(MARKERS)],
                       label=f"{short[other]} {v:g}") for k, v in enumerate(others)]
    # beside the panel: inside, it would cover the lines it explains
    ax.legend(handles=handles, fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)


def multiagent_time_figure(tables: Tables):
    """Wall-clock (run + compile) per multi-agent task and algorithm."""
    t = agents_filter(tables.trials[tables.trials["selected"]], multi_agent=True)
    if t.empty:
        return "no multi-agent results"
    algos = algo_order(tables.trials["algo"].unique())
    tasks = task_order(t["env"])
    fig, ax = plt.subplots(figsize=(9.5, max(3.2, 0.9 * len(tasks) + 1.6)), layout="constrained")
    notes = time_bars(ax, t, tasks, algos) + shared_host_notes(t)
    ax.set_title("Multi-agent training wall-clock for the same env-step budget")
    style.algo_legend(fig, algos, bars=True)
    style.footnote(fig, notes)
    return fig
