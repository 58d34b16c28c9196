"""The one runner: exact env-step accounting, determinism, divergence, bad input before compiling."""
from __future__ import annotations

import math
import time

import jax
import numpy as np
import pytest

from eggroll_bench import envs
from eggroll_bench.algos.config import ConfigError
from eggroll_bench.algos.registry import build_config
from eggroll_bench.algos.es import make_eggroll, make_openes
from eggroll_bench.algos.rollout import run_episodes
from eggroll_bench.algos import runner
from eggroll_bench.algos.runner import train
from eggroll_bench.algos.checkpoint import TrialArtifacts

from tiny import TINY_ES, TINY_PPO


def test_es_env_steps_are_the_sum_of_episode_lengths():
    """CartPole pays 1 per step, so a member's return *is* its episode length: an independent count."""
    es = make_openes(envs.make("CartPole-v1"), build_config("openes", {"pop_size": 8, "hidden": 16,
                                                                         "fitness_shaping": "none"}), 0)
    state = es.init(jax.random.PRNGKey(0))
    update = jax.jit(es.update)
    for i in range(3):
        state, metrics = update(state, jax.random.PRNGKey(i))
        assert int(metrics["env_steps"]) == round(float(metrics["fitness_mean"]) * 8)
        assert int(metrics["env_steps"]) >= 8  # every episode lasts at least one step


@pytest.mark.parametrize("common_starts", [True, False])
def test_common_starts_give_every_member_the_same_episodes(common_starts):
    """With σ ≈ 0 every member is the mean policy, so only the start states can tell them apart."""
    config = build_config("eggroll", {"pop_size": 8, "episodes_per_member": 2, "hidden": 16, "sigma": 1e-12,
                               "fitness_shaping": "none", "common_starts": common_starts})
    es = make_eggroll(envs.make("CartPole-v1"), config, 0)
    state = es.init(jax.random.PRNGKey(0))
    noise = es.noise.sample(state.noise_key, state.generation, state.params)
    episodes = jax.jit(lambda key: run_episodes(es.env, es.population_act(state, noise, config.sigma), key,
                                                es.batch, es.start_keys(key)))(jax.random.PRNGKey(1))
    lengths = np.asarray(episodes.lengths).reshape(8, 2)
    if common_starts:
        assert (lengths == lengths[0]).all()  # member-major: episode e of every member is the same
    else:
        assert len(np.unique(lengths)) > 1


@pytest.mark.parametrize("algo", ["openes", "ppo"])
def test_runner_stops_each_seed_at_the_first_update_reaching_the_budget(algo):
    overrides = dict(TINY_ES if algo != "ppo" else TINY_PPO, eval_every=1)
    budget = 3000
    result = train(algo, "CartPole-v1", [0, 1], overrides, total_steps=budget, progress=False)
    for seed in result.seeds:
        steps = [e.env_steps for e in seed.evals]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)  # one eval per update, increasing
        assert steps[0] == 0 and seed.evals[0].updates == 0  # the initial policy is evaluated too
        assert seed.env_steps == steps[-1] >= budget > steps[-2]
        assert [e.updates for e in seed.evals] == list(range(len(steps)))
        if algo == "ppo":  # fixed batch: updates × envs × steps, exactly
            batch = overrides["num_envs"] * overrides["num_steps"]
            assert seed.updates == math.ceil(budget / batch) and seed.env_steps == seed.updates * batch
    assert result.steps_per_s == pytest.approx(sum(s.env_steps for s in result.seeds) / result.run_s)


@pytest.mark.parametrize("algo", ["eggroll", "ppo"])
def test_same_seed_gives_bit_identical_results(algo):
    overrides = TINY_ES if algo != "ppo" else TINY_PPO
    a = train(algo, "CartPole-v1", [3, 4], overrides, total_steps=3000, progress=False)
    if algo == "eggroll":  # what a sweep does between trials; once is enough (a compile costs ~20 s of CI)
        runner.release_compiled()
        assert runner._compile.cache_info().currsize == 0  # so the second call compiles afresh
    b = train(algo, "CartPole-v1", [3, 4], overrides, total_steps=3000, progress=False)
    strip = lambda r: [(s.seed, s.env_steps, [(e.env_steps, e.return_mean, e.return_std) for e in s.evals]) for s in r.seeds]
    assert strip(a) == strip(b)
    assert strip(a)[0][1:] != strip(a)[1][1:]  # and different seeds differ


def test_diverging_run_is_stopped_and_recorded():
    result = train("openes", "CartPole-v1", [0], {**TINY_ES, "optimizer": "sgd", "lr": 1e38,
                                                  "fitness_shaping": "none"}, total_steps=50_000, progress=False)
    seed = result.seeds[0]
    assert seed.status == "diverged" and "non-finite" in seed.error
    assert seed.env_steps < 50_000  # stopped early, not run to the budget


@pytest.mark.parametrize("algo,overrides,field", [
    ("eggroll", {"pop_size": 9}, "pop_size must be even"),
    ("eggroll", {"rank": 0}, "rank must be >= 1"),
    ("eggroll", {"rank": 17, "hidden": 16}, r"rank=17 exceeds .* allowed: 1\.\.16"),
    ("openes", {"sigma": 0.0}, "sigma must be > 0"),
    ("openes", {"pop_size": 1, "antithetic": False}, "pop_size must be >= 2"),
    ("openes", {"popsize": 8}, r"unknown openes hyperparameter 'popsize'.*Did you mean 'pop_size'"),
    ("ppo", {"lr": "fast"}, "lr: expected float"),
    ("ppo", {"anneal_lr": "maybe"}, "anneal_lr: expected a boolean"),
    ("ppo", {"activation": "sigmoid"}, "activation: 'sigmoid' is not one of tanh, relu"),
    ("ppo", {"num_minibatches": 3}, "must divide"),
    ("ppo", {"reset_pool": -1}, "reset_pool must be >= 0"),
    ("ppo", {"num_envs": 4, "reset_pool": 5}, r"reset_pool=5 exceeds num_envs=4; allowed: 0 .* or 1\.\.4"),
])
def test_bad_config_is_refused_before_compiling(algo, overrides, field):
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=field):
        train(algo, "CartPole-v1", [0], overrides, total_steps=100_000, progress=False)
    assert time.perf_counter() - start < 5, "the error must come before any compilation"


@pytest.mark.parametrize("algo,overrides", [("ppo", {}), ("openes", {"pop_size": 64})])
def test_budget_smaller_than_one_update_is_refused(algo, overrides):
    with pytest.raises(ConfigError, match="smaller than one update"):
        train(algo, "CartPole-v1", [0], overrides, total_steps=10, progress=False)


def test_train_cli_writes_rows_in_the_results_schema(tmp_path, capsys):
    import pandas as pd

    from eggroll_bench.cli import main
    from eggroll_bench.sweeps.schema import COLUMNS

    argv = ["train", "--algo", "eggroll", "--env", "CartPole-v1", "--seeds", "2", "--steps", "2000", "--quiet",
            "--out", str(tmp_path)]
    for key, value in TINY_ES.items():
        argv += ["--set", f"{key}={value}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "eggroll on CartPole-v1: final return" in out and "env steps/s" in out
    df = pd.read_csv(tmp_path / "results.csv")
    assert set(COLUMNS) <= set(df.columns)
    final = df[df.row_type == "final"]
    assert sorted(final.seed) == [0, 1] and (final.status == "done").all()
    assert (final.env_steps >= 2000).all() and (final.steps_per_s > 0).all() and (final.compile_s > 0).all()
    assert (df[df.row_type == "eval"].groupby("seed").size() >= 1).all()


def test_train_cli_bad_input_exits_2_with_the_field_named(capsys):
    from eggroll_bench.cli import main

    assert main(["train", "--algo", "eggroll", "--env", "CartPole-v1", "--set", "sigma=-1"]) == 2
    assert "sigma must be > 0" in capsys.readouterr().err
    assert main(["train", "--algo", "ppo", "--env", "Cartpole", "--steps", "5000"]) == 2
    assert "Did you mean 'CartPole-v1'" in capsys.readouterr().err


class _KeepFinalState(TrialArtifacts):
    """Hooks that only keep the final training state (no files)."""

    def finished(self, state, results) -> None:
        self.final = jax.device_get(state)


def _final_state(algo: str, overrides: dict, budget: int):
    hooks = _KeepFinalState("unused", ("t",), save_policies=False, checkpoint_every_s=None)
    result = train(algo, "CartPole-v1", [0, 1], overrides, total_steps=budget, progress=False, hooks=hooks)
    return result, hooks.final


@pytest.mark.parametrize("algo,overrides,budget,cadences", [("eggroll", TINY_ES, 8000, (2, 5)),
                                                             ("ppo", TINY_PPO, 60 * 128, (10, 50))])
def test_how_often_a_trial_evaluates_does_not_change_what_it_learns(algo, overrides, budget, cadences):
    """Evaluation draws from its own key stream: two cadences end with identical parameters."""
    often, often_state = _final_state(algo, {**overrides, "eval_every": cadences[0]}, budget)
    rarely, rarely_state = _final_state(algo, {**overrides, "eval_every": cadences[1]}, budget)
    assert [s.updates for s in often.seeds] == [s.updates for s in rarely.seeds]
    assert min(s.updates for s in often.seeds) > cadences[1]  # both cadences evaluated mid-run
    for a, b in zip(jax.tree.leaves(often_state.algo_state), jax.tree.leaves(rarely_state.algo_state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the evaluation after update n draws the same episodes whatever the cadence
    assert [s.final.return_mean for s in often.seeds] == [s.final.return_mean for s in rarely.seeds]


def test_no_update_is_computed_past_the_last_rows_budget():
    """A chunk of eval_every=1000 updates ends when every row has spent its budget: the call computes
    as many updates as the row that needed most, not the 1000 of a whole chunk."""
    result = train("openes", "CartPole-v1", [0, 1, 2], {**TINY_ES, "eval_every": 1000}, total_steps=2000,
                   progress=False)
    updates = [s.updates for s in result.seeds]
    assert result.call.computed_updates == max(updates) < 1000
    assert len(set(updates)) > 1  # rows ended at different updates, the earlier ones masked meanwhile
    for seed in result.seeds:
        assert seed.env_steps >= 2000 and [e.updates for e in seed.evals] == [0, seed.updates]
