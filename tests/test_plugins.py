"""Tasks and algorithms from outside the repository, exactly as docs/extending.md shows them.

That page's "Adding an environment" and "Adding an algorithm" code blocks are written to a
temporary directory (not on the package's path) and used the three ways the page names: `--import`,
a sweep file's `imports` (whose trials run in their own processes) and an installed entry point.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "hidden=8", "--set", "eval_every=2", "--set", "eval_episodes=2"]


def docs_block(heading: str) -> str:
    """The first ```python block under `heading` in docs/extending.md."""
    text = (ROOT / "docs" / "extending.md").read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("user")
    (d / "my_tasks.py").write_text(docs_block("## Adding an environment"))
    (d / "my_baselines.py").write_text(docs_block("## Adding an algorithm"))
    return d


def cli(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eggroll_bench.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})


def test_train_with_import_runs_a_user_algorithm_on_a_user_task(user_dir):
    out = cli(["train", "--import", "my_tasks", "--import", "my_baselines", "--algo", "random_search",
               "--env", "Catch-bsuite", "--steps", "400", "--seeds", "2", "--quiet", *TINY, "--out", "lone"], user_dir)
    assert out.returncode == 0, out.stderr
    final = pd.read_csv(user_dir / "lone" / "results.csv").query("row_type == 'final'")
    assert set(final.algo) == {"random_search"} and set(final.env) == {"Catch-bsuite"}
    assert sorted(final.seed) == [0, 1] and (final.env_steps >= 400).all()
    assert json.loads(final.hparams.iloc[0])["sigma"] == 0.1  # the config class's default


def test_without_the_import_the_names_are_refused_with_the_choices(user_dir):
    out = cli(["train", "--algo", "random_search", "--env", "CartPole-v1"], user_dir)
    assert out.returncode == 2 and "invalid choice: 'random_search'" in out.stderr
    out = cli(["train", "--algo", "ppo", "--env", "Catch-bsuite"], user_dir)
    assert out.returncode == 2 and "unknown task 'Catch-bsuite'" in out.stderr


def test_a_sweep_file_imports_them_for_its_isolated_trials_and_plot_draws_them(user_dir):
    (user_dir / "mine.toml").write_text("""
name = "mine"
imports = ["my_tasks", "my_baselines"]
algos = ["random_search", "ppo"]
tasks = ["extra"]
seeds = 2
budget = 2048
set = { hidden = 8, eval_every = 2, eval_episodes = 2 }

[random_search.grid]
sigma = [0.05, 0.2]

[ppo.set]
num_envs = 4
num_steps = 32
""")
    out = cli(["sweep", "mine.toml", "--out", "swept"], user_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    final = pd.read_csv(user_dir / "swept" / "results.csv").query("row_type == 'final'")
    assert sorted(final.groupby("algo").trial_id.nunique().items()) == [("ppo", 1), ("random_search", 2)]
    assert (final.status == "done").all() and (final.device != "").all()
    plotted = cli(["plot", "swept", "--import", "my_baselines"], user_dir)
    assert plotted.returncode == 0, plotted.stderr
    assert (user_dir / "swept" / "figures" / "curves_env_steps.png").stat().st_size > 0


def test_an_installed_entry_point_is_found_with_no_flag(user_dir, tmp_path):
    """A real distribution's metadata on the path (as `pip install` would leave it)."""
    site = tmp_path / "site"
    info = site / "my_pkg-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[eggroll_bench.tasks]\nmy_tasks = my_tasks\n\n"
                                           "[eggroll_bench.algorithms]\nmy_baselines = my_baselines\n")
    out = cli(["train", "--algo", "random_search", "--env", "Catch-bsuite", "--steps", "200", "--quiet", *TINY],
              tmp_path, env={"PYTHONPATH": os.pathsep.join([str(site), str(user_dir)])})
    assert out.returncode == 0, out.stderr
    assert "random_search on Catch-bsuite: final return" in out.stdout


def test_rollout_imports_the_plugin_modules_a_policy_was_trained_with(user_dir, tmp_path):
    out = cli(["train", "--import", "my_baselines", "--algo", "random_search", "--env", "CartPole-v1",
               "--steps", "200", "--quiet", *TINY, "--out", str(tmp_path / "run")], user_dir)
    assert out.returncode == 0, out.stderr
    (sidecar,) = (tmp_path / "run" / "policies").glob("*/seed_0.json")
    assert json.loads(sidecar.read_text())["plugins"] == ["my_baselines"]
    trial = sidecar.parent.name
    rollout = ["rollout", str(tmp_path / "run"), "--trial", trial, "--no-render", "--episodes", "2"]
    # no --import: the sidecar names the module, found where the user keeps it
    path = os.pathsep.join(p for p in (str(user_dir), os.environ.get("PYTHONPATH", "")) if p)
    found = cli(rollout, tmp_path, env={"PYTHONPATH": path})
    assert found.returncode == 0, found.stderr
    assert "random_search on CartPole-v1" in found.stdout
    lost = cli(rollout, tmp_path)  # the module is nowhere on the path: named, exit 2, no traceback
    assert lost.returncode == 2 and "Traceback" not in lost.stderr
    assert "trained with plugin modules ['my_baselines'] loaded" in lost.stderr
