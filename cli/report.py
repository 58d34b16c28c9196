"""`eggroll-bench report RESULTS_DIR [--out FILE] [--figures DIR] [--style robust|paper] [--no-rollouts]`.

One self-contained HTML page of a sweep (`plots.report`): it opens from disk with no server and no
network. Plotting and JAX are imported only when the command runs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _error(message: str) -> int:
    print(f"eggroll-bench report: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if args.out is not None and Path(args.out).suffix.lower() not in (".html", ".htm"):
        return _error(f"--out {args.out}: the page is HTML, the file must end in .html")
    if args.max_frames is not None and args.max_frames < 1:
        return _error(f"--max-frames must be >= 1, got {args.max_frames}")

    from eggroll_bench.plots.load import ResultsError
    from eggroll_bench.plots.report import write_report
    from eggroll_bench.plugins import search_current_directory

    search_current_directory()  # the plugin modules saved policies name are loaded as --import would
    try:
        report = write_report(args.results_dir, args.out, args.figures, args.style, not args.no_rollouts,
                              args.max_frames)
    except ResultsError as err:
        return _error(str(err))
    for note in report.rendered.notes:
        print(f"note: {note}")
    for name, value in report.rendered.errors.items():
        print(f"FAILED {name}: {value}")
    for r in report.rollouts:
        print(f"rollout {r.env}: " + (f"{r.gif}" if r.gif else f"not drawn, {r.why}"))
    size = report.path.stat().st_size
    print(f"wrote {report.path} ({size / 1e6:.2f} MB, {report.images} images; figures in {report.figures_dir})")
    return 1 if report.rendered.errors else 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="write one self-contained HTML page of a results directory",
        description="Render what `plot` renders (into --figures) and write one HTML page that opens from disk "
                    "with no server and no network: provenance, the summary table and speed-ups, every figure, "
                    "the per-configuration table and sensitivity figures, validate's table when RESULTS_DIR has "
                    "one, and a GIF of one episode of the best saved policy per task.")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="a sweep's results directory (results/<sweep>)")
    p.add_argument("--out", metavar="FILE", default=None, help="the page (default: RESULTS_DIR/report.html)")
    p.add_argument("--figures", metavar="DIR", default=None,
                   help="where the figures, tables and GIFs are written (default: RESULTS_DIR/figures, as plot)")
    p.add_argument("--style", choices=("robust", "paper"), default="robust",
                   help="the figures' style, as `plot --style` (default robust)")
    p.add_argument("--no-rollouts", action="store_true", help="draw no episodes (no JAX compile, faster)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",  # None: plots.rollouts.MAX_FRAMES
                   help="draw at most N steps of each episode (default 150: keeps the page small)")
    p.set_defaults(func=run)
