"""The installed entry point assembles every subcommand (run from outside the checkout)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_every_subcommand_is_registered(tmp_path):
    out = subprocess.run([sys.executable, "-m", "eggroll_bench.cli", "--help"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for command in ("envs", "train", "sweep", "status", "plot", "validate", "report", "rollout", "paper", "bench"):
        assert f"\n    {command} " in out.stdout, out.stdout


def _run(argv: list[str]) -> int:
    from eggroll_bench.cli import main

    return main(argv)


def test_envs_listing_is_read_from_the_spec_cache_the_second_time(tmp_path, monkeypatch, capsys):
    from eggroll_bench.cli import envs as envs_cli
    from eggroll_bench.envs import registry, spec_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    tasks = [registry.get_task("CartPole-v1"), registry.get_task("Pendulum-v1")]  # two quick builds
    monkeypatch.setattr(envs_cli, "all_tasks", lambda: tasks)
    built, make = [], registry.make
    monkeypatch.setattr(registry, "make", lambda name: built.append(name) or make(name))

    outputs = []
    for argv in (["envs"], ["envs"], ["envs", "--json"], ["envs", "--json"]):
        built.clear()
        assert _run(argv) == 0
        outputs.append((capsys.readouterr().out, list(built)))
    assert outputs[0][1] == ["CartPole-v1", "Pendulum-v1"]  # first listing: built, then cached
    assert outputs[1] == (outputs[0][0], [])  # same text, nothing built
    assert outputs[2][1] == outputs[3][1] == [] and outputs[2][0] == outputs[3][0]
    assert '"obs_shape": [\n      4\n    ]' in outputs[2][0] and "CartPole-v1" in outputs[1][0]
    files = list((tmp_path / "eggroll-bench").glob("specs-*.json"))
    assert len(files) == 1

    # an entry whose library versions no longer match is rebuilt, and only that one
    data = json.loads(files[0].read_text())
    data["Pendulum-v1"]["key"] = data["Pendulum-v1"]["key"].replace('"gymnax": "', '"gymnax": "0.0.1-')
    files[0].write_text(json.dumps(data))
    built.clear()
    summaries = spec_cache.spec_summaries(tasks)
    assert built == ["Pendulum-v1"]
    assert summaries["Pendulum-v1"] == {"obs_shape": [3], "action_space": summaries["Pendulum-v1"]["action_space"],
                                        "num_agents": 1, "max_steps": 200}
    # an unreadable cache is rebuilt, not an error
    files[0].write_text("{not json")
    built.clear()
    assert _run(["envs"]) == 0 and capsys.readouterr().out == outputs[0][0]
    assert built == ["CartPole-v1", "Pendulum-v1"]


def test_measure_random_unknown_name_exits_2_with_close_matches(capsys):
    from eggroll_bench.algos.measure_random import main

    assert main(["CartPol", "Pendulum-v1"]) == 2
    err = capsys.readouterr().err
    assert "unknown task or suite 'CartPol' (did you mean 'CartPole-v1'?)" in err
    assert "Pendulum-v1'" not in err.split("unknown")[1].split("Tasks")[0]  # a known name is not listed
    assert "Traceback" not in err and "KeyError" not in err


def test_status_without_results_exits_2_and_help_documents_exit_codes(tmp_path, capsys):
    assert _run(["status", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"eggroll-bench status: error: no results in {tmp_path}" in err and "sweep.json" in err
    (tmp_path / "mysweep").mkdir()
    (tmp_path / "mysweep" / "sweep.json").write_text("{}")
    assert _run(["status", str(tmp_path)]) == 2
    assert "Results directories below it: mysweep" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        _run(["status", "--help"])
    assert done.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "Exit status 0:" in help_text and "2: nothing to report" in help_text


def test_status_with_results_exits_0(tmp_path, capsys):
    from test_plots import synthetic_results, write

    write(synthetic_results(), tmp_path)
    assert _run(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "eggroll" in out and "done" in out


@pytest.mark.parametrize("pair", [["lr", "0.01"], ["lr=", "0.01"]])
def test_set_without_equals_names_the_expected_form(pair, capsys):
    with pytest.raises(SystemExit) as done:
        _run(["train", "--algo", "eggroll", "--env", "CartPole-v1", "--set", *pair])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "eggroll-bench train: error: --set expects KEY=VALUE, e.g. --set lr=0.01" in err
    assert "unrecognized arguments" not in err


def test_parse_sets_refuses_a_pair_without_equals():
    from eggroll_bench.algos.config import ConfigError
    from eggroll_bench.cli.train import parse_sets

    assert parse_sets(["lr=0.01", "sigma=0.1"]) == {"lr": "0.01", "sigma": "0.1"}
    with pytest.raises(ConfigError, match="--set expects KEY=VALUE, e.g. --set lr=0.01, got 'lr'"):
        parse_sets(["lr"])
