"""On CPU, how a group of configurations is split depends on a stable memory figure, never on the
momentary free RAM, and a group that left a checkpoint is trained whole again so that it resumes."""
from __future__ import annotations

import os

import numpy as np
import pytest

from eggroll_bench.algos import runner
from eggroll_bench.algos.checkpoint import TrialArtifacts, checkpoint_path
from eggroll_bench.algos.host_memory import MEMORY_ENV_VAR, WORKERS_ENV_VAR, host_memory_bytes
from eggroll_bench.sweeps.executors import ExecutorConfig, LocalPool, local_gpus, plan_devices
from eggroll_bench.sweeps.manager import _trial_env
from tiny import TINY_ES

TOTAL = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(autouse=True)
def no_settings(monkeypatch):
    monkeypatch.delenv(MEMORY_ENV_VAR, raising=False)
    monkeypatch.delenv(WORKERS_ENV_VAR, raising=False)


def test_the_cpu_figure_is_the_hosts_memory_not_what_is_free_now():
    before = runner.device_bytes()
    ballast = np.ones(512 * 2**20 // 8)  # 512 MB, touched: the free RAM drops by that much
    during = runner.device_bytes()
    del ballast
    assert before == during == TOTAL


def test_local_workers_share_the_host_and_an_explicit_figure_wins(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV_VAR, "4")
    assert runner.device_bytes() == TOTAL // 4
    monkeypatch.setenv(MEMORY_ENV_VAR, "8")
    assert host_memory_bytes() == 2 * 2**30
    for name, bad in ((MEMORY_ENV_VAR, "lots"), (MEMORY_ENV_VAR, "-1"), (WORKERS_ENV_VAR, "0")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=name):
            host_memory_bytes()
        monkeypatch.setenv(MEMORY_ENV_VAR, "8")
        monkeypatch.setenv(WORKERS_ENV_VAR, "4")


def test_a_sweeps_local_trial_processes_are_told_how_many_share_the_host(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV_VAR, "64")
    assert _trial_env()[MEMORY_ENV_VAR] == "64"
    assert WORKERS_ENV_VAR not in _trial_env()  # only a local pool knows it; Ray places trials itself
    for workers in (3, None):  # the pool's own size, also when it chose it (one per core on CPU)
        pool = LocalPool(ExecutorConfig(workers=workers), None, _trial_env(), ())
        assert pool.env[WORKERS_ENV_VAR] == str(pool.slots) and pool.env[MEMORY_ENV_VAR] == "64"
        assert pool.slots == (3 if workers else plan_devices(local_gpus(), "", None, None).slots)


def test_a_group_that_left_a_checkpoint_is_trained_whole_again_and_resumes(tmp_path):
    common = {**TINY_ES, "eval_every": 1}
    configs = [{**common, "lr": 0.05}, {**common, "lr": 0.01}]
    ids = ("aaaaaaaaaaaa", "bbbbbbbbbbbb")
    first = runner.train_group("openes", "CartPole-v1", [0], configs, 600, progress=False,
                               hooks=TrialArtifacts(str(tmp_path), ids, checkpoint_every_s=0))
    assert (tmp_path / "checkpoints" / "aaaaaaaaaaaa+1.msgpack").exists()  # the group's, kept until recorded
    said: list[str] = []
    # now the memory figure says a group of 2 does not fit: the group's checkpoint wins over that
    again = runner.train_group("openes", "CartPole-v1", [0], configs, 600, progress=False, memory_fraction=1e-12,
                               hooks=TrialArtifacts(str(tmp_path), ids, checkpoint_every_s=0, log=said.append))
    assert any(line.startswith("resuming trial aaaaaaaaaaaa+1") for line in said), said
    assert [r.group_size for r in again] == [2, 2]
    assert [[e.return_mean for e in r.seeds[0].evals] for r in again] == \
        [[e.return_mean for e in r.seeds[0].evals] for r in first]
    # without a checkpoint the same figure splits the group
    for path in (tmp_path / "checkpoints").iterdir():
        path.unlink()
    split = runner.train_group("openes", "CartPole-v1", [0], configs, 600, progress=False, memory_fraction=1e-12,
                               hooks=TrialArtifacts(str(tmp_path), ids, checkpoint_every_s=0))
    assert [r.group_size for r in split] == [1, 1] and checkpoint_path(tmp_path, "aaaaaaaaaaaa").exists()
