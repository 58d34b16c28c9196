"""One drawn episode of the best saved policy per task, for the report page.

Per task, the best policy is the summary's row (`plots.summary.summary_table`: the configuration
each algorithm's figures show) with the highest mean final return, and of that trial's saved seeds
the one with the highest final return. Its episode is recorded and drawn exactly as
`eggroll-bench rollout DIR --trial ID --seed S --max-frames N` draws it (the same key, 0), so the
command reproduces the page's GIF. A task that cannot be drawn gets the reason instead: nothing
can draw the task, the sweep saved no policy, the policy cannot be rebuilt here, or the task's
renderer writes an HTML viewer (brax) that a self-contained page cannot embed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eggroll_bench.plots.summary import summary_table
from eggroll_bench.plots.tidy import Tables

MAX_FRAMES = 150  # a GIF of a whole 500-step CartPole episode is several MB; the page stays small
ROLLOUT_KEY = 0  # `eggroll-bench rollout --key`'s default: the same episode as the command draws


@dataclass(frozen=True)
class Rollout:
    env: str
    algo: str
    trial_id: str
    seed: int | None  # the seed drawn (None when no policy was saved)
    gif: Path | None  # the drawn episode, or None with `why`
    why: str = ""
    frames: int = 0  # frames drawn
    episode_return: float = float("nan")  # the return over the frames drawn
    max_frames: int = MAX_FRAMES

    def command(self, results_dir: str) -> str:
        """The `rollout` command that draws the same episode (and prints the policy's returns)."""
        seed = f" --seed {self.seed}" if self.seed is not None else ""
        return f"eggroll-bench rollout {results_dir} --trial {self.trial_id}{seed} --max-frames {self.max_frames}"


def best_trials(tables: Tables) -> pd.DataFrame:
    """Per task, the summary row with the highest mean final return (ties: the summary's order)."""
    table = summary_table(tables)
    table = table[np.isfinite(table["return_mean"].astype(float))]
    best = table.loc[table.groupby("env", sort=False)["return_mean"].idxmax()]
    return best[["env", "algo", "trial_id"]].reset_index(drop=True)


def best_seed(tables: Tables, trial_id: str, seeds: list[int]) -> int:
    """Of `seeds` (those saved), the one with the highest final return."""
    finals = tables.finals[tables.finals["trial_id"] == trial_id].set_index("seed")["final_return"]
    return max(seeds, key=lambda s: (np.nan_to_num(finals.get(s, np.nan), nan=-np.inf), -s))


def draw_best(results_dir: Path, tables: Tables, out_dir: Path, max_frames: int = MAX_FRAMES) -> list[Rollout]:
    """Draw one episode of each task's best saved policy into `out_dir/<task>.gif`."""
    return [_draw(results_dir, tables, r["env"], r["algo"], r["trial_id"], out_dir, max_frames)
            for _, r in best_trials(tables).iterrows()]


def _draw(results_dir: Path, tables: Tables, env_name: str, algo: str, trial_id: str, out_dir: Path,
          max_frames: int) -> Rollout:
    from eggroll_bench.algos.policy import PolicyError, load_policy, saved_seeds
    from eggroll_bench.envs.registry import MissingExtraError, make
    from eggroll_bench.envs.render import no_renderer_reason, record_episode, render, renderer, rollout_keys

    def skipped(why: str, seed: int | None = None) -> Rollout:
        return Rollout(env_name, algo, trial_id, seed, None, why, max_frames=max_frames)

    try:
        env = make(env_name)
    except (KeyError, MissingExtraError) as err:
        return skipped(f"the task cannot be built here: {err.args[0] if err.args else err}")
    kind = renderer(env)
    if kind is None:
        return skipped(f"nothing can draw it ({no_renderer_reason(env)})")
    if kind != "gif":
        return skipped(f"its renderer writes an interactive {kind} viewer that loads its scripts from the "
                       "network, so it is not embedded in this self-contained page")
    seeds = saved_seeds(results_dir, trial_id)
    if not seeds:
        return skipped("no saved policy for this trial (the sweep ran with save_policies = false, or its "
                       "policies/ folder was not kept)")
    seed = best_seed(tables, trial_id, seeds)
    try:
        policy = load_policy(results_dir, trial_id, seed)
    except PolicyError as err:
        return skipped(f"the saved policy cannot be loaded: {err}", seed)
    _, render_key = rollout_keys(ROLLOUT_KEY)
    episode = record_episode(policy.algorithm.env, policy.act, render_key, max_frames)
    gif = render(policy.algorithm.env, episode, out_dir / f"{env_name}.gif")
    return Rollout(env_name, algo, trial_id, seed, gif, "", episode.length, episode.episode_return, max_frames)
