"""The environment interface: every registered task, auto-reset, episode stats, bad input."""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eggroll_bench import envs
from eggroll_bench.envs import registry
from eggroll_bench.algos.measure_random import random_action

# brax: tests/test_envs_brax.py; the paper extra's libraries: tests/test_envs_paper.py
FAST_TASKS = [t.name for t in envs.all_tasks() if t.source != "brax" and not t.requires]


def check_resets_and_steps_under_jit_vmap(name: str, run: bool = True) -> None:
    """Reset + a few random steps, jitted and vmapped over keys; shapes and dtypes are those of the
    spec. With `run=False` the function is only traced (`jax.eval_shape`): the same shapes and dtypes,
    without the compile, which for a brax task is most of a minute on a 2-core CPU."""
    env = envs.make(name)
    spec = env.spec
    batch, steps = 2, 4

    def rollout(keys):
        obs, state = jax.vmap(env.reset)(keys)

        def body(carry, key):
            obs, state = carry
            act_key, step_key = jax.random.split(key)
            action = jax.vmap(lambda k: random_action(spec, k))(jax.random.split(act_key, batch))
            obs, state, reward, done, info = jax.vmap(env.step)(jax.random.split(step_key, batch), state, action)
            return (obs, state), (obs, reward, done, info["episode_return"])

        return obs, jax.lax.scan(body, (obs, state), jax.random.split(keys[0], steps))[1]

    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    obs0, (obs, reward, done, ep_ret) = jax.jit(rollout)(keys) if run else jax.eval_shape(rollout, keys)
    assert obs0.shape == (batch,) + spec.batch_prefix + spec.obs_shape
    assert obs.shape == (steps, batch) + spec.batch_prefix + spec.obs_shape
    assert reward.shape == (steps, batch) + spec.batch_prefix
    assert done.shape == (steps, batch) and done.dtype == bool
    assert ep_ret.shape == (steps, batch)
    assert obs.dtype == jnp.float32
    if run:
        assert np.isfinite(np.asarray(obs)).all() and np.isfinite(np.asarray(reward)).all()


@pytest.mark.parametrize("name", FAST_TASKS)
def test_every_task_resets_and_steps_under_jit_vmap(name):
    check_resets_and_steps_under_jit_vmap(name)


def _run_single(name, policy, steps, seed=0):
    """Step one environment `steps` times; returns per-step arrays on the host."""
    env = envs.make(name)

    @jax.jit
    def go(key):
        obs, state = env.reset(key)

        def body(carry, key):
            obs, state = carry
            a_key, s_key = jax.random.split(key)
            obs2, state, reward, done, info = env.step(s_key, state, policy(obs, a_key))
            return (obs2, state), (obs, obs2, reward, done, info)

        return jax.lax.scan(body, (obs, state), jax.random.split(key, steps))[1]

    return jax.tree.map(np.asarray, go(jax.random.PRNGKey(seed)))


def test_cartpole_episode_return_equals_sum_of_rewards_and_resets():
    spec = envs.make("CartPole-v1").spec
    obs, next_obs, reward, done, info = _run_single("CartPole-v1", lambda o, k: random_action(spec, k), 400)
    ends = np.flatnonzero(done)
    assert len(ends) >= 5, "random CartPole episodes are short; expected several to finish"
    start = 0
    for end in ends:
        assert info["episode_return"][end] == pytest.approx(reward[start:end + 1].sum())
        assert info["episode_length"][end] == end - start + 1
        assert info["terminated"][end] and not info["truncated"][end]
        # auto-reset really resets: the next observation is a fresh start (|x| <= 0.05)
        assert np.all(np.abs(next_obs[end]) <= 0.05)
        # and the pre-reset observation is kept for bootstrapping
        assert np.abs(info["final_obs"][end][2]) > 0.2 or np.abs(info["final_obs"][end][0]) > 2.3
        start = end + 1
    not_done = np.flatnonzero(~done)
    np.testing.assert_array_equal(info["final_obs"][not_done], next_obs[not_done])


def test_time_limit_is_truncation_not_termination():
    spec = envs.make("Pendulum-v1").spec  # Pendulum never terminates: every end is the time limit
    obs, next_obs, reward, done, info = _run_single("Pendulum-v1", lambda o, k: random_action(spec, k), 2 * spec.max_steps)
    ends = np.flatnonzero(done)
    np.testing.assert_array_equal(ends, [spec.max_steps - 1, 2 * spec.max_steps - 1])
    assert info["truncated"][ends].all() and not info["terminated"].any()
    assert not np.allclose(info["final_obs"][ends[0]], next_obs[ends[0]])


# MPE episodes all last 25 steps, so 50 steps see every environment end twice, 8 at once (> K)
@pytest.mark.parametrize("name,pool,steps", [("CartPole-v1", 1, 150), ("CartPole-v1", 3, 150),
                                             ("MPE_simple_spread_v3", 2, 50)])
def test_reset_pool_hands_fresh_starts_to_the_environments_that_ended(name, pool, steps):
    """`step_batch` with a pool of K starts against its definition, step by step: environments
    that did not end step exactly as `jax.vmap(env.step)`; the i-th to end (in batch order) starts
    from `reset(split(keys[i mod K])[1])` with zero counters; the step's own outputs and the
    episode info are `step`'s. Random actions for long enough that some steps end more than K."""
    env = envs.make(name)
    spec, n = env.spec, 8
    exact = jax.jit(jax.vmap(env.step))
    pooled = jax.jit(lambda k, s, a: envs.core.step_batch(env, k, s, a, reset_pool=pool))
    same = jax.jit(lambda k, s, a: envs.core.step_batch(env, k, s, a))
    reset = jax.jit(env.reset)
    _, state = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), n))
    key, shared = jax.random.PRNGKey(1), 0
    for _ in range(steps):
        key, act_key, step_key = jax.random.split(key, 3)
        action = jax.vmap(lambda k: random_action(spec, k))(jax.random.split(act_key, n))
        keys = jax.random.split(step_key, n)
        want, got = exact(keys, state, action), pooled(keys, state, action)
        for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(same(keys, state, action))):
            np.testing.assert_array_equal(a, b)  # no pool: exactly vmap(step)
        for part in (2, 3):  # reward, done
            np.testing.assert_array_equal(got[part], want[part])
        for field in ("final_obs", "episode_done", "episode_return", "episode_length", "terminated", "truncated"):
            np.testing.assert_array_equal(got[4][field], want[4][field])
        ended = np.flatnonzero(np.asarray(want[3]))
        shared += max(0, len(ended) - pool)
        for i in range(n):
            if i in ended:
                j = int(np.flatnonzero(ended == i)[0]) % pool
                expect = reset(jax.random.split(keys[j])[1])
            else:
                expect = jax.tree.map(lambda x: x[i], (want[0], want[1]))
            for a, b in zip(jax.tree.leaves(expect), jax.tree.leaves(jax.tree.map(lambda x: x[i], (got[0], got[1])))):
                np.testing.assert_array_equal(a, b)
        state = got[1]
    assert shared > 0 or pool == 3, "no step ended more episodes than the pool holds: the test lost its point"


def test_jaxmarl_adapter_stacks_pads_and_round_trips():
    env = envs.make("MPE_simple_speaker_listener_v4")
    raw, spec = env.raw, env.spec
    assert spec.num_agents == 2 and spec.agent_names == ("speaker_0", "listener_0")
    assert spec.obs_shape == (11,) and spec.action_space == envs.Discrete(5)
    assert spec.valid_actions == (3, 5)
    per_agent = {"speaker_0": jnp.arange(3.0), "listener_0": jnp.arange(11.0) + 10}
    stacked = raw.stack(per_agent)
    np.testing.assert_array_equal(stacked[0], [0, 1, 2] + [0] * 8)  # speaker zero-padded at the end
    np.testing.assert_array_equal(stacked[1], np.arange(11.0) + 10)
    actions = jnp.array([2, 4])
    back = raw.unstack(actions)
    assert set(back) == set(spec.agent_names) and int(back["speaker_0"]) == 2 and int(back["listener_0"]) == 4
    # team return = sum over agents of per-agent rewards, accumulated over the episode
    obs, next_obs, reward, done, info = _run_single(
        "MPE_simple_speaker_listener_v4", lambda o, k: random_action(spec, k), spec.max_steps)
    assert reward.shape == (spec.max_steps, 2)
    assert done[-1] and info["truncated"][-1]
    assert info["episode_return"][-1] == pytest.approx(reward.sum(), rel=1e-5)


def test_jaxmarl_spaces_that_cannot_be_shared_are_refused_naming_the_task():
    from eggroll_bench.envs.jaxmarl_adapter import JaxMARLEnv

    with pytest.raises(ValueError, match=r"MPE_simple_spread_v3: agent 'agent_0' has a Box action space; only Discrete"):
        JaxMARLEnv("MPE_simple_spread_v3", action_type="Continuous")


def test_jaxmarl_per_agent_rewards_match_jaxmarl():
    """Stacked rewards are jaxmarl's per-agent rewards in agent order."""
    import jaxmarl

    name = "MPE_simple_spread_v3"
    ours, theirs = envs.make(name), jaxmarl.make(name)
    key = jax.random.PRNGKey(3)
    obs, state = ours.reset(key)
    their_obs, their_state = theirs.reset(key)
    np.testing.assert_allclose(obs, jnp.stack([their_obs[a] for a in theirs.agents]))
    actions = jnp.array([1, 2, 3])
    _, _, reward, _, _ = ours.step(key, state, actions)
    step_key, _ = jax.random.split(key)
    _, _, their_reward, _, _ = theirs.step_env(step_key, their_state, {a: actions[i] for i, a in enumerate(theirs.agents)})
    np.testing.assert_allclose(reward, jnp.stack([their_reward[a] for a in theirs.agents]))


def test_brax_actions_are_clipped_to_bounds():
    env = envs.make("inverted_double_pendulum")
    spec = env.spec
    assert spec.action_space.low == -1.0 and spec.action_space.high == 1.0
    obs, state = jax.jit(env.reset)(jax.random.PRNGKey(0))  # eager, brax's reset runs op by op (~40 s)
    step = jax.jit(env.step)
    key = jax.random.PRNGKey(1)
    o_big, *_ = step(key, state, jnp.full(spec.action_shape, 50.0))
    o_one, *_ = step(key, state, jnp.full(spec.action_shape, 1.0))
    o_mid, *_ = step(key, state, jnp.full(spec.action_shape, 0.0))
    np.testing.assert_allclose(o_big, o_one)
    assert not np.allclose(o_one, o_mid)


def test_wrong_action_shape_or_dtype_is_refused_at_trace_time():
    env = envs.make("CartPole-v1")
    obs, state = env.reset(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    with pytest.raises(ValueError, match=r"action has shape \(2,\), expected \(\)"):
        jax.jit(env.step)(key, state, jnp.array([0, 1]))
    with pytest.raises(TypeError, match="integer dtype"):
        jax.jit(env.step)(key, state, jnp.array(0.5))
    cont = envs.make("Pendulum-v1")
    _, cstate = cont.reset(key)
    with pytest.raises(TypeError, match="floating dtype"):
        jax.jit(cont.step)(key, cstate, jnp.array([1]))
    marl = envs.make("MPE_simple_spread_v3")
    _, mstate = marl.reset(key)
    with pytest.raises(ValueError, match="3 agents"):
        jax.jit(marl.step)(key, mstate, jnp.array(1))


def test_unknown_names_list_close_matches():
    with pytest.raises(KeyError, match=r"Did you mean 'CartPole-v1'.*Available:"):
        envs.get_task("Cartpole-v1")
    with pytest.raises(KeyError, match=r"unknown suite 'core61'.*'core16'"):
        envs.suite_tasks("core61")


def test_suites_hold_the_promised_tasks():
    s = envs.suites()
    assert len(s["core16"]) == 16 and len(s["marl"]) == 3 and len(s["paper16"]) == 16
    assert {t.source for t in envs.suite_tasks("paper16")} == {"gymnax", "brax", "craftax", "jumanji", "kinetix", "navix"}
    assert {t.source for t in envs.suite_tasks("core16")} == {"gymnax", "brax"}
    for task in envs.all_tasks():
        assert task.random_return is not None, f"{task.name}: random_return not measured"
        assert 0 < task.budget_quick <= task.budget_gpu


def test_envs_cli_json_lists_every_task(capsys):
    from eggroll_bench.cli import main

    assert main(["envs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert len([r for r in rows if r["suite"] == "core16"]) == 16
    assert len([r for r in rows if r["suite"] == "marl"]) == 3
    assert by_name["CartPole-v1"]["action_space"] == "Discrete(2)" and by_name["CartPole-v1"]["obs_shape"] == [4]
    assert by_name["Breakout-MinAtar"]["obs_shape"] == [400]  # (10, 10, 4) flattened
    assert by_name["MPE_simple_spread_v3"]["num_agents"] == 3
    assert by_name["hopper"]["action_space"].startswith("Box(-1, 1")
    assert by_name["CartPole-v1"]["suites"] == ["core16", "paper16"]


def test_registering_a_new_task_is_one_call():
    """docs/extending.md's worked example: a gymnax task outside the suites."""
    from functools import partial

    from eggroll_bench.envs.gymnax_adapter import GymnaxEnv

    try:
        envs.register(envs.Task("Catch-bsuite", "extra", "gymnax", partial(GymnaxEnv, "Catch-bsuite", flatten_obs=True),
                                budget_gpu=1_000_000, budget_quick=50_000, random_return=-0.6))
        assert "Catch-bsuite" in envs.suites()["extra"]
        spec = envs.make("Catch-bsuite").spec
        assert spec.discrete and spec.action_space.n == 3 and spec.obs_shape == (50,)
        with pytest.raises(ValueError, match="already registered"):
            envs.register(envs.get_task("Catch-bsuite"))
    finally:
        registry._TASKS.pop("Catch-bsuite", None)


def test_missing_extra_is_a_clear_error_before_any_work(monkeypatch, capsys):
    """Without the extra: which package is missing, and the install command; no traceback."""
    import importlib.util

    from eggroll_bench.cli import main

    # As if every optional library but jumanji were installed (whichever install this runs in).
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jumanji" else (real(name, *a) or "installed"))
    registry.make.cache_clear()
    try:
        with pytest.raises(envs.MissingExtraError, match=r'jumanji.*pip install -e "\.\[paper\]"'):
            envs.make("Snake-v1")
        assert main(["envs", "--suite", "paper16"]) == 2
        err = capsys.readouterr().err
        assert "jumanji (needed by Game2048-v1, Knapsack-v1, Snake-v1)" in err and 'pip install -e ".[paper]"' in err
        assert "Craftax" not in err  # only what is actually missing is named
        assert main(["train", "--algo", "ppo", "--env", "Knapsack-v1"]) == 2
        assert "jumanji" in capsys.readouterr().err
    finally:
        registry.make.cache_clear()
