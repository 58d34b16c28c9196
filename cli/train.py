"""`eggroll-bench train`: one trial set (one configuration, several seeds) from the command line.

    eggroll-bench train --algo eggroll --env CartPole-v1 --seeds 3 --steps 500000 \
        --set pop_size=128 --set sigma=0.1 --out results/my-run
"""
from __future__ import annotations

import argparse
import sys

from eggroll_bench.algos.config import ConfigError
from eggroll_bench.algos.registry import algorithm_names, field_names


def parse_sets(pairs: list[str]) -> dict[str, str]:
    """`key=value` strings -> dict; values are typed later by the config (which names the field)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{SET_USAGE}, got {pair!r}")
        out[key.strip()] = value
    return out


SET_USAGE = "--set expects KEY=VALUE, e.g. --set lr=0.01"


class SetAction(argparse.Action):
    """`--set KEY=VALUE`, refused at parse time when the `=` is missing. Otherwise `--set lr 0.01`
    would take `lr` as the pair and leave `0.01` to the top-level parser as an unexplained
    unrecognised argument."""

    def __call__(self, parser, namespace, value, option_string=None):
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            parser.error(f"{SET_USAGE} (got {option_string} {value}: no '=')")
        if not rest:
            parser.error(f"{SET_USAGE} (got {option_string} {value}: no value after '=')")
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), value])  # never the default list


def parse_seeds(text: str) -> list[int]:
    """`3` -> seeds 0,1,2; `0,5,9` -> those seeds."""
    try:
        if "," in text:
            return [int(s) for s in text.split(",") if s.strip()]
        count = int(text)
    except ValueError:
        raise ConfigError(f"--seeds: expected a count (e.g. 3) or a list (e.g. 0,5,9), got {text!r}") from None
    if count < 1:
        raise ConfigError(f"--seeds must be >= 1, got {count}")
    return list(range(count))


def add_compile_cache_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compile-cache", metavar="DIR", default=None,
                   help="JAX's persistent compilation cache: a trial compiled once is loaded from DIR by later "
                        "runs and processes (default: $EGGROLL_BENCH_COMPILE_CACHE, else "
                        "$XDG_CACHE_HOME/eggroll-bench/jax or ~/.cache/eggroll-bench/jax)")
    p.add_argument("--no-compile-cache", action="store_true", help="compile every trial afresh")


def apply_compile_cache(command: str, args: argparse.Namespace) -> int | None:
    """Export the compile-cache choice for this process and its trial processes; 2 on a bad choice."""
    from eggroll_bench.algos.compile_cache import choose

    try:
        choose(args.compile_cache, args.no_compile_cache)
    except ValueError as err:
        print(f"eggroll-bench {command}: error: {err}", file=sys.stderr)
        return 2
    return None


def run(args: argparse.Namespace) -> int:
    if (code := apply_compile_cache("train", args)) is not None:
        return code
    from eggroll_bench.algos.runner import train
    from eggroll_bench.envs.registry import MissingExtraError

    try:
        seeds = parse_seeds(args.seeds)
        overrides = parse_sets(args.set)
        if args.steps is not None and args.steps <= 0:
            raise ConfigError(f"--steps must be a positive env-step count, got {args.steps}")
        result = train(args.algo, args.env, seeds, overrides, args.steps, progress=not args.quiet)
    except (ConfigError, KeyError, MissingExtraError) as err:
        print(f"eggroll-bench train: error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2

    for s in result.seeds:
        final = s.final
        ret = f"{final.return_mean:.2f} ± {final.return_std:.2f}" if final else "n/a"
        extra = f"  ({s.error})" if s.error else ""
        print(f"seed {s.seed}: {s.status}  return {ret}  env_steps {s.env_steps:,}  updates {s.updates}{extra}")
    finals = [s.final.return_mean for s in result.seeds if s.final]
    mean = sum(finals) / len(finals) if finals else float("nan")
    print(f"{result.algo} on {result.env}: final return {mean:.2f} (mean of {len(finals)} seeds) | "
          f"compile {result.compile_s:.1f}s, run {result.run_s:.1f}s, {result.steps_per_s:,.0f} env steps/s "
          f"on {result.device}")
    if args.out:
        from eggroll_bench.sweeps.store import record_result

        trial = record_result(args.out, result, sweep="train")
        print(f"wrote trial {trial} to {args.out}/results.csv")
    return 0 if all(s.status == "done" for s in result.seeds) else 1


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train one algorithm on one task for several seeds",
        description="Train one configuration for several seeds in one compiled call. "
                    "Hyperparameters: " + "; ".join(f"{a}: {', '.join(field_names(a))}" for a in algorithm_names()),
    )
    p.add_argument("--algo", required=True, choices=algorithm_names())
    p.add_argument("--env", required=True, help="a registered task (see `eggroll-bench envs`)")
    p.add_argument("--seeds", default="1", help="number of seeds (0..S-1) or a comma list (default 1)")
    p.add_argument("--steps", type=int, default=None, help="env-step budget per seed (default: the task's quick budget)")
    p.add_argument("--set", action=SetAction, default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter (repeatable), e.g. --set lr=0.01")
    p.add_argument("--out", help="append result rows to DIR/results.csv")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_compile_cache_flags(p)
    p.set_defaults(func=run)
