"""brax tasks reset and step under jit + vmap (own file: ~10 s of compile each on CPU, so pytest-xdist
can run it beside the rest)."""
import pytest

from eggroll_bench import envs
from test_envs import test_every_task_resets_and_steps_under_jit_vmap as _check

BRAX_TASKS = [t.name for t in envs.all_tasks() if t.source == "brax"]


@pytest.mark.parametrize("name", BRAX_TASKS)
def test_brax_task_resets_and_steps_under_jit_vmap(name):
    _check(name)
