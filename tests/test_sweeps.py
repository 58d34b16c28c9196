"""Sweep files, expansion, the sweep manager (resume, lock, failures, tune winners) and its CLI.

Fast tests inject a deterministic `train` double (to script failures and returns); the resume and
concurrency tests run the real runner in subprocesses with tiny budgets. Those share a persistent
JAX compilation cache (a temporary directory of the module), so only the first one compiles.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from algos.result import EvalPoint, SeedResult, TrainResult
from sweeps import sweep_cli
from sweeps.manager import BEST_FILE, directory_status, run_sweep
from sweeps.store import ResultsStore, lock_holder, trial_id
from sweeps.sweepfile import SweepError, load_sweep

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
    assert counts["quick"] == 9 and counts["scaling"] == 2 * 4 * 3
    assert counts["core16"] == 3 * 16 and counts["marl"] == 3 * 3
    scaling = load_sweep(REPO / "sweeps" / "scaling.toml")
    assert {(t.hparams["pop_size"], t.hparams["hidden"]) for t in scaling.trials if t.algo == "eggroll"} == {
        (p, h) for p in (64, 256, 1024, 4096) for h in (64, 256, 1024)}


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
    assert lines[0].startswith("[1/10] openes CartPole-v1 [") and "10 trials" in lines[-1]
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
        return TrainResult(algo, env, dict(overrides), total_steps, results, 1.0, 2.0, "fake", {"jax": "x"})

    def rows_for(self, tid):
        from sweeps.store import rows_from_result
        result = self("openes", "CartPole-v1", [0], {"lr": 0.1}, 200)
        return rows_from_result(result, sweep="", trial_id=tid, suite="core16", num_agents=1, random_return=None)


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
def jax_env(tmp_path_factory):
    # one compilation cache for the module's subprocesses, so only the first one pays for compiling
    cache = tmp_path_factory.mktemp("jax-compilation-cache")
    return {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(cache),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def start(path: Path, out: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sweeps.cli", "sweep", str(path), "--out", str(out)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def deterministic(out: Path) -> pd.DataFrame:
    table = ResultsStore(out).read()
    return table[DETERMINISTIC].sort_values(DETERMINISTIC).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, jax_env):
    """An uninterrupted run of TINY (and the file), run once for the module."""
    tmp = tmp_path_factory.mktemp("reference")
    path = write(tmp, TINY)
    proc = start(path, tmp / "out", jax_env)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert "[2/2]" in stdout and "ETA" in stdout
    return path, deterministic(tmp / "out")


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path, reference, jax_env):
    path, expected = reference
    out = tmp_path / "out"
    proc = start(path, out, jax_env)
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
    first = start(path, out, jax_env)
    deadline = time.monotonic() + 120
    while lock_holder(out) is None and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGSTOP)  # hold it inside its locked section while the second one tries
    try:
        second = subprocess.run([sys.executable, "-m", "sweeps.cli", "sweep", str(path), "--out", str(out)],
                                cwd=REPO, env=jax_env, capture_output=True, text=True, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2
    assert f"in use by another sweep (pid {first.pid}" in second.stderr and "--wait" in second.stderr
    assert "Traceback" not in second.stderr
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    pd.testing.assert_frame_equal(deterministic(out), expected)  # the first run finished intact
