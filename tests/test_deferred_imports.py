"""envs/deferred_imports.py: making a gymnax task does not load seaborn or pyplot, and both still
work, through gymnax's own bindings and ours, once used; an MPE task is built without importing
the rest of jaxmarl, as `jaxmarl.make` builds it, and jaxmarl imports whole afterwards."""
import subprocess
import sys

SCRIPT = r"""
import sys
import jax
from eggroll_bench.envs.registry import make

make("CartPole-v1")
loaded = sorted(m for m in ("scipy.stats", "seaborn.relational", "matplotlib.figure") if m in sys.modules)
assert not loaded, f"making a gymnax task loaded {loaded}"

from gymnax.environments.misc import pong
assert len(pong.sns.color_palette("cubehelix", 3)) == 3  # gymnax's binding of seaborn, loaded first

import matplotlib
matplotlib.use("Agg")
import gymnax
env, params = gymnax.make("Catch-bsuite")
_, state = env.reset(jax.random.PRNGKey(0), params)
fig, ax = env.render(state, params)  # gymnax's own render, through its binding of pyplot
assert fig.__class__.__name__ == "Figure" and len(ax.texts) >= 2, (fig, ax.texts)

import seaborn
import matplotlib.pyplot as plt
assert seaborn is sys.modules["seaborn"] and type(seaborn).__name__ == "module"  # the real one now
assert sys.modules["matplotlib.pyplot"].__name__ == "matplotlib.pyplot" and matplotlib.pyplot is sys.modules["matplotlib.pyplot"]
assert plt.gcf() is fig  # one pyplot: the figure gymnax drew is the one ours sees

from eggroll_bench.envs.deferred_imports import defer
defer("seaborn")  # already imported: left as it is
assert sys.modules["seaborn"] is seaborn
defer("no_such_library_xyz")  # not installed: nothing put in its place
assert "no_such_library_xyz" not in sys.modules
print("OK")
"""


def test_gymnax_task_loads_no_plotting_library_and_both_work_once_used():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]


MPE_SCRIPT = r"""
import inspect
import re
import sys
import jax
from eggroll_bench.envs.jaxmarl_adapter import MPE_CLASSES, make_jaxmarl
from eggroll_bench.envs.registry import all_tasks, make
from eggroll_bench.envs.render import renderer

registered = [t.name for t in all_tasks() if t.source == "jaxmarl"]
assert registered and set(registered) <= set(MPE_CLASSES), registered
light = make_jaxmarl("MPE_simple_spread_v3")
assert type(make_jaxmarl("MPE_simple_spread_v3")) is type(light)  # imported once per process
task = make("MPE_simple_spread_v3")
loaded = sorted(m for m in sys.modules if m.startswith(("jaxmarl", "brax", "mujoco")))
assert not loaded, f"building an MPE task left {loaded[:5]} imported"

import jaxmarl  # the whole package, as if nothing had been imported before
assert "jaxmarl.environments.storm" in sys.modules and callable(jaxmarl.make)
# the classes jaxmarl.make builds, read from its if/elif chain: MPE_CLASSES must be the same
made = dict(re.findall(r'env_id == "(MPE_[a-z_0-9]+)":\s+env = (\w+)\(', inspect.getsource(jaxmarl.registration.make)))
assert {k: made[k] for k in MPE_CLASSES} == MPE_CLASSES, made

real = jaxmarl.make("MPE_simple_spread_v3")
assert type(light).__name__ == type(real).__name__ and type(light) is not type(real)
assert renderer(task) == "gif" and task.raw.is_mpe  # still known as MPE by the renderer
key = jax.random.PRNGKey(3)
(obs_a, state_a), (obs_b, state_b) = light.reset(key), real.reset(key)
actions = {a: real.action_space(a).sample(jax.random.fold_in(key, i)) for i, a in enumerate(real.agents)}
leaves_a = jax.tree.leaves((obs_a, light.step_env(key, state_a, actions)))
leaves_b = jax.tree.leaves((obs_b, real.step_env(key, state_b, actions)))
assert len(leaves_a) == len(leaves_b) and all(bool((x == y).all()) for x, y in zip(leaves_a, leaves_b))
print("OK")
"""


def test_mpe_tasks_are_built_without_the_rest_of_jaxmarl_and_as_jaxmarl_builds_them():
    proc = subprocess.run([sys.executable, "-c", MPE_SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]
