"""Sweep files, expansion, the sweep manager (resume, lock, failures, tune winners) and its CLI.

Fast tests inject a deterministic `train` double (to script failures and returns); the resume and
concurrency tests run the real runner in subprocesses with tiny budgets. Those compile through the
test session's persistent cache (tests/conftest.py), so only the first one compiles.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from eggroll_bench.algos.result import EvalPoint, SeedResult, TrainResult
from eggroll_bench.provenance import library_versions
from eggroll_bench.cli import sweep as sweep_cli
from eggroll_bench.sweeps.best import BEST_FILE
from eggroll_bench.sweeps.manager import directory_status, run_sweep
from eggroll_bench.sweeps.store import ResultsStore, lock_holder, trial_id
from eggroll_bench.sweeps.sweepfile import SweepError, load_sweep

REPO = Path(__file__).resolve().parents[1]

SMALL = """
name = "small"
algos = ["openes", "ppo"]
tasks = ["CartPole-v1", "Pendulum-v1"]
seeds = 2
budget = 20000

[budgets]
"Pendulum-v1" = 30000

[set]
hidden = 16
eval_every = 2

[openes.set]
pop_size = 8

[openes.grid]
lr = [0.05, 0.02]
sigma = [0.1, 0.05]
"""

# The same sweep with every table and key in another order.
SMALL_REORDERED = """
seeds = 2
budget = 20000
tasks = ["CartPole-v1", "Pendulum-v1"]
algos = ["openes", "ppo"]
name = "small"

[openes.grid]
sigma = [0.1, 0.05]
lr = [0.05, 0.02]

[openes.set]
pop_size = 8

[set]
eval_every = 2
hidden = 16

[budgets]
"Pendulum-v1" = 30000
"""


def write(tmp_path: Path, text: str, name: str = "sweep.toml", out: Path | None = None) -> Path:
    path = tmp_path / name
    path.write_text(text + (f'\nout = "{out}"\n' if out is not None and "out =" not in text else ""))
    return path


def cli(argv: list[str]) -> int:
    """The sweep/status subcommands exactly as `eggroll-bench` wires them."""
    parser = argparse.ArgumentParser(prog="eggroll-bench")
    sweep_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


# --- expansion -----------------------------------------------------------------------------------

def test_expansion_counts_ids_and_budgets(tmp_path):
    sweep = load_sweep(write(tmp_path, SMALL))
    # per task: openes 2x2 grid + ppo 1 = 5 trials; 2 tasks
    assert len(sweep.trials) == 10 and sweep.seeds == (0, 1) and sweep.out == Path("results/small")
    assert len({t.trial_id for t in sweep.trials}) == 10
    for t in sweep.trials:
        assert t.trial_id == trial_id(t.algo, t.env, t.budget, t.hparams)
        assert t.hparams["hidden"] == 16 and t.hparams["eval_every"] == 2 and t.seeds == (0, 1)
        assert t.budget == (30000 if t.env == "Pendulum-v1" else 20000)
    grid = {(t.hparams["lr"], t.hparams["sigma"]) for t in sweep.trials
            if t.algo == "openes" and t.env == "CartPole-v1"}
    assert grid == {(0.05, 0.1), (0.05, 0.05), (0.02, 0.1), (0.02, 0.05)}
    assert all(t.hparams["pop_size"] == 8 for t in sweep.trials if t.algo == "openes")
    ppo = [t for t in sweep.trials if t.algo == "ppo"]
    assert len(ppo) == 2 and all(t.varied == {} for t in ppo)


def test_ids_are_stable_across_parses_and_key_order(tmp_path):
    first = load_sweep(write(tmp_path, SMALL))
    again = load_sweep(write(tmp_path, SMALL))
    reordered = load_sweep(write(tmp_path, SMALL_REORDERED, "other.toml"))
    ids = [t.trial_id for t in first.trials]
    assert ids == [t.trial_id for t in again.trials] == [t.trial_id for t in reordered.trials]
    assert first.sha256 != reordered.sha256  # a different file, the same trials


def test_trials_sharing_a_compiled_shape_are_adjacent(tmp_path):
    text = """
name = "shapes"
algos = ["eggroll"]
tasks = ["CartPole-v1"]
seeds = 1
[eggroll.grid]
lr = [0.1, 0.2]
hidden = [32, 16]
"""
    shapes = [t.hparams["hidden"] for t in load_sweep(write(tmp_path, text)).trials]
    assert shapes in ([16, 16, 32, 32], [32, 32, 16, 16])


def test_random_search_is_reproducible_and_sized(tmp_path):
    text = """
name = "rand"
mode = "tune"
search = "random"
trials = 5
search_seed = 3
algos = ["eggroll"]
tasks = ["CartPole-v1"]
seeds = [4, 9]
[eggroll.grid]
lr = { loguniform = [0.001, 0.1] }
sigma = [0.02, 0.05]
pop_size = { uniform = [8, 64] }
"""
    a = load_sweep(write(tmp_path, text))
    b = load_sweep(write(tmp_path, text))
    assert [t.trial_id for t in a.trials] == [t.trial_id for t in b.trials]
    assert len(a.trials) == 5 and a.seeds == (4, 9)
    for t in a.trials:
        assert 0.001 <= t.hparams["lr"] <= 0.1 and t.hparams["sigma"] in (0.02, 0.05)
        # odd draws are invalid (antithetic pairs) and are drawn again, not errors
        assert isinstance(t.hparams["pop_size"], int) and 8 <= t.hparams["pop_size"] <= 64
        assert t.hparams["pop_size"] % 2 == 0
    other_seed = load_sweep(write(tmp_path, text.replace("search_seed = 3", "search_seed = 4")))
    assert {t.trial_id for t in other_seed.trials} != {t.trial_id for t in a.trials}


def test_shipped_sweep_files_expand():
    counts = {name: len(load_sweep(REPO / "sweeps" / f"{name}.toml").trials)
              for name in ("quick", "core16", "marl", "scaling")}
    assert counts["quick"] == 4 * 4 and counts["scaling"] == 2 * 4 * 3  # quick: EGGROLL at two sigmas
    assert counts["core16"] == 3 * 16 and counts["marl"] == 3 * 3
    scaling = load_sweep(REPO / "sweeps" / "scaling.toml")
    assert {(t.hparams["pop_size"], t.hparams["hidden"]) for t in scaling.trials if t.algo == "eggroll"} == {
        (p, h) for p in (64, 256, 1024, 4096) for h in (64, 256, 1024)}


# --- the paper's sweeps (paper16 needs the [paper] extra; marl does not) -----------------------------

PAPER16_FILES = ("paper16_tune", "paper16_final", "paper16_quick")
ES_SEARCH = {  # arXiv 2511.16652 App. N.4
    "pop_size": {512, 1024, 2048, 4096}, "episodes_per_member": {1, 4, 8}, "optimizer": {"adamw", "sgd", "adam"},
    "lr": {1e-3, 1e-2, 1e-1}, "lr_decay": {0.995, 0.999, 0.9995, 1.0}, "sigma": {0.05, 0.2, 0.5},
    "sigma_decay": {0.995, 0.999, 0.9995, 1.0}, "fitness_shaping": {"centered_rank", "zscore"},
    "deterministic_policy": {True, False},
}
PPO_SEARCH = {
    "clip_eps": {0.1, 0.2, 0.3}, "ent_coef": {0.0, 1e-4, 1e-3}, "gae_lambda": {0.9, 0.95, 0.98},
    "gamma": {0.95, 0.99, 0.995, 0.999}, "lr": {1e-4, 3e-4, 1e-3}, "max_grad_norm": {0.5, 1.0, 2.0},
    "num_envs": {64, 128, 256}, "update_epochs": {4, 8, 16}, "num_minibatches": {16, 32, 64},
    "num_steps": {64, 128, 256}, "vf_coef": {0.5, 0.75, 1.0},
}
PAPER_NETWORK = {"hidden": 256, "depth": 3, "activation": "pqn"}


@pytest.fixture
def paper_extra():
    """Skip (CI's paper run turns this into a failure) unless the paper16 libraries are installed."""
    from eggroll_bench.envs.registry import suite_tasks, unavailable

    missing = unavailable(suite_tasks("paper16"))
    if missing:
        pytest.skip(f"paper16 needs the [paper] extra: {missing}")


def fake_best(sweep, path: Path) -> Path:
    """A best.json choosing each (algo, task)'s first trial, in the format `load_best` reads."""
    first = {}
    for t in sweep.trials:
        first.setdefault((t.algo, t.env), t)
    choices = [{"algo": a, "env": e, "hparams": dict(t.hparams)} for (a, e), t in first.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"choices": choices}))
    return path


@pytest.mark.paper
def test_paper16_tune_expands_to_the_papers_search(paper_extra):
    from eggroll_bench.envs import suites

    sweep = load_sweep(REPO / "sweeps" / "paper16_tune.toml")
    tasks = suites()["paper16"]
    assert len(tasks) == 16 and sweep.tasks == tuple(tasks) and sweep.seeds == (0,)
    assert len(sweep.trials) == 20 * 16 * 3 == 960
    for algo in ("eggroll", "openes", "ppo"):
        for env in tasks:
            assert len([t for t in sweep.trials if (t.algo, t.env) == (algo, env)]) == 20
    for t in sweep.trials:
        assert t.suite == "paper16" and {k: t.hparams[k] for k in PAPER_NETWORK} == PAPER_NETWORK
        space = PPO_SEARCH if t.algo == "ppo" else {**ES_SEARCH, **({"rank": {1, 2, 4}} if t.algo == "eggroll" else {})}
        assert set(t.varied) == set(space), t.algo
        assert all(t.varied[k] in values for k, values in space.items()), t.varied
    assert all(t.hparams["normalize_obs"] for t in sweep.trials if t.algo == "ppo")
    # draws are seeded per algorithm: every task gets the same configurations
    draws = {env: [tuple(sorted(t.varied.items())) for t in sweep.trials if t.algo == "ppo" and t.env == env]
             for env in tasks}
    assert len({tuple(sorted(d)) for d in draws.values()}) == 1



def test_the_cpu_comparison_tunes_each_algorithm_equally_and_reports_other_seeds(tmp_path, monkeypatch):
    """sweeps/cpu_compare*.toml: 8 searched configurations per (algorithm, task) on seed 0 at a quarter
    of the budget, then each choice with seeds 1-5 at the full budget; one network for all."""
    import tomllib

    tune = load_sweep(REPO / "sweeps" / "cpu_compare_tune.toml")
    tasks = {"CartPole-v1", "Acrobot-v1", "Pendulum-v1", "Breakout-MinAtar", "SpaceInvaders-MinAtar",
             "MPE_simple_spread_v3"}
    assert tune.mode == "tune" and tune.seeds == (0,)
    per_cell = Counter((t.algo, t.env) for t in tune.trials)
    assert set(per_cell) == {(a, e) for a in ("eggroll", "openes", "ppo") for e in tasks}
    assert set(per_cell.values()) == {8}  # the same tuning effort for every algorithm
    assert {(t.hparams["hidden"], t.hparams["depth"], t.hparams["activation"]) for t in tune.trials} == {(64, 3, "pqn")}
    final_file = REPO / "sweeps" / "cpu_compare.toml"
    assert Path(tomllib.loads(final_file.read_text())["from_tune"]) == tune.out / BEST_FILE
    monkeypatch.chdir(tmp_path)
    fake_best(tune, tmp_path / tune.out / BEST_FILE)
    final = load_sweep(final_file)
    assert final.seeds == (1, 2, 3, 4, 5) and not set(final.seeds) & set(tune.seeds)
    chosen = {(t.algo, t.env): t for t in tune.trials[::-1]}
    assert len(final.trials) == 18
    for t in final.trials:
        assert t.budget == 4 * chosen[(t.algo, t.env)].budget
        assert dict(t.hparams) == dict(chosen[(t.algo, t.env)].hparams)


@pytest.mark.paper
def test_paper16_final_runs_the_tuned_choices_with_ten_held_out_seeds(paper_extra, tmp_path, monkeypatch):
    import tomllib

    final_file = REPO / "sweeps" / "paper16_final.toml"
    tune = load_sweep(REPO / "sweeps" / "paper16_tune.toml")
    # the final sweep reads the best.json the tune sweep writes in its own output directory
    assert Path(tomllib.loads(final_file.read_text())["from_tune"]) == tune.out / BEST_FILE
    monkeypatch.chdir(tmp_path)  # the relative results/ paths now point into tmp_path
    with pytest.raises(SweepError, match="does not exist \\(run the tune sweep first\\)"):
        load_sweep(final_file)
    deferred = load_sweep(final_file, defer_from_tune=True)  # checked before the tune sweep has run
    assert len(deferred.trials) == 48
    fake_best(tune, tmp_path / tune.out / BEST_FILE)
    final = load_sweep(final_file)
    assert len(final.trials) == 16 * 3 == 48 and final.seeds == tuple(range(1, 11))
    chosen = {(t.algo, t.env): t for t in tune.trials[::-1]}  # the first trial per pair, as fake_best chose
    for t in final.trials:
        assert t.suite == "paper16" and t.budget == chosen[(t.algo, t.env)].budget
        assert dict(t.hparams) == dict(chosen[(t.algo, t.env)].hparams)


@pytest.mark.paper
def test_paper16_quick_expands(paper_extra):
    sweep = load_sweep(REPO / "sweeps" / "paper16_quick.toml")
    assert len(sweep.trials) == 16 * 3 == 48 and sweep.seeds == (0, 1)
    assert {t.suite for t in sweep.trials} == {"paper16"}
    assert all({k: t.hparams[k] for k in PAPER_NETWORK} == PAPER_NETWORK for t in sweep.trials)
    assert max(t.budget for t in sweep.trials) <= 500_000


def test_marl_tune_expands():
    sweep = load_sweep(REPO / "sweeps" / "marl_tune.toml")
    # per task: 20 random draws for each ES method, PPO's single configuration (it has no grid)
    assert len(sweep.trials) == 3 * (20 + 20 + 1) == 123 and sweep.seeds == (0, 1, 2)
    space = {"activation": {"tanh", "relu", "pqn"}, "pop_size": {128, 256, 512, 1024, 2048, 4096},
             "lr": {0.01, 0.05, 0.1, 0.5}, "sigma": {0.1, 0.2, 0.3, 0.4, 0.5}}
    for t in sweep.trials:
        assert (t.hparams["hidden"], t.hparams["depth"], t.suite) == (64, 3, "marl")
        if t.algo == "ppo":
            assert t.varied == {}
            continue
        assert set(t.varied) == set(space) and all(t.varied[k] in v for k, v in space.items())
        assert t.hparams["optimizer"] == "adamw" and t.hparams["lr_decay"] == 1.0
        assert t.algo == "openes" or t.hparams["rank"] == 1


def test_suite_label_is_the_suite_the_sweep_named(tmp_path, monkeypatch):
    """CartPole-v1 belongs to core16 and paper16: its rows say which one the sweep listed it through."""
    from eggroll_bench.envs import registry

    monkeypatch.setattr(registry, "unavailable", lambda tasks: None)  # labels need no environment library
    text = 'name = "labels"\nalgos = ["ppo"]\nseeds = 1\ntasks = {}\n'

    def labels(tasks: str) -> dict[str, str]:
        return {t.env: t.suite for t in load_sweep(write(tmp_path, text.format(tasks))).trials}

    assert labels('["CartPole-v1"]') == {"CartPole-v1": "core16"}
    by_paper = labels('["paper16"]')
    assert len(by_paper) == 16 and set(by_paper.values()) == {"paper16"}
    both = labels('["core16", "paper16", "MPE_simple_spread_v3"]')
    assert both["CartPole-v1"] == "core16" and both["Craftax-Symbolic-v1"] == "paper16"
    assert both["MPE_simple_spread_v3"] == "marl" and len(both) == 16 + 11 + 1


def test_missing_paper_extra_is_a_clear_error_before_anything_runs(tmp_path, monkeypatch, capsys):
    from eggroll_bench.envs import registry

    message = 'not installed: craftax (needed by Craftax-Symbolic-v1). Install the optional environments with: ' \
              'pip install -e ".[paper]"'
    monkeypatch.setattr(registry, "unavailable", lambda tasks: message)
    out = tmp_path / "out"
    assert cli(["sweep", str(REPO / "sweeps" / "paper16_quick.toml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "paper16_quick.toml, line 9: tasks: not installed: craftax" in err and 'pip install -e ".[paper]"' in err
    assert "Traceback" not in err and not out.exists()


def test_paper16_without_the_extra_names_the_packages():
    """Where the extra really is missing (the base install), the real check, unpatched."""
    from eggroll_bench.envs.registry import suite_tasks, unavailable

    if unavailable(suite_tasks("paper16")) is None:
        pytest.skip("the [paper] extra is installed here")
    with pytest.raises(SweepError, match=r'tasks: not installed: .*pip install -e "\.\[paper\]"'):
        load_sweep(REPO / "sweeps" / "paper16_tune.toml")


# --- eggroll-bench paper ---------------------------------------------------------------------------

def paper_cli(argv: list[str]) -> int:
    from eggroll_bench.cli import paper as module

    parser = argparse.ArgumentParser(prog="eggroll-bench")
    module.add_parser(parser.add_subparsers())
    args = parser.parse_args(["paper", *argv])
    return args.func(args)


class Recorder:
    """Stands in for run_sweep and render_all: records the calls; a tune sweep writes a best.json."""

    def __init__(self):
        self.ran, self.rendered, self.isolated = [], [], []

    def run_sweep(self, sweep, **kwargs):
        from eggroll_bench.sweeps.manager import RunSummary

        self.ran.append(sweep.name)
        self.isolated.append(kwargs.get("isolate", False))
        if sweep.mode == "tune":
            fake_best(sweep, sweep.out / BEST_FILE)
        return RunSummary(ran=len(sweep.trials), skipped=0, counts={"done": len(sweep.trials), "failed": 0})

    def render_all(self, out, style="robust", inference=None):
        self.rendered.append((Path(out).name, style))
        return {"curves_env_steps": [Path(out) / "figures" / "curves_env_steps.png"]}


@pytest.fixture
def recorder(monkeypatch, tmp_path):
    from eggroll_bench import plots
    from eggroll_bench.sweeps import manager

    rec = Recorder()
    monkeypatch.setattr(manager, "run_sweep", rec.run_sweep)
    monkeypatch.setattr(plots, "render_all", rec.render_all)
    monkeypatch.chdir(tmp_path)
    return rec


def test_paper_quick_with_a_suite_other_than_paper16_is_refused(recorder, capsys):
    assert paper_cli(["--quick", "--suite", "core16"]) == 2
    err = capsys.readouterr().err
    assert "--quick runs sweeps/quick.toml, or with --suite paper16" in err and recorder.ran == []


def test_paper_paper16_without_the_extra_stops_before_any_work(recorder, monkeypatch, capsys):
    from eggroll_bench.envs import registry

    monkeypatch.setattr(registry, "unavailable", lambda tasks: 'not installed: navix. pip install -e ".[paper]"')
    for argv in (["--suite", "paper16"], ["--quick", "--suite", "paper16"]):
        assert paper_cli(argv) == 2
        err = capsys.readouterr().err
        assert 'not installed: navix. pip install -e ".[paper]"' in err and "Traceback" not in err
    assert recorder.ran == [] and recorder.rendered == []


@pytest.mark.paper
def test_paper_paper16_chains_tune_then_final_and_plots_both_styles(paper_extra, recorder, capsys):
    assert paper_cli(["--suite", "paper16"]) == 0
    assert recorder.ran == ["paper16-tune", "paper16"]  # the final loaded the tune sweep's best.json
    assert recorder.rendered == [("paper16", "paper")]  # the paper style draws every robust figure too
    assert paper_cli(["--quick", "--suite", "paper16"]) == 0
    assert recorder.ran[-1] == "paper16-quick" and recorder.rendered[-1] == ("paper16-quick", "paper")
    assert paper_cli(["--quick", "--suite", "paper16", "--style", "robust"]) == 0
    assert recorder.rendered[-1] == ("paper16-quick", "robust")


def test_paper_quick_alone_runs_quick_toml_in_the_robust_style(recorder):
    assert paper_cli(["--quick"]) == 0
    assert recorder.ran == ["quick"] and recorder.rendered == [("quick", "robust")]


def test_paper_runs_each_trial_in_its_own_process_unless_in_process(recorder):
    assert paper_cli(["--quick"]) == 0 and paper_cli(["--quick", "--in-process"]) == 0
    assert recorder.isolated == [True, False]


# --- bad input: a clear message, exit status 2, nothing touched -----------------------------------

@pytest.fixture
def existing(tmp_path):
    """A results directory of sweep 'small' with a finished row in it, and its bytes."""
    out = tmp_path / "existing"
    sweep = load_sweep(write(tmp_path, SMALL, "small.toml"), out=out)
    run_sweep(sweep, train=FakeTrain(), log=lambda line: None)
    return out, snapshot(out)


BAD = {
    "malformed TOML": ('name = "small"\nalgos = ["openes"\ntasks = []\n', [r"line 3", "invalid TOML"]),
    "unknown key": (SMALL.replace("seeds = 2", "seeds = 2\nseed = 1"),
                    [r"line 6", "unknown key 'seed'", "Did you mean 'seeds'", "Allowed: name"]),
    "unknown hyperparameter": (SMALL.replace("pop_size = 8", "popsize = 8"),
                               ["unknown openes hyperparameter 'popsize' in [openes.set]", "pop_size"]),
    "unknown algorithm": (SMALL.replace('["openes", "ppo"]', '["openes", "egroll"]'),
                          ["unknown algorithm 'egroll' in algos", "Did you mean 'eggroll'", "eggroll, openes, ppo"]),
    "unknown task": (SMALL.replace('"Pendulum-v1"]', '"Pendulum-v2"]'),
                     ["unknown task 'Pendulum-v2'", "Did you mean 'Pendulum-v1'"]),
    "grid value of the wrong type": (SMALL.replace("sigma = [0.1, 0.05]", 'sigma = [0.1, "big"]'),
                                     ["[openes.grid]", "sigma = 'big'", "expected float, got string", "line 20"]),
    "grid of an int field given a float": (SMALL.replace("sigma = [0.1, 0.05]", "hidden = [16, 1.5]"),
                                           ["[openes.grid]", "hidden = 1.5", "expected integer, got float", "line 20"]),
    "invalid hyperparameter value": (SMALL.replace("pop_size = 8", "pop_size = 7"),
                                     ["line 16", "openes on CartPole-v1", "pop_size must be even"]),
    "bad budget": (SMALL.replace("budget = 20000", 'budget = "huge"'), ["budget = 'huge'", "'quick', 'gpu'"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_sweep_file_is_refused_before_touching_results(case, tmp_path, existing, capsys):
    out, before = existing
    text, expected = BAD[case]
    path = write(tmp_path, text, "bad.toml")
    assert cli(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert snapshot(out) == before
    with pytest.raises(SweepError):
        load_sweep(path)


def test_output_directory_of_another_sweep_is_refused(tmp_path, existing, capsys):
    out, before = existing
    path = write(tmp_path, SMALL.replace('name = "small"', 'name = "intruder"'), "intruder.toml")
    assert cli(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "sweep.json" in err and "'small'" in err and "'intruder'" in err and "Traceback" not in err
    assert snapshot(out) == before


def test_dry_run_lists_trials_and_writes_nothing(tmp_path, existing, capsys):
    out, before = existing
    assert cli(["sweep", str(write(tmp_path, SMALL)), "--out", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "call 1: 4 trials in one compile"  # the openes lr grid shares one program
    assert lines[1].startswith("  [1/10] openes CartPole-v1 [") and lines[-1].startswith("10 trials in 4 compiled calls")
    assert snapshot(out) == before


def test_directory_with_lone_results_is_refused(tmp_path, capsys):
    out = tmp_path / "lone"
    ResultsStore(out).append(FakeTrain().rows_for("t0"))
    before = snapshot(out)
    assert cli(["sweep", str(write(tmp_path, SMALL)), "--out", str(out)]) == 2
    assert "no sweep.json" in capsys.readouterr().err
    assert snapshot(out) == before


# --- the manager with a scripted train ------------------------------------------------------------

class FakeTrain:
    """Deterministic stand-in for algos.runner.train: return = 1000*lr + seed, scripted failures."""

    def __init__(self, raise_for=(), diverge_for=()):
        self.raise_for, self.diverge_for, self.calls = set(raise_for), set(diverge_for), []

    def __call__(self, algo, env, seeds, overrides=None, total_steps=None, progress=True):
        lr = overrides["lr"]
        self.calls.append((algo, env, tuple(seeds), lr))
        if (algo, lr) in self.raise_for:
            raise RuntimeError(f"simulated crash at lr={lr}")
        status = "diverged" if (algo, lr) in self.diverge_for else "done"
        diverged = status == "diverged"

        def seed_result(s):
            last = EvalPoint(200, 4, float("nan") if diverged else 1000 * lr + s, 0.0, 0.2)
            return SeedResult(s, status, "nan" if diverged else "", 200, 4, (EvalPoint(100, 2, 1.0, 0.0, 0.1), last))

        results = tuple(seed_result(s) for s in seeds)
        # the versions the runner records: a resumed sweep compares them with its own
        return TrainResult(algo, env, dict(overrides), total_steps, results, 1.0, 2.0, "fake", library_versions(), 1)

    def rows_for(self, tid):
        from eggroll_bench.sweeps.store import rows_from_result
        result = self("openes", "CartPole-v1", [0], {"lr": 0.1}, 200)
        return rows_from_result(result, sweep="", trial_id=tid, suite="core16", random_return=None)


TUNE = """
name = "tune"
mode = "tune"
algos = ["openes", "ppo"]
tasks = ["CartPole-v1"]
seeds = 2
budget = 20000
[openes.grid]
lr = [0.01, 0.03, 0.02]
[ppo.grid]
lr = [0.001]
"""


def test_failures_are_recorded_the_sweep_goes_on_and_exit_is_1(tmp_path):
    sweep = load_sweep(write(tmp_path, TUNE), out=tmp_path / "out")
    fake = FakeTrain(raise_for={("openes", 0.03)}, diverge_for={("ppo", 0.001)})
    summary = run_sweep(sweep, train=fake, log=lambda line: None)
    assert len(fake.calls) == 4 and summary.exit_status == 1
    table = ResultsStore(sweep.out).read()
    final = table[table.row_type == "final"]
    failed = final[final.status == "failed"]
    assert len(failed) == 2 and failed.error.str.contains("RuntimeError: simulated crash at lr=0.03").all()
    assert (final[final.algo == "ppo"].status == "diverged").all()
    # the tune winner is the best finished configuration; diverged and failed ones never win
    best = json.loads((sweep.out / BEST_FILE).read_text())
    choice = {c["algo"]: c for c in best["choices"]}
    assert choice["openes"]["hparams"]["lr"] == 0.02 and choice["openes"]["final_return"] == 20.5
    assert [m["algo"] for m in best["missing"]] == ["ppo"]

    # a re-run skips everything (failed trials included) ...
    again = FakeTrain()
    assert run_sweep(sweep, train=again, log=lambda line: None).exit_status == 1 and again.calls == []
    # ... unless asked to retry them: the failed rows are replaced, not duplicated
    retry = FakeTrain(diverge_for={("ppo", 0.001)})
    assert run_sweep(sweep, retry_failed=True, train=retry, log=lambda line: None).exit_status == 0
    assert retry.calls == [("openes", "CartPole-v1", (0, 1), 0.03)]
    final = ResultsStore(sweep.out).read().query("row_type == 'final'")
    assert len(final) == 8 and not final.duplicated(["trial_id", "seed"]).any()
    assert json.loads((sweep.out / BEST_FILE).read_text())["choices"][0]["hparams"]["lr"] == 0.03


def test_select_best_averages_exactly_the_trials_current_seeds(tmp_path):
    from eggroll_bench.sweeps.manager import select_best

    three = load_sweep(write(tmp_path, TUNE.replace("seeds = 2", "seeds = 3")), out=tmp_path / "out")
    run_sweep(three, train=FakeTrain(), log=lambda line: None)  # rows of seeds 0, 1, 2 (return 1000 lr + seed)
    table = ResultsStore(three.out).read()
    two = load_sweep(write(tmp_path, TUNE), out=tmp_path / "out")  # the file now lists seeds 0, 1: same trial ids
    choice = {c["algo"]: c for c in select_best(two, table)["choices"]}
    assert choice["openes"]["final_return"] == 30.5 and choice["openes"]["seeds"] == [0, 1]  # not 31 (seed 2)
    # a trial holding other seeds than the file's (0 and 2, not 1) is pending, not a candidate
    other = load_sweep(write(tmp_path, TUNE.replace("seeds = 2", "seeds = [0, 1, 5]")), out=tmp_path / "out")
    assert select_best(other, table)["choices"] == []


def test_final_mode_takes_the_tuned_configuration(tmp_path):
    tune = load_sweep(write(tmp_path, TUNE), out=tmp_path / "tune")
    run_sweep(tune, train=FakeTrain(), log=lambda line: None)
    final_text = f"""
name = "final"
mode = "final"
from_tune = "{tune.out / BEST_FILE}"
algos = ["openes"]
tasks = ["CartPole-v1"]
seeds = 5
budget = 20000
[set]
eval_every = 3
"""
    final = load_sweep(write(tmp_path, final_text, "final.toml"))
    (trial,) = final.trials
    assert trial.hparams["lr"] == 0.03 and trial.hparams["eval_every"] == 3 and trial.seeds == tuple(range(5))
    missing = final_text.replace('algos = ["openes"]', 'algos = ["openes", "eggroll"]')
    with pytest.raises(SweepError, match="no choice for eggroll/CartPole-v1"):
        load_sweep(write(tmp_path, missing, "final.toml"))


def test_status_counts_pending_from_the_recorded_sweep_file(tmp_path, capsys):
    sweep = load_sweep(write(tmp_path, TUNE), out=tmp_path / "out")
    # run only the first two trials: the scripted train interrupts the sweep after them
    calls = []

    def two_then_stop(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args)
        return FakeTrain(raise_for={("openes", 0.01)})(*args, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, train=two_then_stop, log=lambda line: None)
    status = directory_status(sweep.out)
    assert status.name == "tune" and status.running is None
    assert status.by_algo["openes"] == {"done": 1, "diverged": 0, "failed": 1, "pending": 1}
    assert status.by_algo["ppo"] == {"done": 0, "diverged": 0, "failed": 0, "pending": 1}
    assert cli(["status", str(sweep.out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"] == {"done": 1, "diverged": 0, "failed": 1, "pending": 2}
    (failure,) = report["failures"]
    assert failure["algo"] == "openes" and "RuntimeError: simulated crash at lr=0.01" in failure["error"]
    assert cli(["status", str(sweep.out)]) == 0
    text = capsys.readouterr().out
    assert "failed trials" in text and f"openes CartPole-v1 [{failure['trial_id']}]: RuntimeError" in text


# --- the real runner in subprocesses: resume after SIGKILL, concurrent sweeps --------------------

TINY = """
name = "tiny"
algos = ["openes"]
tasks = ["CartPole-v1"]
seeds = 2
budget = 20000
[set]
pop_size = 8
hidden = 16
depth = 1
eval_every = 2
eval_episodes = 2
[openes.grid]
lr = [0.05, 0.02]
"""
DETERMINISTIC = ["trial_id", "row_type", "seed", "env_steps", "updates", "return_mean", "return_std", "status",
                 "hparams", "budget"]


@pytest.fixture(scope="module")
def jax_env():
    # the subprocesses compile through the session's persistent cache (tests/conftest.py sets it in
    # the environment they inherit), so a program is compiled once for every test that trains it
    return {**os.environ, "JAX_PLATFORMS": "cpu"}


def start(path: Path, out: Path, env: dict, *flags: str) -> subprocess.Popen:
    """The sweep command, one trial per compiled call (--no-group), so that a kill can land between trials."""
    return subprocess.Popen([sys.executable, "-m", "eggroll_bench.cli", "sweep", str(path), "--out", str(out),
                             "--no-group", *flags],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def deterministic(out: Path) -> pd.DataFrame:
    table = ResultsStore(out).read()
    return table[DETERMINISTIC].sort_values(DETERMINISTIC).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, jax_env):
    """An uninterrupted run of TINY (and the file), run once for the module, in-process: the resumed
    run below is isolated (the default), so equal rows also show that isolation changes no result."""
    tmp = tmp_path_factory.mktemp("reference")
    path = write(tmp, TINY)
    proc = start(path, tmp / "out", jax_env, "--in-process")
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert "[2/2]" in stdout and "ETA" in stdout
    return path, deterministic(tmp / "out")


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path, reference, jax_env):
    path, expected = reference
    out = tmp_path / "out"
    # one worker: on a 2-core machine the default is two, and the two trials (one program, compiled
    # once) would then finish together; one after the other, the second's process start leaves seconds
    proc = start(path, out, jax_env, "--workers", "1")
    deadline = time.monotonic() + 300
    while not ResultsStore(out).finished() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # as soon as the first trial's rows are in, mid-way through the second
    proc.communicate()
    assert len(ResultsStore(out).finished()) == 1, "the kill did not land between the two trials"

    proc = start(path, out, jax_env)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert "1 already finished, 1 to run" in stdout
    got = deterministic(out)
    assert not got.duplicated().any()
    pd.testing.assert_frame_equal(got, expected)
    assert set(ResultsStore(out).finished()) == set(expected.trial_id)


def test_a_second_sweep_process_on_the_directory_is_refused(tmp_path, reference, jax_env):
    path, expected = reference
    out = tmp_path / "out"
    first = start(path, out, jax_env, "--in-process")  # the lock is the sweep process's: no child needed
    deadline = time.monotonic() + 120
    while lock_holder(out) is None and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGSTOP)  # hold it inside its locked section while the second one tries
    try:
        second = subprocess.run([sys.executable, "-m", "eggroll_bench.cli", "sweep", str(path), "--out", str(out)],
                                cwd=REPO, env=jax_env, capture_output=True, text=True, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2
    assert f"in use by another sweep (pid {first.pid}" in second.stderr and "--wait" in second.stderr
    assert "Traceback" not in second.stderr
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    pd.testing.assert_frame_equal(deterministic(out), expected)  # the first run finished intact


# A trial long enough (about 3 s of training after a compile) for a kill to land between its checkpoints.
LONG = """
name = "long"
algos = ["openes"]
tasks = ["CartPole-v1"]
seeds = 2
budget = 3000000
[set]
pop_size = 8
hidden = 16
depth = 1
eval_every = 20
eval_episodes = 2
lr = 0.05
"""


def descendants(pid: int) -> set[int]:
    """Every descendant of `pid` (a sweep's trial processes and multiprocessing's helpers)."""
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids |= {int(c) for c in (task / "children").read_text().split()}
    for kid in list(kids):
        try:
            kids |= descendants(kid)
        except FileNotFoundError:
            pass
    return kids


def trial_process(sweep_pid: int) -> int | None:
    """The pid of the sweep's running trial process, if there is one: a child of the fork server
    (the sweep process's child that runs multiprocessing.forkserver; sweeps/isolation.py)."""
    for server in descendants(sweep_pid):
        try:
            if b"multiprocessing.forkserver" not in Path(f"/proc/{server}/cmdline").read_bytes():
                continue
            trials = descendants(server)
        except FileNotFoundError:
            continue
        if trials:
            return min(trials)
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux-only")
def test_a_killed_trial_keeps_its_checkpoint_and_its_retry_resumes_to_the_uninterrupted_rows(tmp_path, jax_env):
    path = write(tmp_path, LONG)
    proc = start(path, tmp_path / "whole", jax_env, "--in-process")  # the reference, never checkpointed
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr

    out = tmp_path / "out"
    proc = start(path, out, jax_env, "--checkpoint-every", "0")  # a checkpoint after every chunk
    (tid,) = [t.trial_id for t in load_sweep(path).trials]
    ckpt = out / "checkpoints" / f"{tid}.msgpack"
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    trial = trial_process(proc.pid)
    assert ckpt.exists() and trial is not None, "the trial never checkpointed"
    os.kill(trial, signal.SIGKILL)  # as the OOM killer would: the trial's process only, mid-way
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    final = ResultsStore(out).read().query("row_type == 'final'")
    assert (final.status == "failed").all() and final.error.str.contains("killed by SIGKILL").all(), \
        "the kill did not land mid-trial"
    assert ckpt.exists(), "the failed trial's checkpoint was discarded"

    proc = start(path, out, jax_env, "--retry-failed")
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    resumed = [line for line in stdout.splitlines() if line.startswith(f"resuming trial {tid} from")]
    assert resumed and "env steps 0," not in resumed[0], stdout  # from the checkpoint, not from step 0
    got = deterministic(out)
    assert not got.duplicated().any()
    pd.testing.assert_frame_equal(got, deterministic(tmp_path / "whole"))
    assert not ckpt.exists()  # done now: discarded


def test_a_real_trial_past_the_time_limit_flag_is_killed_and_recorded_failed(tmp_path, jax_env):
    path = write(tmp_path, LONG.replace("budget = 3000000", "budget = 1000000000"))  # hours on this CPU
    start_s = time.monotonic()
    proc = start(path, tmp_path / "out", jax_env, "--trial-timeout", "0.1")  # 6 s
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    assert time.monotonic() - start_s < 120 and "each stopped after 6 s (trial_timeout)" in stdout
    final = ResultsStore(tmp_path / "out").read().query("row_type == 'final'")
    assert list(final.status) == ["failed", "failed"]
    assert set(final.error) == {"timed out after 6 s (trial_timeout); its process was killed"}
