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


def add_after_training_flags(p: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """--no-save, --checkpoint-every and --log, shared by `train` and `sweep`."""
    from eggroll_bench.sweeps.trackers import TRACKERS

    where = "the sweep's directory" if sweep else "--out DIR"
    p.add_argument("--no-save", action="store_true",
                   help=f"do not save each seed's final policy under {where}/policies/ (saved by default)")
    p.add_argument("--checkpoint-every", type=float, default=None, metavar="MINUTES",
                   help=f"checkpoint a running trial's whole training state under {where}/checkpoints/ every "
                        f"MINUTES of run time (default 10; 0: after every evaluation); a killed trial resumes "
                        f"from it when the same command runs again")
    p.add_argument("--log", choices=TRACKERS, default=None,
                   help=f"also log every trial's evaluation points and timings to wandb (offline unless "
                        f"WANDB_MODE says otherwise) or TensorBoard, under {where} (needs the [log] extra)")
    add_mixed_versions_flag(p)


def add_mixed_versions_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-mixed-versions", action="store_true",
                   help="go on in a results directory whose finished trials or checkpoints another eggroll-bench "
                        "(version, git commit, uncommitted changes) or library version produced (default: a sweep "
                        "lists them and refuses; a checkpoint of another version is not resumed from)")


def checkpoint_seconds(args: argparse.Namespace, default_minutes: float | None = None) -> float:
    """--checkpoint-every in seconds (ConfigError naming the flag when it is not a number >= 0)."""
    from eggroll_bench.algos.checkpoint import DEFAULT_CHECKPOINT_MINUTES, checkpoint_minutes

    value = args.checkpoint_every
    if value is None:
        value = DEFAULT_CHECKPOINT_MINUTES if default_minutes is None else default_minutes
    try:
        return checkpoint_minutes(value) * 60
    except ValueError as err:
        raise ConfigError(str(err)) from None


def run(args: argparse.Namespace) -> int:
    if (code := apply_compile_cache("train", args)) is not None:
        return code
    from eggroll_bench.algos.checkpoint import TrialArtifacts, discard_checkpoint
    from eggroll_bench.algos.config import as_dict
    from eggroll_bench.algos.registry import resolve
    from eggroll_bench.algos.runner import train
    from eggroll_bench.envs.registry import MissingExtraError, get_task
    from eggroll_bench.sweeps.store import StoreError, read_manifest, trial_id
    from eggroll_bench.sweeps.trackers import TrackerError, make_tracker

    hooks = tracker = None
    try:
        seeds = parse_seeds(args.seeds)
        overrides = parse_sets(args.set)
        if args.steps is not None and args.steps <= 0:
            raise ConfigError(f"--steps must be a positive env-step count, got {args.steps}")
        every_s = checkpoint_seconds(args)
        if args.out:
            manifest = read_manifest(args.out)
            if manifest is not None and manifest["name"] != "train":
                raise StoreError(f"{args.out} belongs to sweep {manifest['name']!r}; write lone runs elsewhere")
            task = get_task(args.env)
            config = resolve(args.algo, task.defaults, overrides)
            tid = trial_id(args.algo, args.env, int(args.steps or task.budget_quick), as_dict(config))
            hooks = TrialArtifacts(args.out, (tid,), save_policies=not args.no_save, checkpoint_every_s=every_s,
                                   allow_mixed_versions=args.allow_mixed_versions)
        if args.log and not args.out:
            raise ConfigError(f"--log {args.log} needs --out DIR: the tracker's files are written there")
        tracker = make_tracker(args.log, args.out) if args.log else None
        result = train(args.algo, args.env, seeds, overrides, args.steps, progress=not args.quiet, hooks=hooks,
                       shard=False if args.no_shard else None)
    except (ConfigError, KeyError, MissingExtraError, StoreError, TrackerError) as err:
        print(f"eggroll-bench train: error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(args, hooks)

    for s in result.seeds:
        final = s.final
        ret = f"{final.return_mean:.2f} ± {final.return_std:.2f}" if final else "n/a"
        extra = f"  ({s.error})" if s.error else ""
        print(f"seed {s.seed}: {s.status}  return {ret}  env_steps {s.env_steps:,}  updates {s.updates}{extra}")
    finals = [s.final.return_mean for s in result.seeds if s.final]
    mean = sum(finals) / len(finals) if finals else float("nan")
    seeds = f"{len(finals)} seed" + ("s" if len(finals) != 1 else "")
    print(f"{result.algo} on {result.env}: final return {mean:.2f} (mean of {seeds}) | "
          f"compile {result.compile_s:.1f}s, run {result.run_s:.1f}s, {result.steps_per_s:,.0f} env steps/s "
          f"on {result.device}")
    if args.out:
        from eggroll_bench.sweeps.store import record_result

        trial = record_result(args.out, result, sweep="train", trial=hooks.trial_ids[0])
        discard_checkpoint(args.out, trial)  # the rows are written: this trial never resumes again
        print(f"wrote trial {trial} to {args.out}/results.csv")
        if hooks.saved:
            sizes = sorted({size for _, _, size in hooks.saved})
            print(f"saved {len(hooks.saved)} policies to {args.out}/policies/{trial}/ "
                  f"({', '.join(f'{b:,}' for b in sizes)} bytes each); watch one: "
                  f"eggroll-bench rollout {args.out} --trial {trial}")
        if tracker is not None:
            tracker.log_trial(result, trial, "train")
            print(f"logged trial {trial} to {args.log}")
    return 0 if all(s.status == "done" for s in result.seeds) else 1


def _interrupted(args: argparse.Namespace, hooks) -> int:
    """Ctrl-C: keep what can be kept and say where it is, instead of a traceback."""
    if hooks is None:
        print("\ninterrupted: nothing was written (no --out)", file=sys.stderr)
        return 130
    path = hooks.write_checkpoint()
    if path is None:
        print(f"\ninterrupted before the first evaluation: nothing was written to {args.out}", file=sys.stderr)
        return 130
    print(f"\ninterrupted: the training state of every seed is kept in {path}; run the same command again to "
          f"resume from it", file=sys.stderr)
    from eggroll_bench.algos.config import as_dict
    from eggroll_bench.algos.registry import resolve
    from eggroll_bench.envs.registry import get_task
    from eggroll_bench.sweeps.store import ResultsStore, rows_from_result

    task = get_task(args.env)
    config = resolve(args.algo, task.defaults, parse_sets(args.set))
    partial = hooks.partial_result(args.algo, args.env, as_dict(config), int(args.steps or task.budget_quick))
    store = ResultsStore(args.out)
    tid = hooks.trial_ids[0]
    finished = store.finished().get(tid, {}) if store.path.exists() else {}
    # evaluation rows only, and never over a seed this directory already holds finished: an
    # interrupted trial has no final rows, so every later run and sweep still counts it as pending
    rows = [r for r in rows_from_result(partial, sweep="train", trial_id=tid, suite=task.suite,
                                        random_return=task.random_return)
            if r["row_type"] == "eval" and int(r["seed"]) not in finished]
    if rows:
        store.append(rows)
        store.export_csv()
        print(f"wrote the {len(rows)} evaluation points finished so far (status 'interrupted', no final rows) to "
              f"{args.out}/results.csv", file=sys.stderr)
    return 130


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
    p.add_argument("--out", help="append result rows to DIR/results.csv and save each seed's final policy "
                                 "under DIR/policies/ (nothing is written without it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-shard", action="store_true",
                   help="with several devices visible, keep the trial on one (default: the ES population / PPO "
                        "environments are split over all of them)")
    add_after_training_flags(p)
    add_compile_cache_flags(p)
    p.set_defaults(func=run)
