"""Trials in parallel (a local pool, Ray tasks) and compiles reused across processes.

Every sweep here is a real `eggroll-bench sweep` subprocess running real CartPole-v1 trials. They
share one persistent compilation cache: the reference run fills it (its first trials report
`compile_cached` False), and every later run, in fresh processes, must load its compiles from it
(`compile_cached` True) and reproduce the reference's returns exactly.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from eggroll_bench.sweeps.executors import (CPU_WORKERS_MAX, ExecutorConfig, ExecutorError, RayExecutor, plan_devices,
                                           settings)
from eggroll_bench.sweeps.isolation import TrialTimedOut
from eggroll_bench.sweeps.manager import _after_training
from eggroll_bench.sweeps.store import ResultsStore
from eggroll_bench.sweeps.sweepfile import SweepError, load_executor_table, load_sweep
from test_sweeps import TINY, descendants

REPO = Path(__file__).resolve().parents[1]
# test_sweeps' kill-and-resume sweep, with four learning rates so that two workers stay busy
TINY4 = TINY.replace('name = "tiny"', 'name = "tiny4"').replace("lr = [0.05, 0.02]", "lr = [0.05, 0.02, 0.03, 0.04]")
DETERMINISTIC = ["trial_id", "row_type", "seed", "env_steps", "updates", "return_mean", "return_std", "status",
                 "hparams", "budget"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("executors")
    path = tmp / "tiny4.toml"
    path.write_text(TINY4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EGGROLL_BENCH_", "JAX_COMPILATION_CACHE"))}
    env["JAX_PLATFORMS"] = "cpu"
    return path, ["--compile-cache", str(tmp / "jax-cache")], env


def sweep(path: Path, out: Path, env: dict, *flags: str) -> subprocess.Popen:
    """The sweep command, one trial per compiled call (--no-group: the lr grid would otherwise be one
    job), so that trials run side by side on the workers and a kill can land between them."""
    return subprocess.Popen([sys.executable, "-m", "eggroll_bench.cli", "sweep", str(path), "--out", str(out),
                             "--no-group", *flags],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finals(out: Path) -> pd.DataFrame:
    table = ResultsStore(out).read()
    return table[table["row_type"] == "final"]


def deterministic(out: Path) -> pd.DataFrame:
    table = ResultsStore(out).read()
    return table[DETERMINISTIC].sort_values(DETERMINISTIC).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(setup, tmp_path_factory):
    """One uninterrupted run, two trial processes at once, with an empty compilation cache."""
    path, cache, env = setup
    out = tmp_path_factory.mktemp("reference") / "out"
    proc = sweep(path, out, env, "--workers", "2", *cache)
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr
    assert "local pool of 2 trial processes" in stdout and "running" in stdout and "ETA" in stdout
    # nothing was cached before it: the first trials compile; the grid's lr is traced, so its trials
    # share one program, and those that start after one finished may already load it from the cache
    cached = finals(out).sort_values("timestamp")["compile_cached"].astype(str).tolist()
    assert cached[0] == "False" and set(cached) <= {"False", "True"}
    assert set(finals(out)["host_trials"]) == {2}  # each row says it shared the host with another trial
    return deterministic(out)


def test_one_worker_gives_the_rows_of_two_and_loads_every_compile_from_the_cache(setup, reference, tmp_path):
    path, cache, env = setup
    proc = sweep(path, tmp_path / "out", env, "--workers", "1", *cache)
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr
    pd.testing.assert_frame_equal(deterministic(tmp_path / "out"), reference)
    assert (finals(tmp_path / "out")["compile_cached"].astype(str) == "True").all()
    assert set(finals(tmp_path / "out")["host_trials"]) == {1}


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux-only")
def test_sigkill_with_two_trials_running_then_rerun_loses_and_duplicates_nothing(setup, reference, tmp_path):
    path, cache, env = setup
    out = tmp_path / "out"
    proc = sweep(path, out, env, "--workers", "2", *cache)
    deadline, busy = time.monotonic() + 600, set()
    while not ResultsStore(out).finished() and proc.poll() is None and time.monotonic() < deadline:
        busy |= descendants(proc.pid)
        time.sleep(0.01)
    busy |= descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)  # the first trial's rows are in; the pool was running two
    proc.communicate()
    assert 1 <= len(ResultsStore(out).finished()) < 4, "the kill did not land mid-sweep"
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in busy) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert busy and not any(_alive(p) for p in busy), "a trial process outlived the sweep process"

    proc = sweep(path, out, env, "--workers", "2", *cache)
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr
    got = deterministic(out)
    assert not got.duplicated().any()
    pd.testing.assert_frame_equal(got, reference)


@pytest.mark.ray
def test_ray_tasks_on_a_local_cluster_give_the_same_rows(setup, reference, tmp_path):
    pytest.importorskip("ray", reason='the [ray] extra: pip install -e ".[ray]"')
    path, cache, env = setup
    proc = sweep(path, tmp_path / "out", env, "--executor", "ray", "--workers", "2", *cache)
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr
    assert "Ray cluster started here (2 CPUs, 0 GPUs), 2 trials at once" in stdout
    pd.testing.assert_frame_equal(deterministic(tmp_path / "out"), reference)
    assert set(finals(tmp_path / "out")["host_trials"]) == {2}  # the node's 2 CPUs, 1 per trial


def _refused(setup, tmp_path, *flags: str, env: dict | None = None) -> str:
    path, cache, base = setup
    proc = sweep(path, tmp_path / "out", env or base, *flags)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, (stdout, stderr)
    assert "Traceback" not in stderr and not (tmp_path / "out").exists()  # refused before touching anything
    return stderr


@pytest.mark.ray
def test_an_unreachable_ray_address_is_refused_at_once_naming_it(setup, tmp_path):
    pytest.importorskip("ray")
    start = time.monotonic()
    err = _refused(setup, tmp_path, "--executor", "ray", "--address", "127.0.0.1:1")
    assert "--address 127.0.0.1:1: no Ray cluster reachable there" in err and time.monotonic() - start < 60


BLOCK_RAY = "import sys; sys.modules['ray'] = None  # as if the [ray] extra were not installed\n"


def test_without_ray_the_ray_executor_stops_with_the_install_command(setup, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_RAY)
    env = {**setup[2], "PYTHONPATH": os.pathsep.join([str(site), setup[2].get("PYTHONPATH", "")])}
    err = _refused(setup, tmp_path, "--executor", "ray", env=env)
    assert 'needs Ray, which is not installed; install it with pip install -e ".[ray]"' in err


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "workers = 0: expected an integer >= 1"),
    (["--executor", "dask"], "invalid choice: 'dask'"),
    (["--address", "auto"], "is for the Ray executor"),
    (["--trial-timeout", "0"], "trial_timeout = 0.0: expected minutes of wall-clock time per trial"),
    (["--devices-per-trial", "0"], "devices_per_trial = 0: expected an integer >= 1"),
    (["--trial-timeout", "0.5", "--in-process"], "--in-process cannot stop a trial at trial_timeout"),
    (["--devices-per-trial", "1", "--in-process"], "--in-process trains on every device the sweep process sees"),
])
def test_bad_executor_flags_are_refused_before_anything_runs(setup, tmp_path, flags, message):
    assert message in _refused(setup, tmp_path, *flags)


def test_the_sweep_files_executor_table_is_read_and_the_command_line_wins(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TINY4 + '\n[executor]\nkind = "ray"\nworkers = 3\ncpus_per_trial = 0.5\n')
    table = load_executor_table(path)
    assert settings({}, table) == ExecutorConfig("ray", 3, None, 0.5)
    assert settings({"kind": "local", "workers": 2, "cpus_per_trial": None}, table).workers == 2
    path.write_text(TINY4 + "\n[executor]\nworkers = -1\n")
    with pytest.raises(SweepError, match=r"line \d+: \[executor\]: workers = -1: expected an integer >= 1"):
        load_executor_table(path)
    path.write_text(TINY4 + '\n[executor]\ntrial_timeout = 90\n')
    assert settings({}, load_executor_table(path)).timeout_s == 5400
    assert settings({"trial_timeout": 0.5}, load_executor_table(path)).timeout_s == 30
    path.write_text(TINY4 + '\n[executor]\ntrial_timeout = "1h"\n')
    with pytest.raises(SweepError, match=r"line \d+: \[executor\]: trial_timeout = '1h': expected minutes"):
        load_executor_table(path)
    path.write_text(TINY4 + '\n[executor]\nkind = "slurm"\n')
    with pytest.raises(SweepError, match="kind = 'slurm': allowed: 'local', 'ray'"):
        load_executor_table(path)
    with pytest.raises(ExecutorError, match="workers = 0"):
        settings({"workers": 0})


def test_the_local_pool_divides_the_devices_one_gpu_per_trial_by_default_all_with_one_worker():
    four = ["0", "1", "2", "3"]
    cases = {  # (workers, devices_per_trial) -> each trial process's CUDA_VISIBLE_DEVICES
        (None, None): ["0", "1", "2", "3"],
        (1, None): ["0,1,2,3"],  # one worker: the trial is split over every GPU
        (None, 2): ["0,1", "2,3"],
        (2, None): ["0,1", "2,3"],
        (1, 2): ["0,1"],
    }
    for (workers, per_trial), visible in cases.items():
        plan = plan_devices(four, "", workers, per_trial)
        assert [plan.env(i)["CUDA_VISIBLE_DEVICES"] for i in range(plan.slots)] == visible, (workers, per_trial)
        assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in plan.env(0)  # no GPU is shared
    shared = plan_devices(["0", "1"], "", 4, None)  # more workers than GPUs: round-robin, no pre-allocation
    assert [shared.env(i) for i in range(4)] == [
        {"CUDA_VISIBLE_DEVICES": g, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"} for g in ["0", "1", "0", "1"]]
    with pytest.raises(ExecutorError, match="devices_per_trial = 3: this machine has 2 GPUs"):
        plan_devices(["0", "1"], "", None, 3)
    # CPU: one trial at a time where it is split over forced host devices, or devices_per_trial of them
    forced = "--xla_dump_to=/tmp/x --xla_force_host_platform_device_count=4"
    assert plan_devices([], forced, None, None).env(0) == {
        "XLA_FLAGS": "--xla_dump_to=/tmp/x --xla_force_host_platform_device_count=4"}
    assert plan_devices([], forced, 2, None).env(1)["XLA_FLAGS"].endswith("device_count=2")
    assert plan_devices([], "", None, 2).env(0) == {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert plan_devices([], forced, None, None).slots == plan_devices([], "", None, 2).slots == 1
    assert plan_devices([], forced, None, None).describe() == "CPU, 4 host devices per trial"
    # otherwise one trial process per core, at most CPU_WORKERS_MAX, each on the whole host
    default = plan_devices([], "", None, None)
    assert default.env(0) == {} and default.slots == min(os.cpu_count(), CPU_WORKERS_MAX) and default.default_workers
    assert "--workers N to change" in default.describe() and "--workers" not in plan_devices([], "", 3, None).describe()


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason='the [ray] extra: pip install -e ".[ray]"')
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def _ray_executor(train: str, tmp_path: Path, **config) -> RayExecutor:
    """A Ray executor on the test's cluster whose trials call `train` (a "module:function" name: Ray
    workers do not see the tests' modules)."""
    executor = RayExecutor(ExecutorConfig("ray", **config), train, {}, (), tmp_path)
    executor.start()
    return executor


@pytest.mark.ray
def test_a_ray_worker_that_cannot_see_the_results_directory_stops_the_sweep_naming_it(ray_cluster, tmp_path):
    (tmp_path / ".ray-visible-0123").write_text("left by a killed sweep")
    executor = _ray_executor("operator:add", tmp_path)
    try:
        token = Path(executor.token)
        assert token.parent == tmp_path and token.exists()
        executor.submit("seen", (1, 2), {})
        assert executor.wait() == [("seen", 3)]
        token.unlink()  # what a worker on another node without a shared filesystem finds: no such file
        executor.submit("unseen", (1, 2), {})
        with pytest.raises(ExecutorError, match=f"the results directory {tmp_path} is not visible from the Ray "
                                                f"worker on .*a filesystem shared by every node"):
            executor.wait()
    finally:
        executor.close()
    assert not any(tmp_path.iterdir())  # the sweep's token is removed when it ends


@pytest.mark.ray
def test_a_ray_trial_past_its_time_limit_is_cancelled_and_reported(ray_cluster, tmp_path):
    executor = _ray_executor("time:sleep", tmp_path, trial_timeout=3 / 60)
    try:
        assert "each stopped after 3 s (trial_timeout)" in executor.describe()
        start = time.monotonic()
        executor.submit("hung", (600,), {})
        ((job, outcome),) = executor.wait()
        assert job == "hung" and isinstance(outcome, TrialTimedOut) and executor.running == 0
        assert str(outcome) == "timed out after 3 s (trial_timeout); its process was killed"
        assert 3 <= time.monotonic() - start < 30
    finally:
        executor.close()


def test_the_trials_write_to_the_results_directory_by_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny4.toml"
    path.write_text(TINY4)
    sweep = load_sweep(path, out="relative/out")
    after = _after_training(sweep, None, None, None)
    assert after["out_dir"] == str(tmp_path / "relative" / "out")  # what a Ray worker elsewhere can use
