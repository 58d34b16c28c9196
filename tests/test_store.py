"""The results store: rows, atomic appends, the sweep lock, the directory manifest."""
from __future__ import annotations

import json
import math
import os
import time

import pandas as pd
import pytest

from eggroll_bench.algos.result import EvalPoint, SeedResult, TrainResult
from eggroll_bench.sweeps import store
from eggroll_bench.sweeps.schema import COLUMNS, SCHEMA_VERSION
from eggroll_bench.sweeps.store import (LockHeld, ResultsStore, StoreError, SweepLock, check_owner, failed_result, lock_holder,
                          record_result, rows_from_result, trial_id, write_manifest)

HP = {"lr": 0.05, "hidden": 16, "activation": "tanh", "antithetic": True}


def make_result(seeds=(0, 1), statuses=None, points=3, base=10.0, algo="openes", env="CartPole-v1",
                hparams=HP) -> TrainResult:
    statuses = statuses or ["done"] * len(seeds)
    out = []
    for i, seed in enumerate(seeds):
        evals = tuple(EvalPoint(100 * (k + 1), 2 * (k + 1), base + seed + k, 0.5, 0.1 * (k + 1)) for k in range(points))
        err = "" if statuses[i] == "done" else "non-finite parameters"
        out.append(SeedResult(seed, statuses[i], err, 100 * points, 2 * points, evals))
    return TrainResult(algo, env, dict(hparams), 1000, tuple(out), compile_s=2.0, run_s=4.0, device="cpu (test)",
                       versions={"jax": "0.0-test"}, num_agents=1)


def rows(result=None, tid="abc123", sweep="s"):
    return rows_from_result(result or make_result(), sweep=sweep, trial_id=tid, suite="core16",
                            random_return=22.5)


def test_trial_id_is_stable_and_ignores_key_order():
    a = trial_id("openes", "CartPole-v1", 1000, {"lr": 0.05, "hidden": 16})
    b = trial_id("openes", "CartPole-v1", 1000, {"hidden": 16, "lr": 0.05})
    assert a == b and len(a) == 12 and int(a, 16) >= 0
    assert a != trial_id("openes", "CartPole-v1", 2000, {"lr": 0.05, "hidden": 16})  # budget is part of it
    assert a != trial_id("eggroll", "CartPole-v1", 1000, {"lr": 0.05, "hidden": 16})
    assert a != trial_id("openes", "CartPole-v1", 1000, {"lr": 0.01, "hidden": 16})


def test_rows_from_result_has_eval_and_final_rows_in_schema_columns():
    out = rows(make_result(seeds=(3, 4), points=3))
    assert all(tuple(r) == COLUMNS for r in out)
    evals = [r for r in out if r["row_type"] == "eval"]
    finals = [r for r in out if r["row_type"] == "final"]
    assert len(evals) == 6 and [r["seed"] for r in finals] == [3, 4]
    last = finals[0]
    assert last["return_mean"] == 10.0 + 3 + 2  # the seed's last evaluation
    assert last["env_steps"] == 300 and last["updates"] == 6
    assert last["compile_s"] == 2.0 and last["run_s"] == 4.0 and last["steps_per_s"] == 300 / 4.0
    assert last["schema_version"] == SCHEMA_VERSION and last["status"] == "done" and last["error"] == ""
    assert json.loads(last["hparams"]) == HP and json.loads(last["versions"]) == {"jax": "0.0-test"}
    assert last["device"] == "cpu (test)" and last["random_return"] == 22.5 and last["budget"] == 1000
    assert evals[1]["env_steps"] == 200 and evals[1]["wall_s"] == pytest.approx(0.2)
    assert evals[0]["compile_s"] is None  # timing columns belong to final rows


def test_failed_result_rows_carry_the_error():
    result = failed_result("ppo", "Pendulum-v1", HP, 500, [0, 1], "RuntimeError: boom")
    out = rows(result)
    assert [r["row_type"] for r in out] == ["final", "final"]
    assert all(r["status"] == "failed" and r["error"] == "RuntimeError: boom" for r in out)
    assert out[0]["return_mean"] is None and math.isnan(out[0]["compile_s"])


def test_append_writes_a_table_pandas_reads(tmp_path):
    s = ResultsStore(tmp_path / "r")
    s.append(rows(make_result(seeds=(0, 1)), tid="t1"))
    s.append(rows(make_result(seeds=(0, 1), base=50.0), tid="t2"))
    table = pd.read_csv(tmp_path / "r" / "results.csv", dtype={"trial_id": str})
    assert tuple(table.columns) == COLUMNS and len(table) == 2 * (2 * 3 + 2)
    assert s.finished() == {"t1": {0: "done", 1: "done"}, "t2": {0: "done", 1: "done"}}
    final = table[(table.row_type == "final") & (table.trial_id == "t2")]
    assert list(final.return_mean) == [52.0, 53.0]
    assert json.loads(final.hparams.iloc[0]) == HP


def test_append_replaces_rows_of_the_same_trial_and_seed_and_keeps_other_bytes(tmp_path):
    s = ResultsStore(tmp_path)
    s.append(rows(tid="keep"))
    s.append(rows(make_result(statuses=["failed", "failed"], points=0), tid="retry"))
    before = s.path.read_text().splitlines()
    s.append(rows(make_result(base=99.0), tid="retry"))  # the retried trial's rows replace the old ones
    after = s.path.read_text().splitlines()
    table = s.read()
    assert len(table) == 2 * 8 and not table.duplicated(["trial_id", "seed", "row_type", "updates"]).any()
    assert s.finished()["retry"] == {0: "done", 1: "done"}
    keep_lines = [line for line in before if ",keep," in line]
    assert keep_lines and all(line in after for line in keep_lines)  # untouched rows are byte-identical


def test_crash_while_writing_leaves_the_old_table_and_no_temp_file(tmp_path, monkeypatch):
    s = ResultsStore(tmp_path)
    s.append(rows(tid="t1"))
    old = s.path.read_bytes()

    def crash(*args):
        raise OSError("disk vanished")

    monkeypatch.setattr(store.os, "replace", crash)
    with pytest.raises(OSError, match="disk vanished"):
        s.append(rows(tid="t2"))
    monkeypatch.undo()
    assert s.path.read_bytes() == old
    assert not list(tmp_path.glob("*.tmp"))


def test_stale_temp_files_of_a_killed_writer_are_removed(tmp_path):
    s = ResultsStore(tmp_path)
    stale = tmp_path / ".results.csv.abc123.tmp"
    stale.write_text("half a tab")
    s.append(rows(tid="t1"))
    assert not stale.exists() and s.finished() == {"t1": {0: "done", 1: "done"}}


def test_a_table_of_another_schema_is_refused(tmp_path):
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(StoreError, match="schema version"):
        ResultsStore(tmp_path).append(rows())
    assert (tmp_path / "results.csv").read_text() == "a,b\n1,2\n"


def test_sweep_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    assert lock_holder(tmp_path) is None
    with SweepLock(tmp_path):
        assert f"pid {os.getpid()}" in lock_holder(tmp_path)
        with pytest.raises(LockHeld, match=rf"pid {os.getpid()}.*--wait"):
            with SweepLock(tmp_path):
                pass
    assert lock_holder(tmp_path) is None
    with SweepLock(tmp_path):  # free again once released
        pass


def test_check_owner_refuses_another_sweeps_directory(tmp_path):
    assert check_owner(tmp_path / "new", "mine") is None
    write_manifest(tmp_path, {"name": "theirs", "sweep_file": "/x/theirs.toml", "sha256": "0"})
    assert check_owner(tmp_path, "theirs")["name"] == "theirs"
    with pytest.raises(StoreError, match=r"sweep\.json.*'theirs'.*not 'mine'"):
        check_owner(tmp_path, "mine")
    lone = tmp_path / "lone"
    ResultsStore(lone).append(rows())
    with pytest.raises(StoreError, match="no sweep.json"):
        check_owner(lone, "mine")


def test_record_result_for_a_lone_train_run(tmp_path):
    result = make_result(seeds=(7,))
    tid = record_result(tmp_path / "train", result)
    assert tid == trial_id("openes", "CartPole-v1", 1000, HP)
    table = ResultsStore(tmp_path / "train").read()
    final = table[table.row_type == "final"].iloc[0]
    assert final.sweep == "train" and final.trial_id == tid and final.seed == 7
    assert final.suite == "core16" and final.num_agents == 1
    write_manifest(tmp_path / "sw", {"name": "quick"})
    with pytest.raises(StoreError, match="belongs to sweep 'quick'"):
        record_result(tmp_path / "sw", result)


def test_sweep_lock_wait_starts_when_the_holder_releases(tmp_path):
    import threading

    messages, acquired = [], threading.Event()

    def second():
        with SweepLock(tmp_path, wait=True, log=messages.append):
            acquired.set()

    with SweepLock(tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        assert not acquired.is_set()  # still waiting while the first holds it
    thread.join(timeout=10)
    assert acquired.is_set() and "waiting for the sweep" in messages[0] and f"pid {os.getpid()}" in messages[0]
