"""One trial per child process: results come back, exceptions and native crashes become failed trials."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eggroll_bench import plugins
from eggroll_bench.algos.result import EvalPoint, SeedResult, TrainResult
from eggroll_bench.algos.checkpoint import checkpoint_path
from eggroll_bench.sweeps.executors import ExecutorConfig, ExecutorError
from eggroll_bench.sweeps.isolation import TrialCrashed, TrialRaised, run_isolated
from eggroll_bench.sweeps.manager import run_sweep
from eggroll_bench.sweeps.store import ResultsStore
from eggroll_bench.sweeps.sweepfile import load_sweep

REPO = Path(__file__).resolve().parents[1]


# Module-level so that the spawned child can import them.
def child_pid_plus(x: int) -> tuple[int, int]:
    return os.getpid(), x + 1


def environment_seen(name: str) -> tuple[str | None, bool]:
    import jax

    return os.environ.get(name), bool(jax.config.jax_enable_x64)


def raise_value_error() -> None:
    raise ValueError("bad hparam in the child")


def die_by(signum: int) -> None:
    os.kill(os.getpid(), signum)


def scripted_train(algo, env, seeds, overrides=None, total_steps=None, progress=True):
    """return = 1000 * lr + seed; lr 0.03 segfaults, as an XLA compile out of memory did."""
    lr = overrides["lr"]
    if lr == 0.03:
        die_by(signal.SIGSEGV)
    evals = {s: (EvalPoint(total_steps, 2, 1000 * lr + s, 0.0, 0.1),) for s in seeds}
    seed_results = tuple(SeedResult(s, "done", "", total_steps, 2, evals[s]) for s in seeds)
    return TrainResult(algo, env, dict(overrides), total_steps, seed_results, 1.0, 2.0, f"pid {os.getpid()}", {})


def test_the_result_comes_back_from_another_process():
    pid, value = run_isolated(child_pid_plus, 41)
    assert value == 42 and pid != os.getpid()


def test_a_trial_sees_the_environment_as_it_is_when_the_trial_starts(monkeypatch):
    """Trial processes fork from a server started with the first trial (sweeps/isolation.py); each
    must still see the sweep process's environment of the moment, and a `JAX_*` variable changed
    since (JAX reads those when imported, and the server has imported it) gets a fresh interpreter."""
    run_isolated(child_pid_plus, 0)  # the fork server runs from here on
    monkeypatch.setenv("EGGROLL_BENCH_TEST_LATE", "late")
    assert run_isolated(environment_seen, "EGGROLL_BENCH_TEST_LATE") == ("late", False)
    monkeypatch.setenv("JAX_ENABLE_X64", "1")
    assert run_isolated(environment_seen, "EGGROLL_BENCH_TEST_LATE") == ("late", True)


def test_an_exception_in_the_child_is_raised_with_its_traceback():
    with pytest.raises(TrialRaised, match="ValueError: bad hparam in the child") as info:
        run_isolated(raise_value_error)
    assert "raise_value_error" in info.value.child_traceback


@pytest.mark.parametrize("signum, name", [(signal.SIGSEGV, "SIGSEGV"), (signal.SIGKILL, "SIGKILL")])
def test_a_native_crash_is_reported_with_its_signal(signum, name):
    with pytest.raises(TrialCrashed, match=f"killed by {name}"):
        run_isolated(die_by, signum)


SWEEP = """
name = "crashy"
algos = ["openes"]
tasks = ["CartPole-v1"]
seeds = 2
budget = 1000
[openes.grid]
lr = [0.01, 0.03, 0.02]
"""


def test_a_segfaulting_trial_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path):
    (tmp_path / "s.toml").write_text(SWEEP)
    sweep = load_sweep(tmp_path / "s.toml", out=tmp_path / "out")
    lines: list[str] = []
    summary = run_sweep(sweep, train=scripted_train, isolate=True, log=lines.append)
    assert summary.exit_status == 1 and summary.counts == {"done": 2, "diverged": 0, "failed": 1, "pending": 0}
    final = ResultsStore(sweep.out).read().query("row_type == 'final'")
    failed = final[final.status == "failed"]
    assert len(failed) == 2 and failed.error.str.contains("killed by SIGSEGV").all()
    done = final[final.status == "done"].sort_values(["return_mean"])
    assert done.return_mean.tolist() == [10.0, 11.0, 20.0, 21.0]  # the trials after the crash ran too
    assert not done.device.str.contains(f"pid {os.getpid()}").any()  # each in a child
    assert any("killed by SIGSEGV" in line for line in lines)


def timed_train(algo, env, seeds, overrides=None, total_steps=None, progress=True):
    """scripted_train, holding the trial for a second and reporting when it ran and what it had loaded."""
    start = time.time()
    time.sleep(1.0)
    result = scripted_train(algo, env, seeds, overrides, total_steps, progress)
    return TrainResult(result.algo, result.env, result.hparams, result.budget, result.seeds, 1.0, 2.0,
                       f"{start} {time.time()} colorsys={'colorsys' in sys.modules}", {})


def test_two_workers_run_trials_at_once_a_segfault_fails_only_its_trial_and_plugins_reach_each(tmp_path,
                                                                                             monkeypatch):
    monkeypatch.setattr(plugins, "_modules", ["colorsys"])  # as if loaded by --import colorsys
    (tmp_path / "s.toml").write_text(SWEEP.replace("[0.01, 0.03, 0.02]", "[0.01, 0.03, 0.02, 0.04]"))
    sweep = load_sweep(tmp_path / "s.toml", out=tmp_path / "out")
    lines: list[str] = []
    summary = run_sweep(sweep, train=timed_train, isolate=True, executor=ExecutorConfig(workers=2),
                        log=lines.append)
    assert summary.counts == {"done": 3, "diverged": 0, "failed": 1, "pending": 0}
    final = ResultsStore(sweep.out).read().query("row_type == 'final'")
    assert final[final.status == "failed"].error.str.contains("killed by SIGSEGV").all()
    done = final[final.status == "done"].drop_duplicates("trial_id")
    assert sorted(done.return_mean) == [10.0, 20.0, 40.0]
    assert done.device.str.endswith("colorsys=True").all()  # each trial process loaded the sweep's modules
    spans = sorted(tuple(map(float, d.split()[:2])) for d in done.device)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), f"no two trials overlapped: {spans}"
    assert any("running" in line and "pending" in line and "ETA" in line for line in lines)


def hanging_train(algo, env, seeds, overrides=None, total_steps=None, progress=True):
    """scripted_train, except that lr 0.03 never finishes (a hung trial)."""
    if overrides["lr"] == 0.03:
        time.sleep(600)
    return scripted_train(algo, env, seeds, overrides, total_steps, progress)


def test_a_trial_past_its_time_limit_is_killed_recorded_failed_keeps_its_checkpoint_and_the_sweep_goes_on(tmp_path):
    (tmp_path / "s.toml").write_text(SWEEP)
    sweep = load_sweep(tmp_path / "s.toml", out=tmp_path / "out")
    # a checkpoint of every trial, as the runner writes them (the scripted train writes none)
    for trial in sweep.trials:
        checkpoint_path(sweep.out, trial.trial_id).parent.mkdir(parents=True, exist_ok=True)
        checkpoint_path(sweep.out, trial.trial_id).write_bytes(b"state")
    lines: list[str] = []
    start = time.monotonic()
    summary = run_sweep(sweep, train=hanging_train, isolate=True, executor=ExecutorConfig(trial_timeout=5 / 60),
                        log=lines.append)
    assert time.monotonic() - start < 120
    assert summary.exit_status == 1 and summary.counts == {"done": 2, "diverged": 0, "failed": 1, "pending": 0}
    final = ResultsStore(sweep.out).read().query("row_type == 'final'")
    failed = final[final.status == "failed"]
    assert set(failed.error) == {"timed out after 5 s (trial_timeout); its process was killed"}
    assert sorted(final[final.status == "done"].return_mean) == [10.0, 11.0, 20.0, 21.0]  # the trial after it ran
    (hung,) = [t for t in sweep.trials if t.hparams["lr"] == 0.03]
    kept = [t.trial_id for t in sweep.trials if checkpoint_path(sweep.out, t.trial_id).exists()]
    assert kept == [hung.trial_id]  # the timed-out trial resumes from it on --retry-failed; the done ones never
    assert any("each stopped after 5 s (trial_timeout)" in line for line in lines)


def test_in_process_refuses_a_time_limit(tmp_path):
    (tmp_path / "s.toml").write_text(SWEEP)
    sweep = load_sweep(tmp_path / "s.toml", out=tmp_path / "out")
    with pytest.raises(ExecutorError, match="--in-process cannot stop a trial at trial_timeout"):
        run_sweep(sweep, train=scripted_train, isolate=False, executor=ExecutorConfig(trial_timeout=1))
    assert not sweep.out.exists()


PARENT = """
import sys, time
from eggroll_bench.sweeps.isolation import run_isolated
from test_isolation import write_pid_and_sleep
run_isolated(write_pid_and_sleep, sys.argv[1])
"""


def write_pid_and_sleep(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(120)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_killing_the_sweep_process_kills_its_trial(tmp_path):
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pid_file)], cwd=Path(__file__).parent)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid_file.exists(), "the child never started"
        child = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the trial outlived the sweep process"
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has exited; only its parent (init here) has not reaped it
