"""brax tasks reset and step under jit + vmap (own file, so that pytest-xdist can run it beside the rest).

Compiling a brax task's reset and step takes 35-70 s on a 2-core CPU, so one task runs for real
(inverted_double_pendulum, the cheapest to compile) and every other is traced with `jax.eval_shape`:
the adapter's shapes and dtypes are checked for all of them, its values for one. hopper's step also
runs in tests/test_after_training.py (rendering) and inverted_double_pendulum's in
tests/test_envs.py (action clipping)."""
import pytest

from eggroll_bench import envs
from test_envs import check_resets_and_steps_under_jit_vmap

BRAX_TASKS = [t.name for t in envs.all_tasks() if t.source == "brax"]
RUN = "inverted_double_pendulum"


def test_the_task_that_runs_is_a_brax_task():
    assert RUN in BRAX_TASKS


@pytest.mark.parametrize("name", BRAX_TASKS)
def test_brax_task_resets_and_steps_under_jit_vmap(name):
    check_resets_and_steps_under_jit_vmap(name, run=name == RUN)


def test_a_reset_pool_is_refused_where_episodes_restart_from_their_first_state():
    """brax's auto_reset restarts an episode from its own first state; a pool cannot stand in for it."""
    from eggroll_bench.algos.config import ConfigError
    from eggroll_bench.algos.runner import train

    with pytest.raises(ConfigError, match=r"reset_pool=2: hopper restarts .* \(auto_reset\).*allowed: 0"):
        train("ppo", "hopper", [0], {"reset_pool": 2}, total_steps=100_000, progress=False)
