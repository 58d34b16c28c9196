"""brax tasks reset and step under jit + vmap (own file: ~10 s of compile each on CPU, so pytest-xdist
can run it beside the rest)."""
import pytest

from eggroll_bench import envs
from test_envs import test_every_task_resets_and_steps_under_jit_vmap as _check

BRAX_TASKS = [t.name for t in envs.all_tasks() if t.source == "brax"]


@pytest.mark.parametrize("name", BRAX_TASKS)
def test_brax_task_resets_and_steps_under_jit_vmap(name):
    _check(name)


def test_a_reset_pool_is_refused_where_episodes_restart_from_their_first_state():
    """brax's auto_reset restarts an episode from its own first state; a pool cannot stand in for it."""
    from eggroll_bench.algos.config import ConfigError
    from eggroll_bench.algos.runner import train

    with pytest.raises(ConfigError, match=r"reset_pool=2: hopper restarts .* \(auto_reset\).*allowed: 0"):
        train("ppo", "hopper", [0], {"reset_pool": 2}, total_steps=100_000, progress=False)
