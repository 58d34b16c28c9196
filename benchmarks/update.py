"""The ES update alone vs one forward step of the population: how much of a generation is not rollout.

    python -m eggroll_bench.benchmarks.update [--quick] [--widths 256 --pops 1024]

Per (hidden width, population) and algorithm, timed side by side:
- sample:   `noise.sample` (the generation's noise from counter-based keys, drawn once per
            generation; the rollout and the gradient share it);
- gradient: `noise.gradient` given the noise (EGGROLL: one einsum per matrix; OpenES: N × P);
- update:   sample + gradient in one call, as `EvolutionStrategy.update` draws then contracts;
- step:     one population forward step with the members' variables already built (no env),
            timed as 8 chained steps per call;
- inference_step: the same batch through the shared-parameter network (no noise), likewise;
            timed with each algorithm's pieces, so every row has its own baseline.
Derived: `update_steps` = update / step (how many forward steps the update costs) and, for a
generation of L steps per member (`--episode-steps`, default 500 = CartPole's limit),
`update_share` = update / (update + L·step) and `model_x_inference` = L·inference_step /
(sample + L·step + update): the network-only throughput ratio to pure inference that these
pieces predict (environment cost left out, which only brings the ratio closer to 1).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from eggroll_bench.benchmarks import common, workloads
from eggroll_bench.benchmarks.options import es_algos

CPU_WIDTHS, ACCEL_WIDTHS, QUICK_WIDTHS = (64, 256, 1024), (64, 256, 1024, 4096), (64, 256)
POPS, QUICK_POPS = (64, 256, 1024, 4096), (256,)
CPU_MAX_WORK = 1 << 30  # skip N·W² above this on CPU unless asked for explicitly
ENV = "CartPole-v1"  # only its observation/action sizes matter: no environment is stepped
STEPS = 8  # forward steps per timed call; step_ms is per step

COLUMNS = ["algo", "rank", "hidden", "depth", "activation", "pop_size", "sample_ms", "gradient_ms", "update_ms",
           "step_ms", "inference_step_ms", "update_steps", "episode_steps", "update_share", "model_x_inference",
           "footprint_mb", "xla", "load", "status"]
KEYS = ["algo", "rank", "hidden", "depth", "activation", "pop_size", "xla"]


def pieces(algo: str, rank: int, hidden: int, pop: int, args: argparse.Namespace) -> dict[str, tuple] | str:
    """{piece: (fn, args)} for one algorithm at one size, or why it cannot run here."""
    es = workloads.make_es(algo, ENV, hidden, args.depth, pop, rank, args.activation)
    state = workloads.init_state(es)
    sigma = es.sigma(state.generation)
    shaped = jnp.linspace(-0.5, 0.5, pop)

    def sample(state):
        return es.noise.sample(state.noise_key, state.generation, state.params)

    # the noise and the members' variables below stay allocated while the pieces run
    held = 2 * sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(jax.eval_shape(sample, state)))
    cap = common.memory_cap(args.max_gb)
    if held > cap:
        return f"skipped: prebuilt noise and member weights need {held / 2**30:.1f} GiB > cap {cap / 2**30:.1f} GiB"
    noise = jax.jit(sample)(state)

    def gradient(state, noise, shaped):
        return es.noise.gradient(state.params, noise, shaped, sigma)

    def update(state, shaped):
        return gradient(state, sample(state), shaped)

    step, _ = workloads.population_step(es, state)
    variables = jax.jit(lambda n: es.noise.member_variables(state.params, n, sigma)[0])(noise)
    obs = jax.random.normal(jax.random.PRNGKey(2), (es.batch,) + es.spec.obs_shape)
    key = jax.random.PRNGKey(3)
    inference = lambda state, obs, key: workloads.inference_act(es, state)(obs, key)  # noqa: E731
    return {"sample": (sample, (state,)), "gradient": (gradient, (state, noise, shaped)),
            "update": (update, (state, shaped)), "step": (chained(step), (variables, obs, key)),
            "inference_step": (chained(inference), (state, obs, key))}


def chained(step):
    """STEPS forward steps in one call (per-call dispatch would dominate small sizes), each step's
    input depending on the last one's output so that XLA can neither hoist nor drop any."""

    def fn(variables, obs, key):
        def body(carry, key):
            actions = step(variables, obs + carry, key)
            return carry + 1e-9 * jnp.sum(actions).astype(obs.dtype), None

        total, _ = jax.lax.scan(body, jnp.zeros((), obs.dtype), jax.random.split(key, STEPS))
        return total

    return fn


def measure(hidden: int, pop: int, algo: str, rank: int, args: argparse.Namespace, repeats: int) -> dict[str, Any]:
    """One algorithm's pieces at one size, interleaved with their own inference baseline. One
    algorithm at a time: OpenES's prebuilt noise and member weights (2·N·P floats) stay allocated
    while its pieces run, and must not add up with another algorithm's."""
    row = {"algo": algo, "rank": rank if algo == "eggroll" else "", "hidden": hidden, "depth": args.depth,
           "activation": args.activation, "pop_size": pop, "episode_steps": args.episode_steps,
           "xla": "no-ynn" if args.no_ynn else "default", "status": "ok"}
    jobs = pieces(algo, rank, hidden, pop, args)
    if isinstance(jobs, str):
        return {**row, "status": jobs}
    compiled = common.compile_many(jobs, common.compiler_options(args.no_ynn))
    errors = {k: c for k, c in compiled.items() if isinstance(c, Exception)}
    sizes = {k: common.footprint_bytes(c) or 0 for k, c in compiled.items() if k not in errors}
    new = {k: common.new_bytes(c) or 0 for k, c in compiled.items() if k not in errors}
    cap = common.memory_cap(args.max_gb)  # now, with this algorithm's prebuilt arrays allocated
    fits = {k for k in sizes if (sizes[k] if args.max_gb is not None else new[k]) <= cap}
    calls = {k: (lambda c=compiled[k], a=jobs[k][1]: c(*a)) for k in fits}
    timings = common.interleaved(calls, repeats, 5.0 if args.quick else 30.0)
    row["load"] = common.load()
    row["footprint_mb"] = round(max(sizes.values(), default=0) / 2**20, 1)
    errors.update({k: t for k, t in timings.items() if isinstance(t, Exception)})
    t = {k: v.seconds for k, v in timings.items() if not isinstance(v, Exception)}
    if set(t) != set(jobs):
        row["status"] = (common.short_error(next(iter(errors.values()))) if errors
                         else f"skipped: a piece needs more than the cap {cap / 2**30:.1f} GiB")
        return row
    t["step"] /= STEPS
    t["inference_step"] /= STEPS
    row.update({f"{p}_ms": 1e3 * v for p, v in t.items()})
    steps = args.episode_steps
    row["update_steps"] = t["update"] / t["step"]
    row["update_share"] = t["update"] / (t["update"] + steps * t["step"])
    row["model_x_inference"] = steps * t["inference_step"] / (t["sample"] + steps * t["step"] + t["update"])
    return row


def run(args: argparse.Namespace) -> int:
    widths = common.grid(args.quick, CPU_WIDTHS, ACCEL_WIDTHS, QUICK_WIDTHS, args.widths)
    pops = common.grid(args.quick, POPS, POPS, QUICK_POPS, args.pops)
    ranks = args.ranks or ([1] if args.quick else [1, 4])
    names = es_algos(args.algos)
    algos = [("eggroll", r) for r in ranks if "eggroll" in names] + [("openes", 1)] * ("openes" in names)
    common.header("update", args.quick)
    repeats = args.repeats or (3 if args.quick else 5)
    rows: list[dict[str, Any]] = []
    for hidden in widths:
        for pop in pops:
            if not common.on_accelerator() and pop * hidden**2 > CPU_MAX_WORK and not (args.widths and args.pops):
                print(f"  skip hidden={hidden} pop={pop}: N·W² too large for a CPU run", flush=True)
                continue
            new = [measure(hidden, pop, algo, rank, args, repeats) for algo, rank in algos]
            rows += new
            common.print_table(new, ["algo", "rank", "sample_ms", "gradient_ms", "update_ms", "step_ms",
                                     "inference_step_ms", "update_steps", "update_share", "model_x_inference",
                                     "status"], f"hidden={hidden}x{args.depth}  pop={pop}")
            sys.stdout.flush()
    path = common.write_csv(rows, Path(args.out) / "update.csv", COLUMNS, KEYS if args.append else None)
    print(f"\nwrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run_main("update", run, argv)


if __name__ == "__main__":
    sys.exit(main())
