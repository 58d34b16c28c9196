"""Our PPO against PureJaxRL's `ppo.py` on the same work, in one process.

    git clone https://github.com/luchris429/purejaxrl DIR && git -C DIR checkout 31756b1
    pip install -e ".[bench]"        # distrax, which PureJaxRL's ppo.py imports
    eggroll-bench bench vs-purejaxrl --purejaxrl DIR [--num-envs 4,16] [--seeds 2] [--steps 500000]

Both train CartPole-v1 with the configuration of the validate suite's PureJaxRL row
(`sweeps/validate_references.toml`, id `purejaxrl/ppo/CartPole-v1`: theirs in their names, ours in
our hyperparameters), 2 x 64 tanh, 128 steps per environment per update, `--seeds` seeds vmapped in
one call, with the number of environments of each row (`--num-envs`; the reference's own is 4).
PureJaxRL's whole training is one jitted `jax.vmap(make_train(config))`, compiled ahead of time and
called once. Ours is `runner.train`, what `eggroll-bench train --algo ppo` runs: with the CLI's
default evaluation cadence (`ours-cli`) and with one evaluation at the start and the end
(`ours-eval-end`: PureJaxRL evaluates nothing, so this is the like-with-like row). run_s is one
call of each (ours: as the runner reports it); contenders alternate, `--repeats` rounds, median.
compile_s is measured in a fresh process per contender (XLA:CPU reuses kernels between programs of
one process), `--compile-repeats` alternated, median.

`final_return` is each contender's own protocol, so it says that both learned, not which learned
more: PureJaxRL's `returned_episode_returns` (training episodes of the sampling policy) averaged
over the last 5% of updates; ours the last evaluation (separate episodes, the task's evaluation
policy).

What is adapted to run their file on this install, and nothing else: gymnax >= 1.0's `step`
returns (obs, state, reward, terminated, truncated, info) where their wrappers unpack the older
(obs, state, reward, done, info); `OldGymnaxStep` hands them done = terminated or truncated (what
the older gymnax's done was). Their `wrappers.py` imports navix at the top for a wrapper this
benchmark does not use; an empty stand-in module is put in its place when navix is not installed.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
import tomllib
import types
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from eggroll_bench.algos import runner
from eggroll_bench.benchmarks import common
from eggroll_bench.benchmarks.options import NEEDS, BenchError

REFERENCE = "purejaxrl/ppo/CartPole-v1"
# The validate suite's table of published runs (package data; sweeps.references validates and loads
# it for `validate`, a layer this one does not import: only the row's two settings are read here).
REFERENCES = Path(__file__).resolve().parents[1] / "sweeps" / "validate_references.toml"
COMMIT = "31756b1"  # the commit the validate row was read from, and this benchmark was run with
CLONE = f"git clone https://github.com/luchris429/purejaxrl DIR && git -C DIR checkout {COMMIT}"
NUM_ENVS, QUICK_NUM_ENVS = (4, 16), (4,)
STEPS, QUICK_STEPS = 500_000, 10_000
EVAL_END = 1 << 30  # eval_every larger than any trial's updates: evaluated at the start and the end only
CONTENDERS = ("purejaxrl", "ours-cli", "ours-eval-end")
LAST_FRACTION = 0.05  # PureJaxRL's final return: its training-episode returns over the last 5% of updates

COLUMNS = ["env", "num_envs", "num_steps", "seeds", "budget", "contender", "updates", "env_steps", "evaluations",
           "run_s", "best_run_s", "steps_per_s", "x_purejaxrl", "x_purejaxrl_best", "compile_s",
           "x_purejaxrl_compile", "final_return", "repeats", "load", "status"]
KEYS = ["env", "num_envs", "num_steps", "seeds", "budget", "contender"]


class OldGymnaxStep:
    """A gymnax >= 1.0 environment whose `step` returns the older 5-tuple, with
    done = terminated or truncated; everything else is the wrapped environment's."""

    def __init__(self, env: Any):
        self._env = env

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), info


def checkout(directory: str | Path) -> Path:
    """The `purejaxrl/` folder of a PureJaxRL checkout, or a clear error saying how to get one."""
    folder = Path(directory) / "purejaxrl"
    missing = [name for name in ("ppo.py", "wrappers.py") if not (folder / name).is_file()]
    if missing:
        raise BenchError(f"--purejaxrl {directory}: no {', '.join('purejaxrl/' + m for m in missing)} there; "
                         f"give a checkout of luchris429/purejaxrl: {CLONE}")
    return folder


def import_distrax() -> None:
    """distrax (PureJaxRL's ppo.py imports it), or a clear error naming the extra that installs it."""
    if importlib.util.find_spec("distrax") is None:
        raise BenchError(f"vs-purejaxrl runs PureJaxRL's ppo.py, which imports distrax, an optional benchmark "
                         f"extra: pip install -e \".[{NEEDS['vs-purejaxrl'][1]}]\"")


def load_make_train(folder: Path):
    """PureJaxRL's `make_train`, its `gymnax.make` handing out `OldGymnaxStep` environments."""
    import gymnax

    sys.modules.setdefault("navix", types.ModuleType("navix"))  # imported by wrappers.py, unused here
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))  # ppo.py does `from wrappers import ...`
    spec = importlib.util.spec_from_file_location("purejaxrl_ppo", folder / "ppo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def make(name: str, **kwargs):
        env, params = gymnax.make(name, **kwargs)
        return OldGymnaxStep(env), params

    module.gymnax = types.SimpleNamespace(make=make)
    return module.make_train


def configurations(num_envs: int, steps: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(task, theirs, ours) of the validate row at `num_envs` environments and `steps` env steps:
    theirs for `make_train`, ours for `runner.train` with the CLI's default evaluation."""
    with REFERENCES.open("rb") as f:
        ref = next(r for r in tomllib.load(f)["reference"] if r["id"] == REFERENCE)
    theirs = {k: v for k, v in ref["config"].items() if k.isupper()}
    theirs.update(ENV_NAME=ref["task"], NUM_ENVS=num_envs, TOTAL_TIMESTEPS=steps, DEBUG=False)
    ours = {k: v for k, v in ref["ours"].items() if not k.startswith("eval_")}
    ours["num_envs"] = num_envs
    return ref["task"], theirs, ours


def seed_keys(seeds: int) -> jax.Array:
    return jax.random.split(jax.random.PRNGKey(0), seeds)


def compile_purejaxrl(folder: Path, num_envs: int, seeds: int, steps: int) -> tuple[Any, float]:
    _, theirs, _ = configurations(num_envs, steps)
    train = jax.jit(jax.vmap(load_make_train(folder)(theirs)))
    start = time.perf_counter()
    compiled = train.lower(seed_keys(seeds)).compile()
    return compiled, time.perf_counter() - start


def run_purejaxrl(compiled: Any, num_envs: int, seeds: int, steps: int) -> dict[str, Any]:
    _, theirs, _ = configurations(num_envs, steps)
    start = time.perf_counter()
    out = common.block(compiled(seed_keys(seeds)))
    run_s = time.perf_counter() - start
    returns = out["metrics"]["returned_episode_returns"]  # (seeds, updates, steps, envs)
    updates = returns.shape[1]
    last = returns[:, -max(1, int(updates * LAST_FRACTION)):]
    return {"updates": updates, "env_steps": updates * theirs["NUM_STEPS"] * num_envs, "evaluations": 0,
            "run_s": run_s, "final_return": float(last.mean())}


def run_ours(contender: str, num_envs: int, seeds: int, steps: int) -> dict[str, Any]:
    """`runner.train` as the CLI calls it; its program is compiled by the first repeat and reused
    (compile seconds are measured apart, in fresh processes), as theirs is compiled once."""
    task, _, ours = configurations(num_envs, steps)
    if contender == "ours-eval-end":
        ours["eval_every"] = EVAL_END
    result = runner.train("ppo", task, list(range(seeds)), ours, steps, progress=False)
    first = result.seeds[0]
    return {"updates": first.updates, "env_steps": first.env_steps, "evaluations": len(first.evals),
            "run_s": result.run_s, "final_return": statistics.mean(s.evals[-1].return_mean for s in result.seeds)}


def compile_seconds(contender: str, folder: str, num_envs: int, seeds: int, steps: int) -> float:
    """Compile seconds of one contender's program in this process (run by `fresh_compile_s`)."""
    if contender == "purejaxrl":
        return compile_purejaxrl(Path(folder), num_envs, seeds, steps)[1]
    task, _, ours = configurations(num_envs, steps)
    if contender == "ours-eval-end":
        ours["eval_every"] = EVAL_END
    config = runner.resolve_group("ppo", task, [ours], steps)[0][0]
    return runner._compile("ppo", task, runner.static_key(config), steps, seeds, None).compile_s


def fresh_compile_s(contender: str, folder: str, num_envs: int, seeds: int, steps: int) -> float:
    spec = (contender, folder, num_envs, seeds, steps)
    return common.in_fresh_process("eggroll_bench.benchmarks.vs_purejaxrl", f"compile_seconds(*{spec!r})")


def measure(folder: Path, num_envs: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    task, theirs, _ = configurations(num_envs, args.steps)
    base = {"env": task, "num_envs": num_envs, "num_steps": theirs["NUM_STEPS"], "seeds": args.seeds,
            "budget": args.steps, "status": "ok"}
    rows = {name: {**base, "contender": name} for name in CONTENDERS}
    compiled = None
    try:  # their file at another commit may not build here: said in its row, ours still measured
        compiled, _ = compile_purejaxrl(folder, num_envs, args.seeds, args.steps)
    except Exception as err:  # noqa: BLE001 - reported in the row
        rows["purejaxrl"]["status"] = common.short_error(err)
    runs = {"purejaxrl": lambda: run_purejaxrl(compiled, num_envs, args.seeds, args.steps),
            "ours-cli": lambda: run_ours("ours-cli", num_envs, args.seeds, args.steps),
            "ours-eval-end": lambda: run_ours("ours-eval-end", num_envs, args.seeds, args.steps)}
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    loads = []
    for _ in range(args.repeats):
        for name, run in runs.items():  # alternated
            if rows[name]["status"] == "ok":
                try:
                    samples[name].append(run())
                except Exception as err:  # noqa: BLE001 - reported in the row
                    rows[name]["status"] = common.short_error(err)
                loads.append(common.load())
    compiles: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for _ in range(args.compile_repeats):
        for name in CONTENDERS:
            if rows[name]["status"] == "ok":
                try:
                    compiles[name].append(fresh_compile_s(name, str(folder), num_envs, args.seeds, args.steps))
                except Exception as err:  # noqa: BLE001 - reported in the row
                    rows[name]["status"] = common.short_error(err)
    for name, got in samples.items():
        if not got:
            continue
        mid = sorted(got, key=lambda s: s["run_s"])[len(got) // 2]
        rows[name].update({k: mid[k] for k in ("updates", "env_steps", "evaluations", "final_return")},
                          run_s=statistics.median(s["run_s"] for s in got), best_run_s=min(s["run_s"] for s in got),
                          repeats=len(got), compile_s=statistics.median(compiles[name]) if compiles[name] else None)
        rows[name]["steps_per_s"] = rows[name]["env_steps"] * args.seeds / rows[name]["run_s"]
    ref = rows["purejaxrl"]
    for row in rows.values():
        row["load"] = round(statistics.median(loads), 2) if loads else common.load()
        for column, ratio in (("run_s", "x_purejaxrl"), ("best_run_s", "x_purejaxrl_best")):
            if row.get(column) and ref.get(column):  # > 1: ours is faster (per env step: same steps)
                row[ratio] = ref[column] / row[column] * row["env_steps"] / ref["env_steps"]
        if row.get("compile_s") and ref.get("compile_s"):
            row["x_purejaxrl_compile"] = row["compile_s"] / ref["compile_s"]
    return list(rows.values())


def run(args: argparse.Namespace) -> int:
    folder = checkout(args.purejaxrl)  # before any work: a missing checkout or extra is named at once
    import_distrax()
    common.header("vs-purejaxrl", args.quick)
    args.steps = args.steps or (QUICK_STEPS if args.quick else STEPS)
    args.repeats = args.repeats or (1 if args.quick else 3)
    rows: list[dict[str, Any]] = []
    show = ["num_envs", "contender", "env_steps", "evaluations", "run_s", "x_purejaxrl", "x_purejaxrl_best",
            "compile_s", "x_purejaxrl_compile", "final_return", "load", "status"]
    for num_envs in args.num_envs or (QUICK_NUM_ENVS if args.quick else NUM_ENVS):
        new = measure(folder, num_envs, args)
        rows += new
        common.print_table(new, show, f"CartPole-v1  {num_envs} envs x 128 steps  {args.seeds} seeds  "
                                      f"{args.steps:,} env steps")
    path = common.write_csv(rows, Path(args.out) / "vs_purejaxrl.csv", COLUMNS, KEYS if args.append else None)
    print(f"\nwrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run_main("vs-purejaxrl", run, argv)


if __name__ == "__main__":
    sys.exit(main())
