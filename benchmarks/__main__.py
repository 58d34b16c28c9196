"""`python -m eggroll_bench.benchmarks NAME [options]`: the same as `eggroll-bench bench NAME [options]`."""
from __future__ import annotations

import argparse
import sys

from eggroll_bench.benchmarks.commands import add_scripts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eggroll_bench.benchmarks", description="Throughput benchmarks.")
    add_scripts(parser)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
