"""Multi-agent learning through the one runner: each algorithm improves the team return on
MPE_simple_spread_v3 within a CPU budget (task defaults: shared policy 64x3, see envs/tasks.py).

Reference points (team return = sum over the 3 agents and 25 steps; evaluation: 64 fresh
episodes, greedy actions): uniform-random policy -80.2 (registry); the untrained greedy policy
scores about -63 to -70. When written (seed 0) ES reached about -58 by 1.5M steps and PPO about
-54 by 500k (seed 1: -56; it goes on to about -45 by 1M, not needed here). The test asks for half
of that gain, on the mean of the last three evaluations: at least `margin` above the first
evaluation (step 0) and twice `margin` above the random policy.

PPO is judged on the mean of 3 seeds trained side by side (as cheap as one here: its rows are
small): one seed's curve depends on the CPU's float rounding, and seed 0 alone, which passed on
the Intel CPU this was written on, reached only -79 on an AMD EPYC (its untrained greedy policy
scored -108 there: near-tied logits), while seeds 0-2 together averaged -54.5 at 500k.
"""
from __future__ import annotations

import numpy as np
import pytest

from eggroll_bench.algos.runner import train
from eggroll_bench.envs import get_task

pytestmark = [pytest.mark.slow, pytest.mark.optimized]

TASK = "MPE_simple_spread_v3"
# (algo, seeds, overrides, budget, margin over the first evaluation)
CASES = [
    ("eggroll", [0], {"eval_every": 1}, 1_500_000, 4.0),
    ("openes", [0], {"eval_every": 1}, 1_500_000, 4.0),
    ("ppo", [0, 1, 2], {"eval_every": 4}, 500_000, 8.0),
]


@pytest.mark.parametrize("algo,seeds,overrides,budget,margin", CASES, ids=[c[0] for c in CASES])
def test_team_return_improves_on_simple_spread(algo, seeds, overrides, budget, margin):
    result = train(algo, TASK, seeds, {"eval_episodes": 64, **overrides}, total_steps=budget, progress=False)
    assert all(seed.status == "done" for seed in result.seeds)
    curves = np.asarray([[e.return_mean for e in seed.evals] for seed in result.seeds])
    curve = curves.mean(0)  # over seeds
    late = float(np.mean(curve[-3:]))
    summary = f"first {curve[0]:.1f}, late {late:.1f}, curve {[round(c) for c in curve[::max(1, len(curve) // 12)]]}"
    assert late >= curve[0] + margin, summary
    assert late >= get_task(TASK).random_return + 2 * margin, summary
