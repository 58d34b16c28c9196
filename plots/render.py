"""Render every figure, the summary table and the per-task verdicts from one results directory."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from eggroll_bench.plots import style
from eggroll_bench.plots.figures import curves_figure, paper_curve_figure
from eggroll_bench.plots.figures_scores import paper_scores_figure, scores_figure
from eggroll_bench.plots.figures_systems import multiagent_time_figure, throughput_figure, training_time_figure
from eggroll_bench.plots.load import describe_gaps, load_results, results_path
from eggroll_bench.plots.sensitivity import file_name, sensitivity_figure, sweep_keys, write_sweep_table
from eggroll_bench.plots.summary import write_summary
from eggroll_bench.plots.tidy import Tables, build_tables
from eggroll_bench.plots.verdicts import write_verdicts

# "paper" draws every "robust" figure plus the paper's R / R_PPO figures (paper_*), so one paper-style
# rendering holds both styles (`eggroll-bench paper --suite paper16` relies on it).
STYLES = ("robust", "paper")
INFERENCE_FILE = "inference.csv"


@dataclass
class Rendered:
    outputs: dict[str, list[Path] | str]  # figure name -> written files, or why it was skipped
    notes: list[str] = field(default_factory=list)  # gaps in the data the figures show as missing
    tables: Tables | None = None  # what the figures were drawn from (the report page shows its tables)

    @property
    def errors(self) -> dict[str, str]:
        return {k: v for k, v in self.outputs.items() if isinstance(v, str) and v.startswith("error:")}


def _builders(tables: Tables, style_name: str, inference: Path | None, out: Path) -> list[tuple[str, Callable]]:
    """(name, build): build returns a Figure, a skip reason (str), or the paths it wrote."""
    builders = [
        ("curves_env_steps", lambda: curves_figure(tables, "env_steps")),
        ("curves_wall_clock", lambda: curves_figure(tables, "wall_s")),
        ("normalised_scores", lambda: scores_figure(tables)),
    ]
    if style_name == "paper":  # added beside the robust figures, never instead of them (see STYLES)
        builders += [("paper_normalised_curve", lambda: paper_curve_figure(tables)),
                     ("paper_normalised_scores", lambda: paper_scores_figure(tables))]
    return builders + [
        ("training_time", lambda: training_time_figure(tables)),
        ("throughput_scaling", lambda: throughput_figure(tables, inference)),
        ("multiagent_curves_env_steps", lambda: curves_figure(tables, "env_steps", multi_agent=True)),
        ("multiagent_curves_wall_clock", lambda: curves_figure(tables, "wall_s", multi_agent=True)),
        ("multiagent_time", lambda: multiagent_time_figure(tables)),
        ("summary", lambda: write_summary(tables, out)),
        ("verdicts", lambda: write_verdicts(tables, out)),
        ("sweep_table", lambda: write_sweep_table(tables, out)),
    ] + _sensitivity_builders(tables)


def _sensitivity_builders(tables: Tables) -> list[tuple[str, Callable]]:
    """One figure per hyperparameter that a sweep varied (names are only known from the data)."""
    keys = sweep_keys(tables)
    if not keys:
        return [("sensitivity", lambda: "no hyperparameter varies between the trials of an algorithm and task")]
    return [(file_name(key), lambda key=key: sensitivity_figure(tables, key)) for key in keys]


def render(results_dir: str | Path, out_dir: str | Path | None = None, style_name: str = "robust",
           inference: str | Path | None = None) -> Rendered:
    """Load, draw every figure that the data allows, write the summary. Raises `ResultsError`
    when the directory holds no plottable results at all."""
    if style_name not in STYLES:
        raise ValueError(f"unknown style {style_name!r}; choose one of {', '.join(STYLES)}")
    source = results_path(results_dir)
    rows = load_results(source)
    tables = build_tables(rows)
    out = Path(out_dir) if out_dir is not None else source.parent / "figures"
    inference = Path(inference) if inference is not None else source.parent / INFERENCE_FILE
    style.set_theme()
    outputs: dict[str, list[Path] | str] = {}
    drawn: list[str] = []  # what the figures show differently from the data (style.PlotWarning)
    for name, build in _builders(tables, style_name, inference, out):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", style.PlotWarning)
            try:
                made = build()
                outputs[name] = made if isinstance(made, (str, list)) else style.save(made, out, name)
            except Exception as err:  # one broken figure must not cost the others
                style.plt.close("all")
                outputs[name] = f"error: {type(err).__name__}: {err}"
        for w in caught:
            if issubclass(w.category, style.PlotWarning):
                drawn.append(f"{name}: {w.message}")
            else:  # not ours: pass it on as if it had not been caught
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return Rendered(outputs, describe_gaps(rows) + tables.notes + drawn, tables)


def render_all(results_dir: str | Path, out_dir: str | Path | None = None, style: str = "robust",
               inference: str | Path | None = None) -> dict[str, list[Path] | str]:
    """Figure name -> written paths (PNG and PDF; CSV and Markdown for "summary"), or the reason
    it was skipped. Default `out_dir`: RESULTS_DIR/figures; default inference ceiling:
    RESULTS_DIR/inference.csv when present."""
    return render(results_dir, out_dir, style, inference).outputs
