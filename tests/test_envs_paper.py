"""The paper16 suite's extra environments (Craftax, Jumanji, Kinetix, Navix): `[paper]` extra only.

Every test here is marked `paper`: skipped (with the install command as the reason) when the
extra is not installed, and an error under `pytest --require-paper`, which CI's paper run uses.
Compiling these environments dominates (Craftax's world generation and Kinetix's physics take
1-4 minutes each on 2 CPU cores), so each task is compiled once, in one jitted rollout.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eggroll_bench import envs
from eggroll_bench.algos.measure_random import random_action

pytestmark = pytest.mark.paper

EXTRA_TASKS = [t.name for t in envs.suite_tasks("paper16") if t.requires]


def _rollout(name: str, steps: int, batch: int, policy=None, seed: int = 0):
    """Reset + `steps` steps of `batch` environments in one jit; per-step arrays on the host."""
    env = envs.make(name)
    spec = env.spec
    policy = policy or (lambda obs, key: random_action(spec, key, obs))

    @jax.jit
    def go(keys):
        obs, state = jax.vmap(env.reset)(keys)

        def body(carry, key):
            obs, state = carry
            act_key, step_key = jax.random.split(key)
            action = jax.vmap(policy)(obs, jax.random.split(act_key, batch))
            next_obs, state, reward, done, info = jax.vmap(env.step)(jax.random.split(step_key, batch), state, action)
            return (next_obs, state), (obs, action, next_obs, reward, done, info)

        return obs, jax.lax.scan(body, (obs, state), jax.random.split(keys[0], steps))[1]

    return jax.tree.map(np.asarray, go(jax.random.split(jax.random.PRNGKey(seed), batch)))


def test_paper16_lists_the_papers_sixteen_tasks():
    names = envs.suites()["paper16"]
    assert len(names) == 16 and len(EXTRA_TASKS) == 11
    assert {"CartPole-v1", "Pendulum-v1", "ant", "humanoid", "inverted_double_pendulum"} <= set(names)
    assert {"Craftax-Symbolic-v1", "Snake-v1", "m/h17_thrustcontrol_left", "Navix-FourRooms-v0"} <= set(names)


@pytest.mark.parametrize("name", EXTRA_TASKS)
def test_extra_task_resets_and_steps_under_jit_vmap(name):
    """Shapes and dtypes are those the spec promises; rewards finite; episode bookkeeping sane."""
    spec = envs.make(name).spec
    batch, steps = 2, 6
    obs0, (obs, action, next_obs, reward, done, info) = _rollout(name, steps, batch)
    assert obs0.shape == (batch,) + spec.obs_shape and obs0.dtype == np.float32
    assert next_obs.shape == (steps, batch) + spec.obs_shape and next_obs.dtype == np.float32
    assert action.shape == (steps, batch) + spec.action_shape
    assert reward.shape == (steps, batch) and reward.dtype == np.float32
    assert done.shape == (steps, batch) and done.dtype == bool
    assert np.isfinite(next_obs).all() and np.isfinite(reward).all()
    assert not (info["terminated"] & info["truncated"]).any()
    np.testing.assert_array_equal(done, info["terminated"] | info["truncated"])
    assert (info["episode_length"][0] == 1).all()
    if spec.action_mask:  # the mask is the observation's tail, 0/1, and the random policy obeys it
        n = spec.action_space.n
        mask = obs[..., -n:]
        assert set(np.unique(mask)) <= {0.0, 1.0} and (mask.sum(-1) >= 1).all()
        assert np.take_along_axis(mask, action[..., None], -1).all()
    assert spec.max_steps > steps


def test_knapsack_masked_episodes_end_by_termination_with_summed_returns():
    """Knapsack ends when no item fits (terminated, never truncated); the episode return is the sum of
    its rewards; with the mask obeyed no invalid pick ends an episode early, so every episode packs
    items until the budget is used."""
    obs0, (obs, action, next_obs, reward, done, info) = _rollout("Knapsack-v1", 60, 1)
    reward, done = reward[:, 0], done[:, 0]
    ends = np.flatnonzero(done)
    assert len(ends) >= 1
    assert info["terminated"][ends, 0].all() and not info["truncated"][:, 0].any()
    first = ends[0]
    assert info["episode_return"][first, 0] == pytest.approx(reward[: first + 1].sum(), rel=1e-5)
    assert (reward[: first + 1] > 0).all()  # each valid pick adds that item's value
    # the step that ended the episode left no valid action (the mask in the final observation is empty)
    assert info["final_obs"][first, 0][-50:].sum() == 0


def test_navix_time_limit_is_truncation_not_termination():
    """Turning in place never reaches the goal: the episode must end at navix's 100-step limit as a
    truncation (so learners bootstrap), with the pre-reset observation kept in `final_obs`."""
    name = "Navix-FourRooms-v0"
    limit = envs.make(name).spec.max_steps
    turn_left = lambda obs, key: jnp.asarray(0, jnp.int32)  # noqa: E731
    obs0, (obs, action, next_obs, reward, done, info) = _rollout(name, limit + 1, 1, policy=turn_left)
    done = done[:, 0]
    assert limit == 100 and np.flatnonzero(done).tolist() == [limit - 1]
    assert info["truncated"][limit - 1, 0] and not info["terminated"][:, 0].any()
    assert info["episode_length"][limit - 1, 0] == limit



@pytest.mark.slow
@pytest.mark.optimized
@pytest.mark.parametrize("algo", ["eggroll", "openes", "ppo"])
def test_each_algorithm_learns_masked_game2048(algo):
    """The whole runner on a paper16 task with a state-dependent action mask, under the extra's
    jax. A uniform-random valid move scores 1104 (registry); a policy that merely prefers some
    directions scores more. Seeds 0 and 1 reached 2000-3300 within 300k steps when written
    (eggroll 2389, ppo 2850 for seed 0); the bar is 1.5x random on the mean of the last three
    evaluations of both seeds (16 episodes each; one episode's std is about 1500)."""
    from eggroll_bench.algos.runner import train

    random_return = envs.get_task("Game2048-v1").random_return
    result = train(algo, "Game2048-v1", [0, 1], {"eval_every": 5}, total_steps=300_000, progress=False)
    late = [e.return_mean for s in result.seeds for e in s.evals[-3:]]
    assert all(s.status == "done" for s in result.seeds)
    assert np.mean(late) > 1.5 * random_return, late
