"""`eggroll-bench rollout` on a policy this installation cannot rebuild: one clear message, exit 2.

The policy is a real one (an OpenES state on CartPole, saved as training saves it); its sidecar is
then edited to what another installation or version would have written."""
from __future__ import annotations

import json
from pathlib import Path

import jax
import pytest

from eggroll_bench.algos.policy import policy_paths, save_policy
from eggroll_bench.algos.registry import build_config, get_algorithm
from eggroll_bench.cli import main
from eggroll_bench.envs.registry import get_task, make

TRIAL = "aaaaaaaaaaaa"
HPARAMS = {"pop_size": 8, "hidden": 8, "depth": 1, "eval_episodes": 2}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("policies")
    config = build_config("openes", HPARAMS)
    state = get_algorithm("openes").make(make("CartPole-v1"), config, 1000).init(jax.random.PRNGKey(0))
    save_policy(out, TRIAL, 0, state, {"algo": "openes", "env": "CartPole-v1", "hparams": HPARAMS, "budget": 1000,
                                       "env_steps": 0, "updates": 0, "plugins": []})
    return out


def rollout_with(saved: Path, tmp_path: Path, capsys, **changes) -> tuple[int, str]:
    """Rollout of a copy of the saved policy whose sidecar has `changes`."""
    state, sidecar = policy_paths(saved, TRIAL, 0)
    copy_state, copy_sidecar = policy_paths(tmp_path, TRIAL, 0)
    copy_state.parent.mkdir(parents=True)
    copy_state.write_bytes(state.read_bytes())
    meta = {**json.loads(sidecar.read_text()), **changes}
    copy_sidecar.write_text(json.dumps(meta))
    code = main(["rollout", str(tmp_path), "--trial", TRIAL, "--no-render", "--episodes", "1"])
    return code, capsys.readouterr().err


def test_the_saved_policy_rolls_out(saved, tmp_path, capsys):
    code, err = rollout_with(saved, tmp_path, capsys)
    assert code == 0, err


def test_a_hyperparameter_this_version_no_longer_has(saved, tmp_path, capsys):
    code, err = rollout_with(saved, tmp_path, capsys, hparams={**HPARAMS, "noise_reuse": 2},
                             code_version="0.1.0+gdeadbeefdead")
    assert code == 2 and "Traceback" not in err
    assert "its hyperparameters do not fit this version's openes (saved by eggroll-bench 0.1.0+gdeadbeefdead)" in err
    assert "unknown openes hyperparameter 'noise_reuse'" in err


def test_an_algorithm_of_a_plugin_that_is_not_imported(saved, tmp_path, capsys):
    code, err = rollout_with(saved, tmp_path, capsys, algo="random_search")  # a sidecar older than `plugins`
    assert code == 2 and "algorithm 'random_search' is not registered (if a plugin of yours registers it, pass " \
                         "--import MODULE" in err and "registered: eggroll, openes, ppo" in err


def test_a_plugin_module_that_cannot_be_imported_is_named(saved, tmp_path, capsys):
    code, err = rollout_with(saved, tmp_path, capsys, algo="random_search", plugins=["no_such_baselines"])
    assert code == 2 and "trained with plugin modules ['no_such_baselines'] loaded" in err
    assert "--import no_such_baselines: cannot import it" in err


def test_a_task_whose_library_is_missing(saved, tmp_path, capsys):
    task = get_task("Craftax-Classic-Symbolic-v1")
    if not task.missing():
        pytest.skip("craftax is installed here (the [paper] extra)")
    code, err = rollout_with(saved, tmp_path, capsys, env=task.name)
    assert code == 2 and "task 'Craftax-Classic-Symbolic-v1' cannot be built here: not installed: craftax" in err
    assert 'pip install -e ".[paper]"' in err


def test_an_unknown_task(saved, tmp_path, capsys):
    code, err = rollout_with(saved, tmp_path, capsys, env="CartPole-v0")
    assert code == 2 and "task 'CartPole-v0' cannot be built here: unknown task 'CartPole-v0'" in err
