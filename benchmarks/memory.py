"""Peak memory of one generation, EGGROLL vs OpenES, from XLA's compiled memory analysis.

    python -m eggroll_bench.benchmarks.memory [--quick] [--widths 64,256,1024 --pops 1024]

One generation is `EvolutionStrategy.update` on a fixed-horizon CartPole (T steps, so the plan
does not depend on when episodes end), compiled for ShapeDtypeStructs: nothing is allocated, so
sizes far beyond this machine's RAM can be analysed. Reported: XLA's temp, argument and output
sizes and peak = their sum (less aliasing), next to the theory: the noise a generation holds is
N·Σ r(m+n) (+ vectors) floats for EGGROLL and N·P for OpenES (`noise_mb`). Arguments and outputs
are the ES state (mean parameters and optimiser moments, O(P) for both algorithms), so the
population's memory is the temp part: `growth` is temp / the temp at the smallest width of the
same algorithm and population, next to `theory_growth` (the noise's): EGGROLL's should grow
~linearly in the width (O(N·r·(m+n))), OpenES's ~quadratically (O(N·m·n)).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import jax
from flax import traverse_util

from eggroll_bench.algos.noise import LowRankNoise, is_matrix
from eggroll_bench.benchmarks import common, workloads

CPU_WIDTHS, ACCEL_WIDTHS, QUICK_WIDTHS = (64, 128, 256, 512, 1024), (64, 256, 1024, 2048, 4096), (64, 256)
POPS, QUICK_POPS = (64, 256, 1024, 4096), (64,)
ENV = "CartPole-v1"

COLUMNS = ["algo", "rank", "hidden", "depth", "activation", "pop_size", "horizon", "params_per_member",
           "noise_floats", "noise_mb", "temp_mb", "argument_mb", "output_mb", "peak_mb", "growth", "theory_growth",
           "xla", "status"]
KEYS = ["algo", "rank", "hidden", "depth", "activation", "pop_size", "horizon", "xla"]
MB = 2**20


def noise_floats(es, params: Any) -> int:
    """Floats of noise one generation draws for the whole population (the theory column)."""
    total = 0
    for path, leaf in traverse_util.flatten_dict(params).items():
        if isinstance(es.noise, LowRankNoise) and is_matrix(path, leaf):
            total += es.config.rank * (leaf.shape[0] + leaf.shape[1])
        else:
            total += leaf.size
    return total * es.config.pop_size


def job(algo: str, rank: int, hidden: int, pop: int, args: argparse.Namespace):
    es = workloads.make_es(algo, ENV, hidden, args.depth, pop, rank, args.activation, horizon=args.horizon)
    state = workloads.state_shapes(es)
    floats = noise_floats(es, state.params)
    row = {"algo": algo, "rank": rank if algo == "eggroll" else "", "hidden": hidden, "depth": args.depth,
           "activation": args.activation, "pop_size": pop, "horizon": args.horizon,
           "noise_floats": floats, "noise_mb": floats * 4 / MB,
           "params_per_member": sum(x.size for x in jax.tree.leaves(state.params)),
           "xla": "no-ynn" if args.no_ynn else "default"}
    return row, (workloads.full_generation(es), (state, workloads.key_shape()))


def analyse(rows: list[dict[str, Any]], jobs: dict[int, tuple], compiler_opts: dict[str, str] | None) -> None:
    for i, c in common.compile_many(jobs, compiler_opts).items():
        stats = None if isinstance(c, Exception) else c.memory_analysis()
        if stats is None:
            rows[i]["status"] = common.short_error(c) if isinstance(c, Exception) else "no memory analysis"
            continue
        rows[i].update(temp_mb=stats.temp_size_in_bytes / MB, argument_mb=stats.argument_size_in_bytes / MB,
                       output_mb=stats.output_size_in_bytes / MB, peak_mb=common.footprint_bytes(c) / MB, status="ok")


def add_growth(rows: list[dict[str, Any]]) -> None:
    smallest: dict[tuple, dict[str, Any]] = {}
    for r in sorted((r for r in rows if "peak_mb" in r), key=lambda r: r["hidden"]):
        base = smallest.setdefault((r["algo"], r["rank"], r["pop_size"]), r)
        r["growth"] = r["temp_mb"] / base["temp_mb"]
        r["theory_growth"] = r["noise_floats"] / base["noise_floats"]


def run(args: argparse.Namespace) -> int:
    common.header("memory", args.quick)
    widths = common.grid(args.quick, CPU_WIDTHS, ACCEL_WIDTHS, QUICK_WIDTHS, args.widths)
    pops = common.grid(args.quick, POPS, POPS, QUICK_POPS, args.pops)
    rows: list[dict[str, Any]] = []
    for pop in pops:  # one batch of compilations per population keeps the progress visible
        jobs = {}
        for hidden in widths:
            for algo in ("eggroll", "openes"):
                row, jobs[len(rows)] = job(algo, args.rank, hidden, pop, args)
                rows.append(row)
        analyse(rows, jobs, common.compiler_options(args.no_ynn))
        print(f"  pop={pop}: analysed {len(jobs)} generations", flush=True)
    add_growth(rows)
    rows.sort(key=lambda r: (r["pop_size"], r["algo"], r["hidden"]))
    common.print_table(rows, ["algo", "rank", "hidden", "pop_size", "noise_mb", "temp_mb", "argument_mb",
                              "output_mb", "peak_mb", "growth", "theory_growth", "status"],
                       f"one generation, depth {args.depth}, T={args.horizon}; growth = temp / temp at "
                       f"hidden={min(widths)}")
    path = common.write_csv(rows, Path(args.out) / "memory.csv", COLUMNS, KEYS if args.append else None)
    print(f"\nwrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run_main("memory", run, argv)


if __name__ == "__main__":
    sys.exit(main())
