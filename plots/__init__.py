"""Figures and the summary table, from a sweep's results alone (`eggroll-bench plot`).

`render_all(results_dir, out_dir=None, style="robust")` is the entry point for other code;
it is imported lazily so importing `plots` does not pull in matplotlib.
"""
from __future__ import annotations


def render_all(results_dir, out_dir=None, style: str = "robust", inference=None) -> dict:
    """See `plots.render.render_all`."""
    from eggroll_bench.plots.render import render_all as _render_all

    return _render_all(results_dir, out_dir, style, inference)
