"""gymnax's plotting imports are deferred (envs/deferred_imports.py): making a gymnax task does not
load seaborn or pyplot, and both still work, through gymnax's own bindings and ours, once used."""
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
