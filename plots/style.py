"""The look shared by every figure: algorithm colours and names, theme, layout, notes, saving."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Iterable

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from eggroll_bench.algos.config import ConfigError  # noqa: E402
from eggroll_bench.algos.registry import get_algorithm  # noqa: E402

# An algorithm's colour and label come from its registry entry (the built-ins use seaborn's
# "colorblind" palette), so an algorithm is one colour in every figure.
OTHER_COLOUR = "#949494"
FORMATS = ("png", "pdf")
NOTE_COLOUR = "#555555"


class PlotWarning(UserWarning):
    """Something a figure shows differently from what the data might suggest (a one-point curve, a
    figure left out). `plots.render.render` turns these into the notes the `plot` command prints."""


def _entry(algo: str):
    try:
        return get_algorithm(algo)
    except ConfigError:  # results of an algorithm this process has not loaded (no --import)
        return None


def colour(algo: str) -> str:
    entry = _entry(algo)
    return entry.color if entry is not None and entry.color else OTHER_COLOUR


def label(algo: str) -> str:
    entry = _entry(algo)
    return entry.label if entry is not None else algo


def set_theme() -> None:
    sns.set_theme(context="notebook", style="whitegrid", font_scale=1.0,
                  rc={"axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 10,
                      "figure.titlesize": 13, "figure.labelsize": 11, "xtick.labelsize": 9,
                      "ytick.labelsize": 9})


def steps_formatter() -> EngFormatter:
    """Tick labels like 500k, 2M for environment-step axes."""
    return EngFormatter(sep="")


def panel_grid(n: int, ncols: int = 4, size: tuple[float, float] = (3.7, 2.9), **kw):
    """A figure with `n` panels in a grid (unused cells hidden) and the flat list of used axes."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    width = max(size[0], 8.0 / ncols)  # few panels: widen them so the suptitle and legend fit
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, size[1] * nrows + 0.8),
                             layout="constrained", squeeze=False, **kw)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def panel_title(ax, text: str) -> None:
    """Task names can be long (MPE_simple_speaker_listener_v4): shrink rather than overlap."""
    ax.set_title(text, fontsize=11 if max(map(len, text.splitlines())) <= 26 else 9)


def mark_missing(ax, text: str) -> None:
    """Say on a panel that something is missing, instead of leaving it silently empty."""
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 28)), transform=ax.transAxes, ha="center",
            va="center", fontsize=9, color=NOTE_COLOUR, style="italic",
            bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc"})


def algo_legend(fig, algos: Iterable[str], bars: bool = False, **kw) -> None:
    """One legend for the whole figure, right of the panels (above them it would collide with
    the suptitle under constrained layout, below them with the footnote)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if bars:  # timing figures: solid = run, hatched = compile
        handles = [Patch(color=colour(a), label=label(a)) for a in algos]
        handles.append(Patch(facecolor="#bbbbbb", hatch="//", edgecolor="white", label="compile"))
    else:
        handles = [Line2D([], [], color=colour(a), lw=2.5, label=label(a)) for a in algos]
    fig.legend(handles=handles, loc="outside right center", frameon=False, **kw)


def footnote(fig, lines: Iterable[str]) -> None:
    """Notes to print under the figure (placed by `save`, once the layout is known)."""
    fig._eggroll_notes = getattr(fig, "_eggroll_notes", []) + [line for line in lines if line]


def _place_footnote(fig, renderer) -> None:
    lines = getattr(fig, "_eggroll_notes", [])
    if not lines:
        return
    width = int(fig.get_figwidth() * 14)  # characters of 9 pt text that fit the figure's width
    text = "\n".join(w for line in lines for w in textwrap.wrap(line, width))
    # below everything the layout placed (x label, legends, panels)
    artists = [*fig.legends, *fig.axes, *(t for t in (getattr(fig, "_supxlabel", None),) if t is not None)]
    bottoms = [a.get_tightbbox(renderer).y0 for a in artists if a.get_visible()]
    y = (min(bottoms) / fig.bbox.height if bottoms else 0.0) - 0.01
    fig.text(0.01, y, text, ha="left", va="top", fontsize=9, color=NOTE_COLOUR)


def save(fig, out_dir: Path, name: str) -> list[Path]:
    """Write `name`.png and `name`.pdf into `out_dir`, close the figure, return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.draw_without_rendering()  # runs the layout once, so the footnote can go under it
    renderer = fig.canvas.get_renderer()
    _place_footnote(fig, renderer)
    # one tight box for both formats (the footnote included) instead of bbox_inches="tight",
    # which would lay out and draw every figure an extra time per format
    box = fig.get_tightbbox(renderer).padded(0.15)
    paths = []
    for ext in FORMATS:
        path = out_dir / f"{name}.{ext}"
        fig.savefig(path, dpi=150, bbox_inches=box)
        paths.append(path)
    plt.close(fig)
    return paths
