"""Normalisation, IQM and confidence intervals against hand-computed values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import trim_mean

from eggroll_bench.plots.stats import (aggregate_iqm, aggregate_mean, aggregate_scores, iqm, normalised_scores,
                         ppo_reference, sem, stratified_bootstrap_ci, t_interval)


def finals(rows):
    return pd.DataFrame(rows, columns=["algo", "env", "seed", "final_return", "random_return"])


# Task A: random 0, PPO finals 10 and 20 -> R_PPO 15, denominator 15.
# Task B: random -100, PPO finals -50 and -70 -> R_PPO -60, denominator 40.
# Task C: no PPO. Task D: PPO (5) below random (8).
HAND = finals([
    ("ppo", "A", 0, 10.0, 0.0), ("ppo", "A", 1, 20.0, 0.0),
    ("eggroll", "A", 0, 15.0, 0.0), ("eggroll", "A", 1, 30.0, 0.0),
    ("openes", "A", 0, 0.0, 0.0),
    ("ppo", "B", 0, -50.0, -100.0), ("ppo", "B", 1, -70.0, -100.0),
    ("eggroll", "B", 0, -80.0, -100.0), ("eggroll", "B", 1, np.nan, -100.0),  # a failed seed
    ("eggroll", "C", 0, 3.0, 1.0),
    ("ppo", "D", 0, 5.0, 8.0), ("eggroll", "D", 0, 9.0, 8.0),
])


def test_normalised_scores_by_hand():
    scores, missing = normalised_scores(HAND)
    got = {(r.algo, r.env, r.seed): r.score for r in scores.itertuples()}
    assert got == pytest.approx({
        ("ppo", "A", 0): 10 / 15, ("ppo", "A", 1): 20 / 15,
        ("eggroll", "A", 0): 1.0, ("eggroll", "A", 1): 2.0,
        ("openes", "A", 0): 0.0,
        ("ppo", "B", 0): 50 / 40, ("ppo", "B", 1): 30 / 40,
        ("eggroll", "B", 0): 20 / 40,  # the NaN seed is dropped, not scored
    })
    assert missing["C"] == "no PPO reference"
    assert missing["D"].startswith("PPO (5) not above random (8)")
    assert set(missing) == {"C", "D"}


def test_ppo_reference_is_mean_of_ppo_seed_finals():
    assert ppo_reference(HAND).to_dict() == {"A": 15.0, "B": -60.0, "D": 5.0}


def test_missing_random_return_makes_score_undefined():
    f = finals([("ppo", "A", 0, 10.0, np.nan), ("eggroll", "A", 0, 5.0, np.nan)])
    scores, missing = normalised_scores(f)
    assert scores.empty and missing == {"A": "no random-policy return"}


def test_iqm_of_known_arrays():
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert iqm([1, 100, 2, 3]) == pytest.approx(2.5)  # drops 1 and 100
    assert iqm([7.0]) == 7.0
    rng = np.random.default_rng(1)
    for n in (3, 5, 10, 11, 37):
        x = rng.normal(size=n)
        assert iqm(x) == pytest.approx(trim_mean(x, 0.25))
    m = rng.normal(size=(4, 9))
    np.testing.assert_allclose(iqm(m, axis=1), trim_mean(m, 0.25, axis=1))


def test_aggregates_pool_and_weight_tasks():
    tasks = [np.array([0.0, 1.0, 2.0, 3.0]), np.array([10.0, 10.0])]
    # pooled: 0 1 2 3 10 10 -> cut 1 each side -> mean(1, 2, 3, 10) = 4
    assert aggregate_iqm(tasks) == pytest.approx(4.0)
    # task means 1.5 and 10, each task weighted equally
    assert aggregate_mean(tasks) == pytest.approx(5.75)


def test_bootstrap_ci_collapses_for_identical_seeds():
    ci = stratified_bootstrap_ci([[0.7, 0.7, 0.7, 0.7]], aggregate_iqm, reps=500)
    assert (ci.point, ci.lo, ci.hi) == pytest.approx((0.7, 0.7, 0.7))


def test_bootstrap_ci_contains_point_and_is_reproducible():
    rng = np.random.default_rng(3)
    tasks = [rng.normal(loc, 0.3, size=5) for loc in (0.2, 0.8, 1.1)]
    for fn in (aggregate_iqm, aggregate_mean):
        a = stratified_bootstrap_ci(tasks, fn, reps=2000, seed=0)
        b = stratified_bootstrap_ci(tasks, fn, reps=2000, seed=0)
        assert a == b
        assert a.lo < a.point < a.hi
        assert a.point == pytest.approx(fn(tasks))
    assert stratified_bootstrap_ci(tasks, aggregate_mean, reps=2000, seed=1) != \
        stratified_bootstrap_ci(tasks, aggregate_mean, reps=2000, seed=0)


def test_bootstrap_is_stratified_within_tasks():
    # Each task has identical seeds, so resampling within a task cannot change anything: the CI
    # is a point. (A bootstrap that pooled seeds across tasks would give a wide interval.)
    ci = stratified_bootstrap_ci([[0.0] * 3, [1.0] * 3, [5.0] * 3], aggregate_mean, reps=500)
    assert (ci.point, ci.lo, ci.hi) == pytest.approx((2.0, 2.0, 2.0))


def test_aggregate_scores_table():
    scores, _ = normalised_scores(HAND)
    agg = aggregate_scores(scores, reps=500).set_index(["algo", "metric"])
    # eggroll: task A scores 1, 2; task B 0.5 -> mean of task means (1.5 + 0.5) / 2 = 1.0
    assert agg.loc[("eggroll", "mean"), "point"] == pytest.approx(1.0)
    # IQM pools the seeds: 0.5 1 2 -> n=3, int(0.75) = 0 cut -> (0.5 + 1 + 2) / 3
    assert agg.loc[("eggroll", "IQM"), "point"] == pytest.approx(3.5 / 3)
    assert agg.loc[("eggroll", "mean"), "tasks"] == 2
    assert agg.loc[("openes", "mean"), "point"] == 0.0


def test_t_interval_and_sem():
    mean, lo, hi, n = t_interval(np.array([[1.0, 5.0], [3.0, np.nan]]))
    np.testing.assert_allclose(mean, [2.0, 5.0])
    np.testing.assert_array_equal(n, [2, 1])
    # n=2: t(0.975, 1) = 12.706, sd = sqrt(2), sem = 1
    assert hi[0] - mean[0] == pytest.approx(12.7062, rel=1e-4)
    assert lo[1] == hi[1] == 5.0  # one seed: no interval
    np.testing.assert_allclose(sem(np.array([[1.0, 2.0], [3.0, 2.0]])), [1.0, 0.0])


def test_welch_interval_matches_scipy_and_handles_degenerate_samples():
    from scipy.stats import ttest_ind

    from eggroll_bench.plots.stats import welch_interval

    rng = np.random.default_rng(3)
    a, b = rng.normal(10.0, 1.0, 5), rng.normal(8.0, 4.0, 7)
    got = welch_interval(a, b)
    ci = ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert got.point == pytest.approx(a.mean() - b.mean())
    assert (got.lo, got.hi) == (pytest.approx(ci.low), pytest.approx(ci.high))
    # no spread in either (every seed solved the task): the interval is the difference itself
    same = welch_interval([500.0, 500.0], [500.0, 500.0, 500.0])
    assert (same.point, same.lo, same.hi) == (0.0, 0.0, 0.0)
    # no spread in one: Welch's degrees of freedom are the other sample's n - 1
    one = welch_interval([500.0] * 5, [480.0, 490.0, 500.0])
    half = 4.302652729911275 * 10 / np.sqrt(3)  # t_{0.975, 2} * sd / sqrt(n)
    assert (one.point, one.lo, one.hi) == (10.0, pytest.approx(10.0 - half), pytest.approx(10.0 + half))
    assert np.isnan(welch_interval([], [1.0]).point)
    assert np.isnan(welch_interval([np.nan], [1.0, 2.0]).lo)
    single = welch_interval([3.0], [1.0, 2.0])  # one value: no spread to estimate, no interval
    assert single.point == 1.5 and np.isnan(single.lo) and np.isnan(single.hi)
