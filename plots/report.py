"""`eggroll-bench report DIR`: one self-contained HTML page of a sweep.

The page holds what `plot` writes, drawn by the same code (`plots.render.render` into the figures
directory, then every PNG inlined as a `data:` URI): the summary table with its notes and the
EGGROLL / OpenES speed-ups the time figure states, every figure, the per-configuration table and
sensitivity figures of a sweep that ran several configurations, `validate`'s table when DIR has
one, and a GIF of one episode of the best saved policy per task (`plots.rollouts`). CSS is
inline; there are no scripts, fonts or links to fetch, so the page opens from disk with no server
and no network. Every text taken from the results is escaped.
"""
from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from eggroll_bench.files import write_atomic
from eggroll_bench.plots.figures_systems import geometric_mean, speed_ups
from eggroll_bench.plots.load import algo_order, results_path, task_order
from eggroll_bench.plots.render import Rendered, render
from eggroll_bench.plots.rollouts import MAX_FRAMES, Rollout, draw_best
from eggroll_bench.plots.sensitivity import CONFIG_NOTE, config_cells, config_keys, config_table
from eggroll_bench.plots.summary import summary_cells, summary_note, summary_table
from eggroll_bench.plots.tidy import Tables
from eggroll_bench.plots.verdicts import verdict_cells, verdict_note, verdict_table
from eggroll_bench.provenance import code_version

REPORT_FILE = "report.html"
VALIDATE_FILES = ("validate.md", "validate.png")  # what `eggroll-bench validate` writes beside the results
MIME = {".png": "image/png", ".gif": "image/gif"}
# What each figure of `plots.render` shows (a figure not listed is captioned with its name).
CAPTIONS = {
    "curves_env_steps": "Return per task vs env steps: mean and 95% CI over seeds",
    "curves_wall_clock": "Return per task vs wall-clock seconds (compile excluded)",
    "normalised_scores": "PPO-normalised final scores per task, and IQM / mean over tasks with 95% bootstrap CIs",
    "paper_normalised_curve": "The paper's R / R_PPO, mean over tasks, vs training progress",
    "paper_normalised_scores": "The paper's R / R_PPO per task, mean ± SEM over seeds",
    "training_time": "EGGROLL vs OpenES training time for the same env-step budget",
    "throughput_scaling": "Throughput vs population size and hidden width",
    "multiagent_curves_env_steps": "Multi-agent tasks: team return vs env steps",
    "multiagent_curves_wall_clock": "Multi-agent tasks: team return vs wall-clock seconds",
    "multiagent_time": "Multi-agent tasks: training time",
}
TABLES = ("summary", "verdicts", "sweep_table")  # outputs of `render` that are tables, not figures
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d1d1f;
       background: #fafafa; line-height: 1.45; }
main { max-width: 1280px; margin: 0 auto; padding: 1.5rem 2rem 3rem; background: #fff; }
h1 { font-size: 1.7rem; margin: 0.2rem 0 0.8rem; }
h2 { font-size: 1.3rem; margin-top: 2.4rem; border-bottom: 1px solid #ddd; padding-bottom: 0.25rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 0.4rem; }
nav a { margin-right: 1rem; }
dl.provenance { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1rem; font-size: 0.92rem; }
dl.provenance dt { font-weight: 600; color: #444; }
dl.provenance dd { margin: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.86rem; margin: 0.6rem 0; }
th, td { border: 1px solid #d6d6d6; padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f0f0f3; }
tbody tr:nth-child(even) { background: #f8f8fa; }
figure { margin: 1.2rem 0 1.8rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #444; margin-top: 0.3rem; }
.note { font-size: 0.88rem; color: #444; }
.skipped { color: #666; }
.error { color: #a40000; }
code { background: #f2f2f4; padding: 0 0.2rem; border-radius: 3px; font-size: 0.85em; }
.rollouts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
.rollouts figure { margin: 0.4rem 0; max-width: 420px; }
footer { margin-top: 3rem; font-size: 0.8rem; color: #777; }
"""


@dataclass(frozen=True)
class Report:
    path: Path  # the page
    figures_dir: Path  # where `plot`'s figures and tables were written
    images: int  # <img> elements on the page
    rendered: Rendered
    rollouts: list[Rollout] = field(default_factory=list)


def write_report(results_dir: str | Path, out: str | Path | None = None, figures_dir: str | Path | None = None,
                 style_name: str = "robust", rollouts: bool = True, max_frames: int | None = None) -> Report:
    """Render `results_dir`'s figures into `figures_dir` (default: DIR/figures, as `plot`), draw the
    rollouts into `figures_dir/rollouts`, and write the page to `out` (default DIR/report.html).
    Raises `plots.load.ResultsError`, before anything is written, when DIR holds no results."""
    source = results_path(results_dir)  # raises, naming what is missing, before any work
    directory = source.parent
    figures = Path(figures_dir) if figures_dir is not None else directory / "figures"
    rendered = render(results_dir, figures, style_name)
    tables = rendered.tables
    drawn = draw_best(directory, tables, figures / "rollouts", max_frames or MAX_FRAMES) if rollouts else []
    text = page(str(results_dir), directory, tables, rendered, drawn if rollouts else None)
    path = Path(out) if out is not None else directory / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)
    return Report(path, figures, text.count("<img "), rendered, drawn)


def page(name: str, directory: Path, tables: Tables, rendered: Rendered, rollouts: list[Rollout] | None) -> str:
    """The HTML page (a string). `rollouts` None: they were not asked for."""
    sweeps = sorted(s for s in tables.rows["sweep"].unique() if s)
    title = f"eggroll-bench report: {', '.join(sweeps) or directory.name}"
    figures = {k: v for k, v in rendered.outputs.items() if k not in TABLES}
    sensitivity = {k: v for k, v in figures.items() if k.startswith("sensitivity")}
    main_figures = {k: v for k, v in figures.items() if k not in sensitivity}
    sections = [
        ("summary", "Summary", _summary(tables)),
        ("verdicts", "EGGROLL vs OpenES per task", _verdicts(tables)),
        ("figures", "Figures", _figures(main_figures)),
        ("configurations", "Configurations", _configurations(tables, rendered.outputs.get("sweep_table"), sensitivity)),
        ("validation", "Checked against published runs", _validation(directory)),
        ("rollouts", "Best policy per task", _rollouts(rollouts, name)),
        ("notes", "Notes", _list(rendered.notes, "notes") if rendered.notes else ""),
    ]
    sections = [s for s in sections if s[2]]
    nav = " ".join(f'<a href="#{sid}">{_e(head)}</a>' for sid, head, _ in sections)
    body = "\n".join(f'<section id="{sid}">\n<h2>{_e(head)}</h2>\n{content}\n</section>' for sid, head, content in sections)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<h1>{_e(title)}</h1>
{_provenance(name, directory, tables)}
<nav>{nav}</nav>
{body}
<footer>Written {_e(when)} by eggroll-bench {_e(code_version())}: <code>eggroll-bench report {_e(name)}</code>.
Figures and tables are those of <code>eggroll-bench plot {_e(name)}</code>.</footer>
</main>
</body>
</html>
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _marks(escaped: str) -> str:
    """The Markdown marks the notes and tables use (**bold**, `code`) as HTML, in already escaped text."""
    return re.sub(r"`(.+?)`", r"<code>\1</code>", re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped))


def _inline(text: str) -> str:
    return _marks(_e(text))


def _table(cells: pd.DataFrame, css: str) -> str:
    return f'<div class="scroll">{_marks(cells.to_html(index=False, escape=True, border=0, classes=css))}</div>'


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:{MIME[path.suffix.lower()]};base64,{data}" alt="{_e(alt)}">'


def _list(items: list[str], css: str) -> str:
    return f'<ul class="{css}">' + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>"


def _provenance(name: str, directory: Path, tables: Tables) -> str:
    rows = tables.rows
    trials = tables.trials

    def distinct(col: str) -> list[str]:
        return sorted({str(v) for v in rows[col].unique() if str(v)}) if col in rows else []

    versions: dict[str, set[str]] = {}
    for text in distinct("versions"):
        try:
            for lib, v in json.loads(text).items():
                versions.setdefault(lib, set()).add(str(v))
        except (json.JSONDecodeError, AttributeError):
            continue
    stamps = distinct("timestamp")
    tasks = task_order(trials["env"])
    budgets = sorted({int(b) for b in trials["budget"].dropna()}) if "budget" in trials else []
    items = [
        ("results", name),
        ("sweep", ", ".join(distinct("sweep")) or "not recorded"),
        ("trials", f"{len(trials)}: {', '.join(algo_order(trials['algo'].unique()))} on {', '.join(tasks)}"),
        ("seeds", ", ".join(map(str, sorted(set(tables.finals["seed"].astype(int)))))),
        ("budgets (env steps)", ", ".join(f"{b:,}" for b in budgets) or "not recorded"),
        ("code version", ", ".join(distinct("code_version"))
         or "not recorded (results written before eggroll-bench recorded its code version)"),
        ("device", ", ".join(distinct("device")) or "not recorded"),
        ("libraries", ", ".join(f"{lib} {'/'.join(sorted(v))}" for lib, v in sorted(versions.items())) or "not recorded"),
        ("written", f"{stamps[0]} to {stamps[-1]}" if len(stamps) > 1 else (stamps[0] if stamps else "not recorded")),
    ]
    sweep_file = directory / "sweep.json"
    if sweep_file.is_file():
        try:
            meta = json.loads(sweep_file.read_text())
            items.insert(2, ("sweep file", f"{meta.get('sweep_file', '?')} (mode {meta.get('mode', '?')})"))
        except (json.JSONDecodeError, OSError):
            pass
    return '<dl class="provenance">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>"


def _summary(tables: Tables) -> str:
    table = summary_table(tables)
    cells = summary_cells(table)
    cells["trial"] = table["trial_id"].to_numpy()
    parts = [_table(cells, "summary"), f'<p class="note">{_inline(summary_note(table))} trial: the id in '
             "results.csv (and of its saved policies).</p>"]
    ratios = speed_ups(tables)
    if ratios:
        lines = [f"{env}: {r.text}" for env, r in ratios.items()]
        parts.append("<h3>EGGROLL vs OpenES run time per configuration (as the time figure states it)</h3>"
                     + _list(lines + [f"geometric mean over tasks: {geometric_mean(ratios):.1f}×"], "speedups"))
    return "\n".join(parts)


def _verdicts(tables: Tables) -> str:
    table = verdict_table(tables)
    if table.empty:
        return ""
    return _table(verdict_cells(table), "verdicts") + f'<p class="note">{_inline(verdict_note(table))}</p>'


def _figure_html(name: str, written: list[Path] | str) -> str:
    if isinstance(written, str):
        css = "error" if written.startswith("error:") else "skipped"
        return f'<li class="{css}"><strong>{_e(name)}</strong>: {_e(written)}</li>'
    png = next((p for p in written if p.suffix.lower() == ".png"), None)
    if png is None:
        return ""
    caption = CAPTIONS.get(name) or (f"Final normalised score vs {name.removeprefix('sensitivity_')}, per algorithm"
                                     if name.startswith("sensitivity_") else name)
    return f'<figure id="fig-{_e(name)}">{_image(png, caption)}<figcaption>{_e(caption)} ' \
           f'(<code>{_e(png.name)}</code>)</figcaption></figure>'


def _figures(figures: dict[str, list[Path] | str]) -> str:
    drawn = [_figure_html(k, v) for k, v in figures.items() if not isinstance(v, str)]
    skipped = [_figure_html(k, v) for k, v in figures.items() if isinstance(v, str)]
    return "\n".join(drawn + ([f"<h3>Not drawn</h3><ul>{''.join(skipped)}</ul>"] if skipped else []))


def _configurations(tables: Tables, written: list[Path] | str | None, sensitivity: dict[str, list[Path] | str]) -> str:
    if not isinstance(written, list):  # one configuration per algorithm and task: nothing to compare
        return ""
    table = config_table(tables)
    cells = config_cells(table, config_keys(table))
    cells["trial"] = table["trial_id"].to_numpy()
    return "\n".join([_table(cells, "configurations"), f'<p class="note">{_inline(CONFIG_NOTE)}</p>',
                      _figures(sensitivity)])


def _validation(directory: Path) -> str:
    md, png = (directory / f for f in VALIDATE_FILES)
    if not md.is_file():
        return ""
    parts = [markdown_html(md.read_text())]
    if png.is_file():
        parts.append(f'<figure>{_image(png, "ours vs the published reference runs")}<figcaption>'
                     f"Ours vs the published reference runs (<code>{_e(png.name)}</code>)</figcaption></figure>")
    return "\n".join(parts)


def markdown_html(text: str) -> str:
    """The Markdown that `validate` writes (headings, paragraphs, pipe tables) as HTML; headings are
    left out (the page has its own)."""
    out, block = [], []

    def flush() -> None:
        if not block:
            return
        if block[0].startswith("|"):
            rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block]
            body = [r for r in rows[2:]]  # rows[1] is the |---| alignment row
            out.append(_table(pd.DataFrame(body, columns=rows[0]), "validate"))
        else:
            out.append(f"<p>{_inline(' '.join(block))}</p>")
        block.clear()

    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            flush()
        elif block and block[0].startswith("|") != line.startswith("|"):
            flush()
            block.append(line)
        else:
            block.append(line)
    flush()
    return "\n".join(out)


def _rollouts(rollouts: list[Rollout] | None, name: str) -> str:
    if rollouts is None:
        return '<p class="skipped">Not drawn (<code>--no-rollouts</code>).</p>'
    if not rollouts:
        return '<p class="skipped">No task has a finite final return to pick a best policy by.</p>'
    figs, lines = [], []
    for r in rollouts:
        head = f"{r.env}: {r.algo}, trial {r.trial_id}"
        if r.gif is None:
            lines.append(f"{head}: not drawn, {r.why}")
            continue
        cut = f" (at most {r.max_frames} are drawn)" if r.frames >= r.max_frames else ""
        figs.append(f"<figure>{_image(r.gif, head)}<figcaption><strong>{_e(r.env)}</strong>: {_e(r.algo)}, trial "
                    f"{_e(r.trial_id)}, seed {r.seed}; {r.frames} frames{_e(cut)}, return {r.episode_return:.4g} over "
                    f"them. Again, with its returns: <code>{_e(r.command(name))}</code></figcaption></figure>")
    intro = ('<p class="note">Per task, the summary\'s row with the highest mean final return; of its saved seeds, '
             "the one with the highest final return; one episode of its evaluation policy (as training evaluated it).</p>")
    return intro + (f'<div class="rollouts">{"".join(figs)}</div>' if figs else "") + (
        _list(lines, "skipped") if lines else "")
