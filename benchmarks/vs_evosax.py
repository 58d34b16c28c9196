"""Our OpenES against evosax's `Open_ES` (0.3.2) on the same work, in one process.

    eggroll-bench bench vs-evosax [--quick] [--pops 64,256 --widths 64,256] [--trial-sizes 64x64]

Both contenders use the same network (`algos.network.Actor`, 2 x W tanh by default), the same
population, one episode per member with common start states, and the same rollout loop
(`algos.rollout.run_episodes`): only the ES machinery differs. evosax asks for a population
(its flat parameter vectors unravelled with `ravel_pytree`), the members act through the Actor
vmapped over their parameters, and it is told the negated fitness (evosax minimises); ours is
`EvolutionStrategy.update` (counter-based noise, centred ranks, Adam through optax).
Both: Adam lr 0.05, σ 0.05, antithetic pairs, centred-rank shaping, deterministic actions.

Two kinds of rows:
- `generation`: one generation per call, on a `FixedHorizonEnv` (every member steps exactly
  `--horizon` times), so both step exactly pop × T transitions (`env_steps` per generation,
  counted inside the call). `compile_s` (every row: in a fresh process, see `fresh_compile_s`,
  `--compile-repeats` alternated, median) counts init and
  one generation (ours: `EvolutionStrategy.init` and `update`; evosax: its init with our Actor's
  initial parameters, and ask + rollout + tell), as the runner's compile_s counts its start. Then
  each is called once to warm up and the two are timed in turn, `--repeats` rounds, median reported.
- `trial`: the real task (CartPole-v1) for `--trial-steps` env steps. evosax: its generation
  compiled once (with its init), warmed up, then called from a Python loop until the budget is
  spent. Ours: `runner.train`,
  what `eggroll-bench train openes CartPole-v1` runs, with the default `eval_every`
  (`ours-cli`: run_s as the runner reports it, compile_s the runner's, in a fresh process),
  and again with a single evaluation at the end (`ours-cli-eval-end`: `eval_every` larger than any
  trial), which shows what the suite's periodic evaluation costs; evosax evaluates nothing.
  Contenders alternate, `--trial-repeats` rounds; generations / s = generations / run seconds.

evosax is an optional extra (`pip install -e ".[bench]"`), imported only here.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp

from eggroll_bench.algos import runner
from eggroll_bench.algos.es import EvolutionStrategy
from eggroll_bench.algos.rollout import run_episodes
from eggroll_bench.benchmarks import common, workloads
from eggroll_bench.benchmarks.options import NEEDS, BenchError
from eggroll_bench.envs.registry import get_task

ENV = "CartPole-v1"
CPU_WIDTHS, ACCEL_WIDTHS, QUICK_WIDTHS = (64, 256, 1024), (64, 256, 1024, 4096), (16,)
POPS, QUICK_POPS = (64, 256, 1024), (8,)
# issue 24 §5 (64 members, 2 x 64) and issue 26 (256 members, 2 x 256): the programs compared there
TRIAL_SIZES, QUICK_TRIAL_SIZES = ((64, 64), (256, 256)), ((8, 16),)
QUICK_TRIAL_STEPS = 4_000
# On CPU a generation with pop x W^2 above this is skipped unless asked for by --pops/--widths: both
# contenders materialise every member's weights (1024 x 1024 wide: ~20 GiB for ours at T = 16), and
# OpenES at width 1024 takes ~10 s per generation of 256 members on 2 cores.
CPU_MAX_WORK = 1 << 27
EVAL_END = 1 << 30  # eval_every larger than any trial's updates: evaluated at step 0 and at the end only
CONTENDERS = {"generation": ("evosax", "ours"), "trial": ("evosax", "ours-cli", "ours-cli-eval-end")}

COLUMNS = ["kind", "env", "pop_size", "hidden", "depth", "contender", "horizon", "budget", "generations",
           "computed", "env_steps", "env_steps_per_gen", "gens_per_s", "best_gens_per_s", "steps_per_s",
           "x_evosax", "x_evosax_best", "compile_s", "x_evosax_compile", "repeats", "load", "status"]
KEYS = ["kind", "env", "pop_size", "hidden", "depth", "contender", "horizon", "budget"]


def import_evosax():
    """evosax, or a clear error naming the extra that installs it."""
    try:
        import evosax.algorithms as algorithms
    except ImportError:
        raise BenchError(f"vs-evosax needs evosax 0.3.2, an optional benchmark extra: "
                         f"pip install -e \".[{NEEDS['vs-evosax'][1]}]\" (or pip install evosax==0.3.2)") from None
    return algorithms


def our_es(pop: int, hidden: int, depth: int, horizon: int | None) -> EvolutionStrategy:
    """Our OpenES with the task's defaults and the benchmark's network (on a fixed horizon if given)."""
    return workloads.make_es("openes", ENV, hidden, depth, pop, horizon=horizon)


def evosax_generation(es: EvolutionStrategy, evosax_algorithms) -> tuple[Callable, Callable]:
    """(init(key) -> state, generation(state, key) -> (state, env steps)) of evosax's Open_ES with
    our config's hyperparameters, rolling out exactly as `es.update` does (same batch, start
    states, Actor, action selection and loop)."""
    import optax

    c = es.config
    template = es.init_params(jax.random.PRNGKey(0))
    strategy = evosax_algorithms.Open_ES(population_size=c.pop_size, solution=template,
                                         use_antithetic_sampling=c.antithetic, optimizer=optax.adam(c.lr),
                                         std_schedule=optax.constant_schedule(c.sigma))
    hyper = strategy.default_params
    members, per = c.pop_size, c.episodes_per_member

    def init(key: jax.Array):
        init_key, key = jax.random.split(key)
        return strategy.init(key, es.init_params(init_key), hyper)

    def generation(state, key: jax.Array):
        ask_key, tell_key, start_key, run_key = jax.random.split(key, 4)
        population, state = strategy.ask(ask_key, state, hyper)  # {leaf: (members, ...)}
        forward = jax.vmap(es.actor.apply)

        def act(obs, k):
            out = forward({"params": population}, obs.reshape((members, per) + obs.shape[1:]))
            out = jax.tree.map(lambda y: y.reshape((members * per,) + y.shape[2:]), out)
            return es.head.sample(out, k, c.deterministic_policy)

        episodes = run_episodes(es.env, act, run_key, es.batch, es.start_keys(start_key), moments=False)
        fitness = episodes.returns.reshape(members, per).mean(-1)
        state, _ = strategy.tell(tell_key, population, -fitness, state, hyper)  # evosax minimises
        return state, episodes.lengths.sum()

    return init, generation


def ours_generation(es: EvolutionStrategy) -> tuple[Callable, Callable]:
    def generation(state, key):
        state, metrics = es.update(state, key)
        return state, metrics["env_steps"]

    return es.init, generation


def compiled_generation(make: Callable[[], tuple[Callable, Callable]]) -> tuple[Any, Any, float]:
    """(compiled generation, initial state, compile seconds of init + generation): what a program
    that trains compiles (the runner's compile_s likewise counts its start), traced afresh."""
    init, generation = make()
    key = jax.random.PRNGKey(0)
    init_c, init_s = common.compile_jit(init, key)
    state = init_c(key)
    compiled, generation_s = common.compile_jit(generation, state, jax.random.PRNGKey(1), donate_argnums=0)
    return compiled, state, init_s + generation_s


# --- compile seconds, each in a fresh process --------------------------------------------------------
# XLA:CPU reuses kernels it compiled earlier in the same process: a second program that shares the
# rollout's kernels compiled in half the time. So every compile_s is measured in a process of its
# own, as a CLI trial compiles (one trial, one process).

def compile_seconds(kind: str, contender: str, pop: int, hidden: int, depth: int, horizon: int | None,
                    budget: int) -> float:
    """Compile seconds of one contender's program in this process (run by `fresh_compile_s`)."""
    if contender == "evosax":
        return compiled_generation(lambda: evosax_generation(our_es(pop, hidden, depth, horizon), import_evosax()))[2]
    if contender == "ours":
        return compiled_generation(lambda: ours_generation(our_es(pop, hidden, depth, horizon)))[2]
    overrides = {"pop_size": pop, "hidden": hidden, "depth": depth}
    if contender == "ours-cli-eval-end":
        overrides["eval_every"] = EVAL_END
    config = runner.resolve_group("openes", ENV, [overrides], budget)[0][0]
    return runner._compile("openes", ENV, runner.static_key(config), budget, 1, None).compile_s


def fresh_compile_s(kind: str, contender: str, pop: int, hidden: int, depth: int, horizon: int | None,
                    budget: int) -> float:
    spec = (kind, contender, pop, hidden, depth, horizon, budget)
    return common.in_fresh_process("eggroll_bench.benchmarks.vs_evosax", f"compile_seconds(*{spec!r})")


def fresh_compiles(kind: str, names: list[str], pop: int, hidden: int, args: argparse.Namespace, horizon: int | None,
                   budget: int) -> dict[str, float | BaseException]:
    """Median compile seconds per contender over `--compile-repeats` fresh processes, alternated."""
    got: dict[str, list[float]] = {name: [] for name in names}
    failed: dict[str, BaseException] = {}
    measure = compile_seconds if args.compile_here else fresh_compile_s
    for _ in range(args.compile_repeats):
        for name in names:
            if name in failed:
                continue
            try:
                got[name].append(measure(kind, name, pop, hidden, args.depth, horizon, budget))
            except Exception as err:  # noqa: BLE001 - reported in the row
                failed[name] = err
    return {**{name: statistics.median(v) for name, v in got.items() if v}, **failed}


# --- kind "generation": one fixed-horizon generation per call ----------------------------------------

def measure_generations(pop: int, hidden: int, args: argparse.Namespace, evosax_algorithms) -> list[dict]:
    makers = {"evosax": lambda: evosax_generation(our_es(pop, hidden, args.depth, args.horizon), evosax_algorithms),
              "ours": lambda: ours_generation(our_es(pop, hidden, args.depth, args.horizon))}
    base = {"kind": "generation", "env": ENV, "pop_size": pop, "hidden": hidden, "depth": args.depth,
            "horizon": args.horizon, "budget": "", "status": "ok"}
    rows = {name: {**base, "contender": name} for name in makers}
    compiled, states = {}, {}
    cap = common.memory_cap(args.max_gb)
    for name, make in makers.items():
        try:
            compiled[name], states[name], _ = compiled_generation(make)
        except Exception as err:  # noqa: BLE001 - reported in the row, the grid goes on
            rows[name]["status"] = common.short_error(err)
            continue
        foot = common.footprint_bytes(compiled[name])
        if foot is not None and foot > cap:
            rows[name]["status"] = f"skipped: needs {foot / 2**30:.1f} GiB > cap {cap / 2**30:.1f} GiB"
    calls = {name: _stepper(compiled[name], states[name]) for name in makers if rows[name]["status"] == "ok"}
    for name, seconds in fresh_compiles("generation", list(calls), pop, hidden, args, args.horizon, 0).items():
        if isinstance(seconds, BaseException):
            rows[name]["status"] = common.short_error(seconds)
            calls.pop(name)
        else:
            rows[name]["compile_s"] = seconds
    timings = common.interleaved(calls, args.repeats or (3 if args.quick else 5), 5.0 if args.quick else 40.0)
    for name, timing in timings.items():
        row = rows[name]
        if isinstance(timing, BaseException):
            row["status"] = common.short_error(timing)
            continue
        steps = int(timing.output[1])
        row.update(generations=1, computed=1, env_steps=steps, env_steps_per_gen=steps, gens_per_s=1 / timing.seconds,
                   best_gens_per_s=1 / timing.best, steps_per_s=steps / timing.seconds, repeats=timing.repeats)
    for row in rows.values():
        row["load"] = common.load()
    add_ratios(rows)
    return list(rows.values())


def _stepper(compiled, state) -> Callable[[], Any]:
    """A call of one generation that carries its state on (the compiled function donates it)."""
    box = {"state": state, "n": 0}

    def call():
        box["n"] += 1
        box["state"], steps = compiled(box["state"], jax.random.PRNGKey(box["n"]))
        return box["state"], steps

    return call


# --- kind "trial": the real task for a budget of env steps ---------------------------------------------

def evosax_trial(pop: int, hidden: int, depth: int, budget: int, evosax_algorithms) -> dict[str, Any]:
    """evosax's generation compiled once, then called until the budget is spent."""
    compiled, state, compile_s = compiled_generation(
        lambda: evosax_generation(our_es(pop, hidden, depth, None), evosax_algorithms))
    common.block(compiled(jax.tree.map(jnp.copy, state), jax.random.PRNGKey(3)))  # warm-up on a copy
    steps = generations = 0
    key = jax.random.PRNGKey(2)
    start = time.perf_counter()
    while steps < budget:
        key, gen_key = jax.random.split(key)
        state, n = compiled(state, gen_key)
        steps += int(n)  # read back each generation, as the runner reads back each chunk
        generations += 1
    run_s = time.perf_counter() - start
    return {"generations": generations, "computed": generations, "env_steps": steps, "run_s": run_s,
            "compile_s": compile_s}


def ours_trial(pop: int, hidden: int, depth: int, budget: int, eval_every: int | None) -> dict[str, Any]:
    """`runner.train` as the CLI calls it, compiled cold (the runner's in-process cache cleared)."""
    overrides = {"pop_size": pop, "hidden": hidden, "depth": depth}
    if eval_every is not None:
        overrides["eval_every"] = eval_every
    runner._compile.cache_clear()
    result = runner.train("openes", ENV, [0], overrides, budget, progress=False)
    runner._compile.cache_clear()
    seed = result.seeds[0]
    return {"generations": seed.updates, "computed": result.call.computed_updates, "env_steps": seed.env_steps,
            "run_s": result.run_s, "compile_s": result.compile_s, "evaluations": len(seed.evals)}


def measure_trials(pop: int, hidden: int, args: argparse.Namespace, evosax_algorithms) -> list[dict]:
    budget = args.trial_steps or (QUICK_TRIAL_STEPS if args.quick else int(get_task(ENV).budget_quick))
    runs = {"evosax": lambda: evosax_trial(pop, hidden, args.depth, budget, evosax_algorithms),
            "ours-cli": lambda: ours_trial(pop, hidden, args.depth, budget, None),
            "ours-cli-eval-end": lambda: ours_trial(pop, hidden, args.depth, budget, EVAL_END)}
    base = {"kind": "trial", "env": ENV, "pop_size": pop, "hidden": hidden, "depth": args.depth, "horizon": "",
            "budget": budget, "status": "ok"}
    rows = {name: {**base, "contender": name} for name in runs}
    samples: dict[str, list[dict]] = {name: [] for name in runs}
    loads = []
    for _ in range(args.trial_repeats or (1 if args.quick else 3)):
        for name, run in runs.items():  # alternated
            if rows[name]["status"] != "ok":
                continue
            try:
                samples[name].append(run())
            except Exception as err:  # noqa: BLE001
                rows[name]["status"] = common.short_error(err)
            loads.append(common.load())
    compiles = fresh_compiles("trial", [n for n in runs if rows[n]["status"] == "ok"], pop, hidden, args, None,
                              budget)
    for name, got in samples.items():
        if not got:
            continue
        speeds = [s["generations"] / s["run_s"] for s in got]
        mid = sorted(got, key=lambda s: s["generations"] / s["run_s"])[len(got) // 2]  # the median run
        rows[name].update(generations=mid["generations"], computed=mid["computed"], env_steps=mid["env_steps"],
                          env_steps_per_gen=mid["env_steps"] / mid["generations"], gens_per_s=statistics.median(speeds),
                          best_gens_per_s=max(speeds), steps_per_s=mid["env_steps"] / mid["run_s"],
                          repeats=len(got))
        if isinstance(compiles.get(name), BaseException):
            rows[name]["status"] = common.short_error(compiles[name])
        elif name in compiles:
            rows[name]["compile_s"] = compiles[name]
    for row in rows.values():
        row["load"] = round(statistics.median(loads), 2) if loads else common.load()
    add_ratios(rows)
    return list(rows.values())


def add_ratios(rows: dict[str, dict[str, Any]]) -> None:
    """x_evosax: each contender's generations / s over evosax's (and compile seconds, likewise)."""
    ref = rows.get("evosax", {})
    for row in rows.values():
        for column, ratio in (("gens_per_s", "x_evosax"), ("best_gens_per_s", "x_evosax_best"),
                              ("compile_s", "x_evosax_compile")):
            if row.get(column) and ref.get(column):
                row[ratio] = row[column] / ref[column]


def too_big(pop: int, hidden: int, args: argparse.Namespace) -> bool:
    explicit = bool(args.widths and args.pops)
    return not common.on_accelerator() and pop * hidden**2 > CPU_MAX_WORK and not explicit


def run(args: argparse.Namespace) -> int:
    evosax_algorithms = import_evosax()  # before any work: a missing extra is named at once
    if jax.config.jax_compilation_cache_dir:
        print(f"  note: the persistent compilation cache ({jax.config.jax_compilation_cache_dir}) may serve "
              "these compilations; unset it for cold compile times", flush=True)
    common.header("vs-evosax", args.quick)
    args.horizon = args.horizon or (8 if args.quick else 64)
    widths = common.grid(args.quick, CPU_WIDTHS, ACCEL_WIDTHS, QUICK_WIDTHS, args.widths)
    pops = common.grid(args.quick, POPS, POPS, QUICK_POPS, args.pops)
    trial_sizes = args.trial_sizes if args.trial_sizes is not None else \
        list(QUICK_TRIAL_SIZES if args.quick else TRIAL_SIZES)
    rows: list[dict[str, Any]] = []
    show = ["kind", "pop_size", "hidden", "contender", "env_steps_per_gen", "gens_per_s", "x_evosax",
            "compile_s", "x_evosax_compile", "computed", "load", "status"]
    if not args.no_generation:
        for hidden in widths:
            for pop in pops:
                if too_big(pop, hidden, args):
                    rows += [{"kind": "generation", "env": ENV, "pop_size": pop, "hidden": hidden, "depth": args.depth,
                              "contender": name, "horizon": args.horizon, "load": common.load(),
                              "status": f"skipped: pop x width^2 > 2^{CPU_MAX_WORK.bit_length() - 1} on CPU "
                                        "(ask for it with --pops/--widths)"} for name in CONTENDERS["generation"]]
                    print(f"  skip generation pop={pop} hidden={hidden}: too large for a CPU run", flush=True)
                    continue
                new = measure_generations(pop, hidden, args, evosax_algorithms)
                rows += new
                common.print_table(new, show, f"generation  pop={pop}  hidden={hidden}x{args.depth}  T={args.horizon}")
    for pop, hidden in trial_sizes:
        new = measure_trials(pop, hidden, args, evosax_algorithms)
        rows += new
        common.print_table(new, show, f"trial {ENV}  pop={pop}  hidden={hidden}x{args.depth}")
    path = common.write_csv(rows, Path(args.out) / "vs_evosax.csv", COLUMNS, KEYS if args.append else None)
    print(f"\nwrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run_main("vs-evosax", run, argv)


if __name__ == "__main__":
    sys.exit(main())
