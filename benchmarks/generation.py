"""Generation throughput: pure inference vs EGGROLL (r=1, r=4) vs OpenES, in env steps / s.

    python -m eggroll_bench.benchmarks.generation [--quick] [--envs CartPole-v1] [--widths 256 --pops 1024]

Per (task, hidden width, population) every variant steps the same batch of population × 1 episode
for the same T steps (`workloads.FixedHorizonEnv`, through the runner's `run_episodes` loop):
- inference: the same Actor with one shared set of parameters: the ceiling;
- eggroll-rR / openes, kind "rollout": the generation's noise is drawn once, then each member acts
  with its own perturbation through `EvolutionStrategy.population_act`;
- eggroll-rR / openes, kind "generation": `EvolutionStrategy.update` itself (rollout, fitness,
  gradient, optimiser), i.e. one training generation.
Env steps are those the compiled call counted (Σ episode lengths, as the runner counts them).
Each row gives env steps / s (median of the repeats, and of the fastest repeat: `best_`), the
ratio to pure inference of the same configuration and, for EGGROLL, the ratio to OpenES of the
same kind. The pure-inference rows of CartPole-v1 (default XLA flags) also go to `inference.csv`
(hidden, pop_size, steps_per_s): the ceiling of the throughput-scaling figure, whose sweep
(sweeps/scaling.toml) runs that task.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax

from eggroll_bench.benchmarks import common, workloads
from eggroll_bench.benchmarks.options import BenchError, es_algos
from eggroll_bench.envs.registry import get_task

CPU_WIDTHS, ACCEL_WIDTHS, QUICK_WIDTHS = (64, 256, 1024), (64, 256, 1024, 4096), (64, 256)
POPS, QUICK_POPS = (64, 256, 1024, 4096), (256,)
DEFAULT_ENVS, QUICK_ENVS = ("CartPole-v1", "inverted_double_pendulum"), ("CartPole-v1",)
# inference.csv is the ceiling of the throughput-scaling figure, drawn from sweeps/scaling.toml
# (CartPole-v1, the default 2-layer tanh network): run this benchmark with that sweep's network.
CEILING_ENV = "CartPole-v1"
# A brax program takes ~45 s to compile on a 2-core CPU and its physics step, not the network, sets
# the throughput there: on CPU a brax task gets one width at one population unless asked otherwise.
BRAX_CPU_WIDTHS, BRAX_CPU_POPS = (256,), (1024,)
# On CPU a configuration with N·W² above this is skipped unless asked for explicitly: OpenES at
# 1024 wide × 4096 members materialises 16 GiB of member weights.
CPU_MAX_WORK = 1 << 30

COLUMNS = ["env", "hidden", "depth", "activation", "pop_size", "variant", "algo", "rank", "kind", "horizon",
           "env_steps", "seconds", "steps_per_s", "x_inference", "x_openes", "best_steps_per_s", "x_inference_best",
           "x_openes_best", "footprint_mb", "repeats", "xla", "load", "status"]
KEYS = ["env", "hidden", "depth", "activation", "pop_size", "variant", "kind", "horizon", "xla"]


@dataclass(frozen=True)
class Variant:
    algo: str  # inference | eggroll | openes
    rank: int
    kind: str  # inference | rollout | generation

    @property
    def name(self) -> str:
        return self.algo if self.algo != "eggroll" else f"eggroll-r{self.rank}"


def variants(ranks: list[int], full: bool, algos: list[str]) -> list[Variant]:
    es = [("eggroll", r) for r in ranks if "eggroll" in algos] + [("openes", 1)] * ("openes" in algos)
    kinds = ["rollout", "generation"] if full else ["rollout"]
    return [Variant("inference", 1, "inference")] + [Variant(a, r, k) for k in kinds for a, r in es]


def build(v: Variant, env: str, hidden: int, depth: int, pop: int, horizon: int, activation: str):
    """(fn, args) of the variant's compiled call; fn returns (output, env steps it counted)."""
    algo = "eggroll" if v.algo == "inference" else v.algo  # inference ignores the noise model
    es = workloads.make_es(algo, env, hidden, depth, pop, v.rank, activation, horizon=horizon)
    state = workloads.init_state(es)
    return workloads.WORKLOADS[v.kind](es), (state, jax.random.PRNGKey(1))


def measure(env: str, hidden: int, pop: int, vs: list[Variant], args: argparse.Namespace, horizon: int,
            repeats: int) -> list[dict[str, Any]]:
    base = {"env": env, "hidden": hidden, "depth": args.depth, "activation": args.activation, "pop_size": pop,
            "horizon": horizon, "xla": "no-ynn" if args.no_ynn else "default"}
    jobs = {v: build(v, env, hidden, args.depth, pop, horizon, args.activation) for v in vs}
    compiled = common.compile_many(jobs, common.compiler_options(args.no_ynn))
    cap = common.memory_cap(args.max_gb)  # now: other processes' memory changes during a long grid
    rows, calls = {}, {}
    for v in vs:
        row = {**base, "variant": v.name, "algo": v.algo, "rank": v.rank if v.algo == "eggroll" else "",
               "kind": v.kind, "status": "ok"}
        rows[v] = row
        if isinstance(compiled[v], Exception):
            row["status"] = common.short_error(compiled[v])
            continue
        foot = common.footprint_bytes(compiled[v])
        row["footprint_mb"] = round(foot / 2**20, 1) if foot is not None else ""
        if foot is not None and foot > cap:
            row["status"] = f"skipped: needs {foot / 2**30:.1f} GiB > cap {cap / 2**30:.1f} GiB"
        else:
            calls[v] = (lambda c=compiled[v], a=jobs[v][1]: c(*a))
    del compiled  # each executable holds its buffers' plan; the calls keep what they need
    budget = 5.0 if args.quick else 40.0
    common.record_throughput(rows, common.interleaved(calls, repeats, budget))
    add_ratios(rows, "steps_per_s", "")
    add_ratios(rows, "best_steps_per_s", "_best")
    return list(rows.values())


def add_ratios(rows: dict[Variant, dict[str, Any]], speed_column: str, suffix: str) -> None:
    """x_inference: speed / the inference speed; x_openes (EGGROLL): speed / OpenES's of that kind."""
    speed = {(v.algo, v.kind): r.get(speed_column) for v, r in rows.items()}
    ceiling = speed.get(("inference", "inference"))
    for v, r in rows.items():
        s = r.get(speed_column)
        if s is None:
            continue
        r["x_inference" + suffix] = s / ceiling if ceiling else ""
        openes = speed.get(("openes", v.kind))
        r["x_openes" + suffix] = s / openes if openes and v.algo == "eggroll" else ""


def grid_for(env: str, args: argparse.Namespace) -> tuple[list[int], list[int]]:
    try:
        brax = get_task(env).source == "brax" and not common.on_accelerator()
    except KeyError as err:
        raise BenchError(f"--envs: {err.args[0] if err.args else err}") from None
    widths = common.grid(args.quick, BRAX_CPU_WIDTHS if brax else CPU_WIDTHS, ACCEL_WIDTHS, QUICK_WIDTHS,
                         args.widths)
    pops = common.grid(args.quick, BRAX_CPU_POPS if brax else POPS, POPS, QUICK_POPS, args.pops)
    return widths, pops


def too_big(hidden: int, pop: int, args: argparse.Namespace) -> bool:
    explicit = bool(args.widths and args.pops)
    return not common.on_accelerator() and pop * hidden**2 > CPU_MAX_WORK and not explicit


def run(args: argparse.Namespace) -> int:
    envs = args.envs or list(QUICK_ENVS if args.quick else DEFAULT_ENVS)
    grids = {env: grid_for(env, args) for env in envs}  # bad input is refused before any work
    algos = es_algos(args.algos)
    common.header("generation", args.quick)
    ranks = args.ranks or ([1] if args.quick else [1, 4])
    horizon = args.horizon or (8 if args.quick else (64 if not common.on_accelerator() else 256))
    repeats = args.repeats or (3 if args.quick else 5)
    rows: list[dict[str, Any]] = []
    for env, (widths, pops) in grids.items():
        for hidden in widths:
            for pop in pops:
                if too_big(hidden, pop, args):
                    print(f"  skip {env} hidden={hidden} pop={pop}: N·W² too large for a CPU run "
                          "(ask for it with --widths/--pops)", flush=True)
                    continue
                start = time.perf_counter()
                new = measure(env, hidden, pop, variants(ranks, not args.no_full, algos), args, horizon, repeats)
                rows += new
                common.print_table(new, ["variant", "kind", "steps_per_s", "x_inference", "x_openes",
                                         "x_inference_best", "x_openes_best", "repeats", "status"],
                                   f"{env}  hidden={hidden}x{args.depth} {args.activation}  pop={pop}  T={horizon}  "
                                   f"({time.perf_counter() - start:.0f} s, load {common.load()})")
                sys.stdout.flush()
    out = Path(args.out)
    path = common.write_csv(rows, out / "generation.csv", COLUMNS, KEYS if args.append else None)
    common.print_table(rows, ["env", "hidden", "pop_size", "variant", "kind", "steps_per_s", "x_inference", "x_openes",
                              "x_inference_best", "x_openes_best", "load", "status"], "summary")
    print(f"\nwrote {path}")
    write_ceiling(rows, Path(args.inference_csv or out / "inference.csv"), args.append)
    return 0


def write_ceiling(rows: list[dict[str, Any]], path: Path, append: bool) -> None:
    """The pure-inference rows of the scaling sweep's task, default XLA flags, as the figure reads
    them (hidden, pop_size, steps_per_s); left alone when this run measured none."""
    ceiling = [{"hidden": r["hidden"], "pop_size": r["pop_size"], "steps_per_s": r["steps_per_s"]}
               for r in rows if r["variant"] == "inference" and r["env"] == CEILING_ENV and r["xla"] == "default"
               and r.get("steps_per_s")]
    if not ceiling:
        print(f"{path} left as it was: no pure-inference row of {CEILING_ENV} with default XLA flags measured")
        return
    common.write_csv(ceiling, path, ["hidden", "pop_size", "steps_per_s"], ["hidden", "pop_size"] if append else None)
    print(f"wrote {path} (pure-inference ceiling of {CEILING_ENV}, {len(ceiling)} rows)")


def main(argv: list[str] | None = None) -> int:
    return common.run_main("generation", run, argv)


if __name__ == "__main__":
    sys.exit(main())
