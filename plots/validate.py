"""`eggroll-bench validate DIR`: our returns against published reference runs.

For every row of the reference table (`sweeps/references.py`) the trials of DIR that ran that row
are the ones with its algorithm, task and budget whose hyperparameters include all of the row's
`ours`. Of those, the trial whose evaluation protocol matches the reference's (stochastic policy:
`eval_deterministic = false`) is *compared*; the other protocol's trial, if the sweep ran one, is
shown beside it but judged only for information.

Ours is the mean over seeds of each seed's final evaluation return, with a 95% t-interval over
seeds (`plots.stats.t_interval`, the interval the learning-curve bands use). The rule, `RULE`:

    matches  if the reference value lies inside our 95% CI, or |ours - reference| <= 5% of |reference|
    below    otherwise, when ours < reference
    above    otherwise, when ours > reference

Writes validate.csv, validate.md and validate.png / .pdf (our mean curves with CI bands, the
reference's logged curve or its final value on top) into the output directory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from eggroll_bench.files import write_atomic
from eggroll_bench.plots.load import hparams_frame, load_results
from eggroll_bench.plots.stats import t_interval
from eggroll_bench.plots.tidy import common_grid, curve_band, seed_finals, seed_matrix
from eggroll_bench.sweeps.references import Reference, load_references
from eggroll_bench.sweeps.store import ADDED_LATER

TOLERANCE = 0.05
MATCHES, BELOW, ABOVE, NO_VALUE, NOT_RUN = "matches", "below", "above", "no reference value", "not run"


def rule(tolerance: float = TOLERANCE) -> str:
    return (f"matches if the reference value lies inside our 95% CI over seeds (t-interval of the seeds' final "
            f"evaluation returns) or our mean is within {tolerance:.0%} of |reference|; otherwise below or above "
            f"by the sign of (ours - reference)")


def verdict(reference: float | None, mean: float, lo: float, hi: float, tolerance: float = TOLERANCE) -> str:
    """The rule above on one comparison; `NO_VALUE` when the source published no number, `NOT_RUN`
    when we have no finite result."""
    if reference is None or not np.isfinite(reference):
        return NO_VALUE
    if not np.isfinite(mean):
        return NOT_RUN
    if lo <= reference <= hi or abs(mean - reference) <= tolerance * abs(reference):
        return MATCHES
    return BELOW if mean < reference else ABOVE


@dataclass(frozen=True)
class Ours:
    """One trial's result on a reference row."""

    trial_id: str
    deterministic: bool
    mean: float
    lo: float
    hi: float
    seeds: int  # seeds with a finite final return
    episodes: int  # evaluation episodes per evaluation

    @property
    def protocol(self) -> str:
        return f"{'greedy' if self.deterministic else 'stochastic'} evaluation, {self.episodes} episodes"


@dataclass(frozen=True)
class Comparison:
    ref: Reference
    compared: Ours | None  # the trial whose protocol is the reference's (stochastic or greedy)
    other: Ours | None  # the other protocol's trial, shown for information
    verdict: str
    other_verdict: str


def _ours(finals: pd.DataFrame, trial: pd.Series) -> Ours:
    values = finals.loc[finals["trial_id"] == trial["trial_id"], "final_return"].to_numpy(float)
    values = values[np.isfinite(values)]
    mean, lo, hi, n = t_interval(values) if values.size else (np.nan, np.nan, np.nan, 0)
    return Ours(trial["trial_id"], bool(trial["eval_deterministic"]), float(mean), float(lo), float(hi), int(n),
                int(trial["eval_episodes"]))


def trials_of(ref: Reference, trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that ran `ref`: its algorithm, task and budget, every hyperparameter of `ours` equal.
    A field added after the references were written (`ADDED_LATER`) and left out of `ours` must be at
    its default, so a trial probing another value of it is not taken for the row's run."""
    hit = trials[(trials["algo"] == ref.algo) & (trials["env"] == ref.task) & (trials["budget"] == ref.budget)]
    for key, value in {**ADDED_LATER, **ref.ours}.items():
        if key not in hit:
            return hit.iloc[0:0]
        hit = hit.loc[hit[key].map(lambda v, want=value: v == want).astype(bool)]  # astype: an empty map is object
    return hit


def compare(results_dir: str | Path, references: Sequence[Reference] | None = None,
            tolerance: float = TOLERANCE) -> tuple[list[Comparison], pd.DataFrame, pd.DataFrame]:
    """Every reference row against DIR's results; also returns the rows and per-seed finals read."""
    refs = load_references() if references is None else tuple(references)
    rows = load_results(results_dir)
    finals = seed_finals(rows)
    trials = finals.drop_duplicates("trial_id")[["trial_id", "algo", "env", "budget", "hparams"]]
    trials = pd.concat([trials.reset_index(drop=True), hparams_frame(trials["hparams"]).reset_index(drop=True)],
                       axis=1)
    for key, default in ADDED_LATER.items():  # trials written before the field existed ran its default
        trials[key] = trials[key].fillna(default) if key in trials else default
    out = []
    for ref in refs:
        by_protocol: dict[bool, Ours] = {}
        for _, trial in trials_of(ref, trials).sort_values("trial_id").iterrows():
            by_protocol.setdefault(bool(trial["eval_deterministic"]), _ours(finals, trial))
        compared, other = by_protocol.get(not ref.stochastic), by_protocol.get(ref.stochastic)
        out.append(Comparison(ref, compared, other, _judge(ref, compared, tolerance),
                              _judge(ref, other, tolerance) if other else ""))
    return out, rows, finals


def _judge(ref: Reference, ours: Ours | None, tolerance: float) -> str:
    if ours is None:
        return NO_VALUE if ref.value is None else NOT_RUN
    return verdict(ref.value, ours.mean, ours.lo, ours.hi, tolerance)


def _fmt(x: float | None, digits: int = 2) -> str:
    return "" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def table(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """One row per reference: the reference, ours in the compared protocol, the verdict, the other protocol."""
    records = []
    for c in comparisons:
        r, o, g = c.ref, c.compared, c.other
        records.append({
            "reference": r.id, "algo": r.algo, "task": r.task, "budget": r.budget,
            "reference_value": r.value, "reference_seeds": r.seeds,
            "reference_protocol": f"{'stochastic' if r.stochastic else 'greedy'} policy, {r.episodes} episodes",
            "compared_protocol": o.protocol if o else "", "ours_mean": o.mean if o else np.nan,
            "ours_ci_lo": o.lo if o else np.nan, "ours_ci_hi": o.hi if o else np.nan, "ours_seeds": o.seeds if o else 0,
            "verdict": c.verdict,
            "other_protocol": g.protocol if g else "", "other_mean": g.mean if g else np.nan,
            "other_ci_lo": g.lo if g else np.nan, "other_ci_hi": g.hi if g else np.nan,
            "other_verdict": c.other_verdict,
            "trial_ids": " ".join(x.trial_id for x in (o, g) if x),
        })
    return pd.DataFrame.from_records(records)


def markdown(comparisons: Sequence[Comparison], tolerance: float = TOLERANCE) -> str:
    lines = ["# Validation against published runs", "",
             f"Verdict rule: {rule(tolerance)}. The compared trial evaluates with the reference's protocol "
             "(its stochastic policy); where the reference reports training-episode returns, ours are separate "
             "evaluation episodes of the same stochastic policy (said in the protocol column). The other "
             "protocol (greedy), where run, is shown for information only. A reference value is one run "
             "unless its seed count says otherwise, so its own seed-to-seed spread is not in the rule. Sources and configurations: docs/validate.md.", "",
             "| reference | budget | reference (protocol) | ours: mean [95% CI] (seeds; protocol) | verdict "
             "| other protocol: mean [95% CI] | verdict there |",
             "|---|---:|---|---|---|---|---|"]
    for c in comparisons:
        r, o, g = c.ref, c.compared, c.other
        ref_text = ("—" if r.value is None else f"{r.value:g}") + (
            f" ({'stochastic' if r.stochastic else 'greedy'}, {r.episodes} episodes, {r.seeds} seed"
            f"{'s' if r.seeds > 1 else ''})")
        ours = f"{_fmt(o.mean)} [{_fmt(o.lo)}, {_fmt(o.hi)}] ({o.seeds}; {o.protocol})" if o else "not run"
        other = f"{_fmt(g.mean)} [{_fmt(g.lo)}, {_fmt(g.hi)}] ({g.protocol})" if g else "—"
        lines.append(f"| {r.id} | {r.budget:,} | {ref_text} | {ours} | **{c.verdict}** | {other} | "
                     f"{c.other_verdict or '—'} |")
    return "\n".join(lines) + "\n"


def figure(comparisons: Sequence[Comparison], rows: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Our mean curves (95% CI bands over seeds) with the reference's curve or final value on top."""
    from eggroll_bench.plots import style

    shown = [c for c in comparisons if c.compared or c.other]
    if not shown:
        return []
    style.set_theme()
    fig, axes = style.panel_grid(len(shown), ncols=3)
    evals = rows[rows["row_type"] == "eval"]
    colour = style.colour
    for ax, c in zip(axes, shown):
        for ours, dashes in ((c.compared, "-"), (c.other, "--")):
            if ours is None:
                continue
            sub = evals[evals["trial_id"] == ours.trial_id]
            grid = common_grid(sub, "env_steps")
            band = curve_band(seed_matrix(sub, "env_steps", grid))
            name = f"ours, {'greedy' if ours.deterministic else 'stochastic'} eval"
            ax.plot(grid, band["mean"], dashes, color=colour(c.ref.algo), lw=2, label=name)
            ax.fill_between(grid, band["lo"], band["hi"], color=colour(c.ref.algo), alpha=0.2 if dashes == "-" else 0.1,
                            lw=0)
        if c.ref.curve_steps:
            ax.plot(c.ref.curve_steps, c.ref.curve_returns, "o", color="black", ms=3.5, label="reference (log)")
        if c.ref.value is not None:
            at = c.ref.curve_steps[-1] if c.ref.curve_steps else c.ref.budget  # where the log recorded it
            ax.plot([at], [c.ref.value], "*", color="black", ms=11, label="reference (reported)")
        style.panel_title(ax, f"{c.ref.id}\n{c.verdict}")  # reference ids run to 40 characters: one line would overlap
        ax.xaxis.set_major_formatter(style.steps_formatter())
        ax.set_xlabel("env steps")
        ax.set_ylabel("return")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside right center", frameon=False)
    fig.suptitle("Ours vs published reference runs")
    style.footnote(fig, ["solid: the protocol compared (the reference's); dashed: the other protocol; bands: 95% "
                         "t-interval over seeds; black: the reference's logged curve and reported final value"])
    return style.save(fig, out_dir, "validate")


@dataclass(frozen=True)
class ValidateResult:
    comparisons: list[Comparison]
    table: pd.DataFrame
    markdown: str
    outputs: list[Path]


def validate(results_dir: str | Path, out_dir: str | Path | None = None,
             references: Sequence[Reference] | None = None, tolerance: float = TOLERANCE) -> ValidateResult:
    """Compare, then write validate.csv, validate.md and the figure into `out_dir` (default: `results_dir`)."""
    comparisons, rows, _ = compare(results_dir, references, tolerance)
    out = Path(out_dir) if out_dir is not None else Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame, text = table(comparisons), markdown(comparisons, tolerance)
    write_atomic(out / "validate.csv", frame.to_csv(index=False))
    write_atomic(out / "validate.md", text)
    paths = [out / "validate.csv", out / "validate.md"] + figure(comparisons, rows, out)
    return ValidateResult(comparisons, frame, text, paths)
