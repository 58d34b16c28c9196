"""The summary table: one row per algorithm × task, written as CSV and Markdown."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from eggroll_bench.plots.load import algo_order, task_order
from eggroll_bench.plots.stats import normalised_scores
from eggroll_bench.plots.tidy import Tables, config_label, varied_hparams

COLUMNS = ("algo", "env", "num_agents", "seeds", "return_mean", "return_std", "normalised_score",
           "score_note", "r_ppo", "random_return", "run_s", "compile_s", "steps_per_s", "statuses",
           "configs", "config", "trial_id")


def summary_table(tables: Tables) -> pd.DataFrame:
    """Per algo × task (the trial shown in the figures): final return mean ± std over seeds
    (sample std, ddof=1), mean normalised score over seeds, timing and throughput of the trial
    (see `plots.tidy.trial_table`), seed count and statuses."""
    finals = tables.selected_finals
    scores, undefined = normalised_scores(finals)
    trials = tables.trials[tables.trials["selected"]].set_index("trial_id")
    varied = varied_hparams(tables.trials)
    rows = []
    for (algo, env), g in finals.groupby(["algo", "env"], sort=False):
        ok = g["final_return"].to_numpy(float)
        ok = ok[np.isfinite(ok)]
        trial_id = g["trial_id"].iloc[0]
        t = trials.loc[trial_id]
        s = scores[(scores["algo"] == algo) & (scores["env"] == env)]
        counts = g["status"].value_counts()
        rows.append({
            "algo": algo, "env": env, "num_agents": int(g["num_agents"].iloc[0]), "seeds": int(ok.size),
            "return_mean": ok.mean() if ok.size else np.nan,
            "return_std": ok.std(ddof=1) if ok.size > 1 else np.nan,
            "normalised_score": s["score"].mean() if len(s) else np.nan,
            "score_note": undefined.get(env, ""),
            "r_ppo": s["r_ppo"].iloc[0] if len(s) else np.nan,
            "random_return": g["random_return"].dropna().iloc[0] if g["random_return"].notna().any() else np.nan,
            "run_s": t["run_s"], "compile_s": t["compile_s"], "steps_per_s": t["steps_per_s"],
            "statuses": ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())),
            "configs": int(t["configs"]), "config": config_label(t["hparams"], varied.get((algo, env), [])),
            "trial_id": trial_id,
        })
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    rank = {**{a: i for i, a in enumerate(algo_order(out["algo"]))},
            **{t: i for i, t in enumerate(task_order(out["env"]))}}
    return out.sort_values(["env", "algo"], key=lambda c: c.map(rank), ignore_index=True)


def _fmt(value, spec: str = ".4g") -> str:
    if isinstance(value, (float, np.floating)):
        return "–" if not np.isfinite(value) else format(value, spec)
    return str(value)


def summary_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The summary as it is shown (summary.md, the report page): one formatted text cell per column.
    A sweep that ran several configurations of an algorithm on a task gets a last column naming the
    one each row reports."""
    header = ["algo", "task", "agents", "seeds", "final return (mean ± std)", "normalised score",
              "run s", "compile s", "env steps / s", "statuses"]
    swept = bool((table["configs"] > 1).any())
    if swept:
        header.append("configuration (of N tried)")
    rows = []
    for _, r in table.iterrows():
        ret = _fmt(r["return_mean"]) + ("" if not np.isfinite(r["return_std"]) else f" ± {_fmt(r['return_std'])}")
        score = _fmt(r["normalised_score"], ".3f") if r["score_note"] == "" else f"– ({r['score_note']})"
        cells = [r["algo"], r["env"], r["num_agents"], r["seeds"], ret, score, _fmt(r["run_s"], ".1f"),
                 _fmt(r["compile_s"], ".1f"), _fmt(r["steps_per_s"], ",.0f"), r["statuses"]]
        if swept:
            cells.append(f"{r['config']} (of {r['configs']})" if r["configs"] > 1 else "")
        rows.append([str(c) for c in cells])
    return pd.DataFrame(rows, columns=header)


def markdown_table(cells: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of text cells (no extra dependency)."""
    lines = ["| " + " | ".join(cells.columns) + " |", "|" + "---|" * len(cells.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def to_markdown(table: pd.DataFrame) -> str:
    return markdown_table(summary_cells(table))


def summary_note(table: pd.DataFrame) -> str:
    """What the summary's columns mean (Markdown: summary.md and the report page)."""
    return ("Final return: last evaluation of each "
            "seed. Normalised score: (R − R_random) / (R_PPO − R_random), R_PPO = mean over PPO "
            "seeds of the final return. run s / compile s: the trial's share of the compiled call it "
            "trained in (its seeds run together; a call of several configurations splits its seconds "
            "evenly between them: sweep_table.md says which shared one); env steps / s: all its seeds' "
            "env steps per run second."
            + (" Configuration: the values of the hyperparameters that differ between the configurations "
               "of that algorithm and task (all of them: sweep_table.md)." if (table["configs"] > 1).any() else ""))


def write_summary(tables: Tables, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    table = summary_table(tables)
    csv, md = out_dir / "summary.csv", out_dir / "summary.md"
    table.to_csv(csv, index=False)
    md.write_text("# Results summary\n\n" + to_markdown(table) + "\n" + summary_note(table) + "\n")
    return [csv, md]
