"""Command-line options of every benchmark, kept free of JAX so `eggroll-bench --help` stays fast.

Each benchmark's `main(argv)`, `python -m eggroll_bench.benchmarks NAME` and the `eggroll-bench bench NAME`
subcommand build their parsers from the same functions here, so every entry point accepts exactly
the same options and refuses bad input the same way (`BenchError`, exit status 2).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Callable

from eggroll_bench.algos.config import ACTIVATIONS

DEFAULT_OUT = "results/bench"
NAMES = ("generation", "update", "memory", "compile", "ppo", "ceiling", "paper-throughput", "grouped", "vs-evosax",
         "vs-purejaxrl", "determinism")
# benchmarks that need an optional extra: (module they import, the extra that installs it)
NEEDS = {"vs-evosax": ("evosax", "bench"), "vs-purejaxrl": ("distrax", "bench")}
# benchmarks that need something `bench all` cannot pass them: the option that names it
NEEDS_OPTION = {"vs-purejaxrl": "--purejaxrl DIR (a checkout of luchris429/purejaxrl)"}

DESCRIPTIONS = {
    "generation": "env steps/s of population rollouts and full generations: inference vs EGGROLL vs OpenES",
    "update": "ES update alone (noise regeneration + gradient contraction) vs one population forward step",
    "memory": "compiled peak memory of one generation, EGGROLL vs OpenES, over population and width",
    "compile": "compile time of one training trial per algorithm (the runner's compiled functions)",
    "ppo": "PPO env steps/s over the number of parallel environments",
    "ceiling": "our ES generation, inference rollout and PPO update as ratios to a bare lax.scan of the raw library step",
    "paper-throughput": "the paper's one-layer throughput experiment: inference vs EGGROLL vs OpenES vs PPO, tokens/s",
    "grouped": "a grid of configurations trained in one compile (train_group) vs one trial at a time",
    "vs-evosax": "our OpenES (one generation, and through the runner as the CLI trains) vs evosax 0.3.2's Open_ES "
                 "on the same work: generations/s and compile seconds",
    "vs-purejaxrl": "our PPO (through the runner as the CLI trains) vs PureJaxRL's ppo.py on CartPole-v1 at the "
                    "validate row's configuration: env steps/s and compile seconds",
    "determinism": "one trial trained several times, each in a fresh process, under XLA's default, deterministic "
                   "and no-autotune flags: are the returns the same bits every run?",
}
# the XLA flags each `determinism` variant adds to XLA_FLAGS (GPU flags: a CPU ignores them)
VARIANT_FLAGS = {"default": "", "deterministic": "--xla_gpu_deterministic_ops=true",
                 "no-autotune": "--xla_gpu_autotune_level=0"}


def module_name(name: str) -> str:
    """The module of benchmark `name` (a command may hold a dash, a module name cannot)."""
    return name.replace("-", "_")


class BenchError(ValueError):
    """Bad benchmark input (an unwritable --out, an unknown task, an empty grid...)."""


def check_out(out: str | Path) -> Path:
    """The output directory, created if needed; refused with a clear message when unusable."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise BenchError(f"--out {out}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BenchError(f"--out {out}: cannot create the directory ({err.strerror})") from None
    if not os.access(path, os.W_OK):
        raise BenchError(f"--out {out}: directory is not writable")
    return path


def es_algos(names: list[str] | None) -> list[str]:
    """The ES algorithms asked for with --algos (default both), refusing any other name."""
    names = names or ["eggroll", "openes"]
    unknown = [n for n in names if n not in ("eggroll", "openes")]
    if unknown:
        raise BenchError(f"--algos: unknown ES algorithm {unknown[0]!r}; allowed: eggroll, openes")
    return names


def _ints_from(text: str, low: int) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < low for v in values):
        kind = "positive integers" if low == 1 else f"integers >= {low}"
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}")
    return values


def _positive_ints(text: str) -> list[int]:
    return _ints_from(text, 1)


def _counts(text: str) -> list[int]:
    return _ints_from(text, 0)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _strs(text: str) -> list[str]:
    values = [x.strip() for x in text.split(",") if x.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return values


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="CI-sized grid (seconds to a minute on 2 CPU cores)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"where the CSVs go (default {DEFAULT_OUT})")
    p.add_argument("--repeats", type=_positive_int, default=None,
                   help="timed repeats per variant, median reported (default 5, --quick 3)")
    p.add_argument("--append", action="store_true",
                   help="keep the CSV's other rows (rows of the configurations measured now are replaced)")


def _network(p: argparse.ArgumentParser) -> None:
    p.add_argument("--widths", type=_positive_ints, default=None, metavar="W,W",
                   help="hidden widths (default: by backend)")
    p.add_argument("--pops", type=_positive_ints, default=None, metavar="N,N",
                   help="population sizes (default: by backend)")
    p.add_argument("--depth", type=_positive_int, default=2,
                   help="hidden layers (default 2, the project default and sweeps/scaling.toml's; paper: 3)")
    p.add_argument("--activation", default="tanh", choices=ACTIVATIONS,
                   help="activation (default tanh; paper: pqn = LayerNorm then ReLU)")
    p.add_argument("--no-ynn", action="store_true",
                   help="compile with XLA:CPU's YNNPACK fusions off (xla_cpu_experimental_ynn_fusion_type=''); "
                        "see benchmarks/README.md")


def _es_variants(p: argparse.ArgumentParser, algos_help: str) -> None:
    p.add_argument("--ranks", type=_positive_ints, default=None, metavar="R,R",
                   help="EGGROLL ranks (default 1,4; --quick 1)")
    p.add_argument("--algos", type=_strs, default=None, metavar="A,A", help=algos_help)


def _max_gb(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-gb", type=float, default=None,
                   help="skip a variant whose compiled footprint exceeds this (default: half the free RAM on CPU)")


def _generation(p: argparse.ArgumentParser) -> None:
    _network(p)
    p.add_argument("--envs", type=_strs, default=None, metavar="TASK,TASK",
                   help="tasks (default: CartPole-v1 and inverted_double_pendulum; --quick: CartPole-v1)")
    _es_variants(p, "ES algorithms beside pure inference (default eggroll,openes; OpenES is the slow one)")
    p.add_argument("--horizon", type=_positive_int, default=None,
                   help="steps per member per generation (default 64 on CPU, 256 on GPU, 8 with --quick)")
    p.add_argument("--no-full", action="store_true", help="skip the full-generation (rollout + update) variants")
    _max_gb(p)
    p.add_argument("--inference-csv", default=None, metavar="PATH",
                   help="where the pure-inference ceiling goes (default OUT/inference.csv)")


def _update(p: argparse.ArgumentParser) -> None:
    _network(p)
    _es_variants(p, "ES algorithms (default eggroll,openes)")
    p.add_argument("--episode-steps", type=_positive_int, default=500,
                   help="steps per member per generation for the update's share (default 500, CartPole's limit)")
    _max_gb(p)


def _memory(p: argparse.ArgumentParser) -> None:
    _network(p)
    p.add_argument("--rank", type=_positive_int, default=1, help="EGGROLL rank (default 1)")
    p.add_argument("--horizon", type=_positive_int, default=16, help="steps per member of the compiled generation")


def _compile(p: argparse.ArgumentParser) -> None:
    p.add_argument("--envs", type=_strs, default=None, metavar="TASK,TASK",
                   help="tasks (default: CartPole-v1 and hopper; --quick: CartPole-v1)")
    p.add_argument("--algos", type=_strs, default=None, metavar="A,A", help="algorithms (default eggroll,openes,ppo)")
    p.add_argument("--presets", type=_strs, default=None, metavar="P,P",
                   help="networks: tiny (2x16 tanh), default (2x64 tanh), paper (3x256 pqn); default: default")


def _ppo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--envs", type=_strs, default=None, metavar="TASK,TASK",
                   help="tasks (default: CartPole-v1 and hopper; --quick: CartPole-v1)")
    p.add_argument("--num-envs", type=_positive_ints, default=None, metavar="N,N",
                   help="parallel environments (default: by backend)")
    p.add_argument("--num-steps", type=_positive_int, default=None,
                   help="steps per environment per update (default: the task's PPO default, 128)")
    p.add_argument("--hidden", type=_positive_int, default=None, help="hidden width (default: the PPO default, 64)")
    p.add_argument("--reset-pool", type=_counts, default=[0], metavar="K,K",
                   help="PPO's reset_pool values to time side by side (default 0: exact auto-reset; K: K fresh "
                        "starts per step shared by the environments that ended)")


def _sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for item in _strs(text):
        parts = item.lower().split("x")
        try:
            pop, width = (int(x) for x in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected POPxWIDTH pairs such as 64x64,256x256, got {item!r}") from None
        if pop < 1 or width < 1:
            raise argparse.ArgumentTypeError(f"expected positive POPxWIDTH pairs, got {item!r}")
        out.append((pop, width))
    return out


CEILING_VARIANTS = ("inference", "es-generation", "es-live", "ppo-update")


def ceiling_variants(names: list[str] | None) -> list[str]:
    """The variants asked for with --variants (default all), refusing any other name."""
    names = names or list(CEILING_VARIANTS)
    unknown = [n for n in names if n not in CEILING_VARIANTS]
    if unknown:
        raise BenchError(f"--variants: unknown variant {unknown[0]!r}; allowed: {', '.join(CEILING_VARIANTS)}")
    return names


def _ceiling(p: argparse.ArgumentParser) -> None:
    p.add_argument("--envs", type=_strs, default=None, metavar="TASK,TASK",
                   help="gymnax or brax tasks (default: CartPole-v1, Breakout-MinAtar, Pendulum-v1, "
                        "inverted_double_pendulum; --quick: CartPole-v1)")
    p.add_argument("--sizes", type=_sizes, default=None, metavar="PxW,PxW",
                   help="population x hidden width pairs (default CPU 64x64,256x256,1024x1024; --quick 8x8)")
    p.add_argument("--depth", type=_positive_int, default=2, help="hidden layers (default 2, the project default)")
    p.add_argument("--activation", default="tanh", choices=ACTIVATIONS, help="activation (default tanh)")
    p.add_argument("--horizon", type=_positive_int, default=None,
                   help="steps of the bare loop and the fixed-horizon variants (default 64 on CPU, 256 on GPU, 8 --quick)")
    p.add_argument("--variants", type=_strs, default=None, metavar="V,V",
                   help=f"compared with the bare loop (always run): any of {', '.join(CEILING_VARIANTS)} (default all)")
    p.add_argument("--no-ynn", action="store_true",
                   help="compile with XLA:CPU's YNNPACK fusions off (see benchmarks/README.md)")


def _paper_throughput(p: argparse.ArgumentParser) -> None:
    p.add_argument("--width", type=_positive_int, default=None,
                   help="the square layer's width (paper: 8192; default 1024 on CPU, 8192 on GPU, 256 --quick)")
    p.add_argument("--pop", type=_positive_int, default=None,
                   help="population members = tokens per call, one each (default 1024 on CPU, 4096 on GPU, 64 --quick)")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16"),
                   help="auto: bfloat16 on GPU/TPU, float32 on CPU (see the module docstring)")
    p.add_argument("--no-plot", action="store_true", help="write the CSV only")
    p.add_argument("--no-ynn", action="store_true",
                   help="compile with XLA:CPU's YNNPACK fusions off (see benchmarks/README.md)")


def _grouped(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default="CartPole-v1", help="task (default CartPole-v1)")
    p.add_argument("--algos", type=_strs, default=None, metavar="A,A", help="algorithms (default eggroll,openes,ppo)")
    p.add_argument("--configs", type=_positive_int, default=None,
                   help="configurations per algorithm, from a 4x4 grid (default 16; --quick 2)")
    p.add_argument("--seeds", type=_positive_int, default=2, help="seeds per configuration (default 2)")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help="env-step budget per seed (default 40,000; --quick 2,000)")
    p.add_argument("--width", type=_positive_int, default=None,
                   help="hidden width of every algorithm's network (default 16)")
    p.add_argument("--pop", type=_positive_int, default=None, help="ES population (default 16)")


def _compile_repeats(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compile-repeats", type=_positive_int, default=1,
                   help="compiles per contender and row, each in a fresh process, alternated, median (default 1)")


def _vs_evosax(p: argparse.ArgumentParser) -> None:
    p.add_argument("--widths", type=_positive_ints, default=None, metavar="W,W",
                   help="hidden widths of the generation rows (default 64,256,1024; --quick 16)")
    p.add_argument("--pops", type=_positive_ints, default=None, metavar="N,N",
                   help="populations of the generation rows (default 64,256,1024; --quick 8)")
    p.add_argument("--depth", type=_positive_int, default=2, help="hidden layers (default 2)")
    p.add_argument("--horizon", type=_positive_int, default=None,
                   help="steps per member of a generation row (default 64; --quick 8)")
    _compile_repeats(p)
    p.add_argument("--compile-here", action="store_true",
                   help="compile in this process (fast, for tests; XLA reuses kernels between programs, so the "
                        "compile seconds of later contenders come out low)")
    p.add_argument("--no-generation", action="store_true", help="only the trial rows")
    p.add_argument("--trial-sizes", type=_sizes, default=None, metavar="PxW,PxW",
                   help="population x width of the trial rows (default 64x64,256x256; --quick 8x16)")
    p.add_argument("--no-trials", dest="trial_sizes", action="store_const", const=[], help="only the generation rows")
    p.add_argument("--trial-steps", type=_positive_int, default=None,
                   help="env-step budget of a trial row (default: the task's CLI budget, 2,000,000; --quick 4,000)")
    p.add_argument("--trial-repeats", type=_positive_int, default=None,
                   help="trials per contender, alternated, median reported (default 3; --quick 1)")
    _max_gb(p)


def _vs_purejaxrl(p: argparse.ArgumentParser) -> None:
    p.add_argument("--purejaxrl", required=True, metavar="DIR",
                   help="a checkout of luchris429/purejaxrl (commit 31756b1 measured): its purejaxrl/ppo.py is run")
    p.add_argument("--num-envs", type=_positive_ints, default=None, metavar="N,N",
                   help="parallel environments, one row each (default 4,16; --quick 4)")
    p.add_argument("--seeds", type=_positive_int, default=2, help="seeds vmapped in one call (default 2)")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help="env steps per seed (default 500,000, the reference's budget; --quick 10,000)")
    _compile_repeats(p)


def _variants(text: str) -> list[str]:
    names = _strs(text)
    unknown = [n for n in names if n not in VARIANT_FLAGS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown variant {unknown[0]!r}; allowed: {', '.join(VARIANT_FLAGS)}")
    return names


def _determinism(p: argparse.ArgumentParser) -> None:
    p.add_argument("--algo", default="ppo", choices=("eggroll", "openes", "ppo"), help="algorithm (default ppo)")
    p.add_argument("--env", default="CartPole-v1", help="task (default CartPole-v1)")
    p.add_argument("--seeds", default="0,1", help="seeds of each run, as `train --seeds` takes them (default 0,1)")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help="env-step budget per seed (default: the task's quick budget, as the quick sweep; --quick 4,000)")
    p.add_argument("--runs", type=_positive_int, default=2, help="runs per variant, one after another (default 2)")
    p.add_argument("--variants", type=_variants, default=list(VARIANT_FLAGS), metavar="V,V",
                   help=f"XLA flag settings, any of {', '.join(VARIANT_FLAGS)} (default all)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="hyperparameters passed to `eggroll-bench train --set`, several after one --set or one per "
                        "--set (e.g. eval_every=5 eval_episodes=32)")


EXTRA: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "generation": _generation, "update": _update, "memory": _memory, "compile": _compile, "ppo": _ppo,
    "ceiling": _ceiling, "paper-throughput": _paper_throughput, "grouped": _grouped, "vs-evosax": _vs_evosax,
    "vs-purejaxrl": _vs_purejaxrl, "determinism": _determinism,
}


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    add_common(p)
    EXTRA[name](p)


def parser(name: str, prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog or f"python -m eggroll_bench.benchmarks.{module_name(name)}",
                                description=DESCRIPTIONS[name])
    add_arguments(name, p)
    return p
