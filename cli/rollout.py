"""`eggroll-bench rollout DIR --trial ID`: re-evaluate a saved policy and draw one of its episodes.

    eggroll-bench rollout results/mine --trial 22a4e141c9b5 --seed 0 --episodes 32 --out cartpole.gif

The returns follow training's evaluation protocol (`algos.rollout.run_episodes`: fresh episodes,
the evaluation policy's greedy / mean actions, the team return for multi-agent tasks). The
episode is drawn by the environment library's renderer (`envs.render`): a GIF for gymnax classic
control and MinAtar and for MPE, an HTML page for brax. A task nothing can draw gets its returns
and a line saying so (exit status 0). The plugin modules the policy was trained with (its
sidecar's `plugins`) are imported first. Exit status 2, with one message: no such policy, a bad
argument, or a policy this installation cannot rebuild (its plugin module cannot be imported, its
algorithm is not registered, a hyperparameter this version no longer has, its task or the task's
library missing).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _error(message: str) -> int:
    print(f"eggroll-bench rollout: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if args.episodes is not None and args.episodes < 1:
        return _error(f"--episodes must be >= 1, got {args.episodes}")
    if args.max_frames is not None and args.max_frames < 1:
        return _error(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.out is not None and Path(args.out).suffix.lower() not in (".gif", ".html"):
        return _error(f"--out {args.out}: the file must end in .gif (gymnax, MPE) or .html (brax)")

    import jax
    import numpy as np

    from eggroll_bench.algos.policy import PolicyError, load_policy
    from eggroll_bench.algos.rollout import run_episodes
    from eggroll_bench.envs.render import no_renderer_reason, record_episode, render, renderer, rollout_keys

    from eggroll_bench.plugins import search_current_directory

    search_current_directory()  # the plugin modules the sidecar names are loaded as --import would
    try:
        policy = load_policy(args.results_dir, args.trial, args.seed)
    except PolicyError as err:
        return _error(str(err))
    meta, env = policy.meta, policy.algorithm.env
    seed = int(meta["seed"])
    episodes = args.episodes or int(meta["hparams"].get("eval_episodes", 16))
    kind = renderer(env)
    target = None
    if kind is not None and not args.no_render:
        target = Path(args.out) if args.out else \
            Path(args.results_dir) / "renders" / f"{args.trial}_seed{seed}.{kind}"
        if target.suffix.lower() != f".{kind}":
            return _error(f"--out {target}: {meta['env']} renders as .{kind}")

    eval_key, render_key = rollout_keys(args.key)
    returns = np.asarray(jax.jit(lambda k: run_episodes(env, policy.act, k, episodes).returns)(eval_key))
    print(f"{meta['algo']} on {meta['env']} [trial {args.trial}, seed {seed}, {meta['env_steps']:,} env steps]: "
          f"return {returns.mean():.2f} ± {returns.std():.2f} over {episodes} episodes "
          f"(min {returns.min():.2f}, max {returns.max():.2f}; at training's end: "
          f"{meta['final_return'] if meta.get('final_return') is not None else 'n/a'})")
    if args.no_render:
        return 0
    if kind is None:
        print(f"no renderer: {no_renderer_reason(env)}; returns only")
        return 0
    episode = record_episode(env, policy.act, render_key, args.max_frames)
    render(env, episode, target)
    print(f"rendered one episode ({episode.length} frames, return {episode.episode_return:.2f}) -> {target}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "rollout", help="re-evaluate a saved policy and render one episode",
        description="Load the policy a trial saved (DIR/policies/<trial>/seed_<s>), print its returns over fresh "
                    "episodes with training's evaluation protocol, and draw one episode with the task library's "
                    "renderer (GIF for gymnax and MPE, HTML for brax).")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="the directory `train --out` or a sweep wrote")
    p.add_argument("--trial", required=True, metavar="ID", help="the trial id (as in results.csv)")
    p.add_argument("--seed", type=int, default=None, help="which seed's policy (default: the lowest saved)")
    p.add_argument("--episodes", type=int, default=None, metavar="K",
                   help="evaluation episodes (default: the trial's eval_episodes)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="where to draw the episode (.gif or .html; default RESULTS_DIR/renders/<trial>_seed<s>.<ext>)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="draw at most N steps of the episode (default: the whole episode)")
    p.add_argument("--key", type=int, default=0, help="PRNG seed of the evaluation and rendered episodes (default 0)")
    p.add_argument("--no-render", action="store_true", help="print the returns only")
    p.set_defaults(func=run)
