"""`eggroll-bench validate RESULTS_DIR [--out DIR] [--references FILE] [--tolerance X]`.

Compares a sweep's results (normally `eggroll-bench sweep sweeps/validate.toml`) with the published
reference runs of `sweeps/validate_references.toml`; the logic is `plots.validate`.
"""
from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from eggroll_bench.plots.load import ResultsError
    from eggroll_bench.plots.validate import rule, validate
    from eggroll_bench.sweeps.references import REFERENCES_FILE, ReferenceError, load_references

    if not 0 <= args.tolerance < 1:
        print(f"eggroll-bench validate: --tolerance must be in [0, 1), got {args.tolerance}", file=sys.stderr)
        return 2
    try:
        refs = load_references(args.references or REFERENCES_FILE)
        result = validate(args.results_dir, args.out, refs, args.tolerance)
    except (ResultsError, ReferenceError) as err:
        print(f"eggroll-bench validate: {err}", file=sys.stderr)
        return 2
    print(result.markdown)
    run_ = [c for c in result.comparisons if c.compared or c.other]
    print(f"{len(run_)} of {len(result.comparisons)} reference rows have results here; rule: {rule(args.tolerance)}")
    for path in result.outputs:
        print(f"wrote {path}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("validate", help="compare a results directory with published reference runs",
                              description="Per reference run (sweeps/validate_references.toml): our mean final "
                                          "return with its 95% CI over seeds, the reference's value and a verdict "
                                          "(matches / below / above); writes validate.csv, validate.md and "
                                          "validate.png/.pdf. Run `eggroll-bench sweep sweeps/validate.toml` first.")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="a sweep's results directory (results/validate)")
    p.add_argument("--out", metavar="DIR", default=None, help="output directory (default: RESULTS_DIR)")
    p.add_argument("--references", metavar="FILE", default=None,
                   help="reference table (default: the installed sweeps/validate_references.toml)")
    p.add_argument("--tolerance", type=float, default=0.05,
                   help="relative band around the reference that also counts as a match (default 0.05)")
    p.set_defaults(func=run)
