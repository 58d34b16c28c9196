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
from eggroll_bench.sweeps.schema import COLUMNS, SCHEMA_VERSION, TEXT_COLUMNS
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


def same(a, b) -> bool:
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    return (missing(a) and missing(b)) or a == b


def assert_table_is(table: pd.DataFrame, expected: list[dict]) -> None:
    assert tuple(table.columns) == COLUMNS and len(table) == len(expected)
    got = sorted(table.to_dict("records"), key=lambda r: (r["trial_id"], r["seed"], r["row_type"], r["updates"]))
    want = sorted(expected, key=lambda r: (r["trial_id"], r["seed"], r["row_type"], r["updates"]))
    for g, w in zip(got, want):
        diff = {c: (g[c], w[c]) for c in COLUMNS if not same(g[c], w[c])}
        assert not diff, diff


def test_each_trial_is_one_parquet_file_and_read_gives_back_the_rows(tmp_path):
    s = ResultsStore(tmp_path / "r")
    assert tuple(s.read().columns) == COLUMNS and s.read().empty and s.finished() == {}
    t1 = rows(make_result(seeds=(0, 1)), tid="t1")
    t2 = rows(failed_result("ppo", "Pendulum-v1", HP, 500, [0, 1], "RuntimeError: boom"), tid="t2")
    s.append(t1)
    s.append(t2)
    assert sorted(p.name for p in (tmp_path / "r" / "trials").iterdir()) == ["t1.parquet", "t2.parquet"]
    assert not (tmp_path / "r" / "results.csv").exists()  # the CSV is an export, not written per trial
    assert_table_is(s.read(), t1 + t2)
    assert s.finished() == {"t1": {0: "done", 1: "done"}, "t2": {0: "failed", 1: "failed"}}
    table = s.read()
    assert table.seed.dtype == "int64" and table.return_mean.dtype == "float64"
    assert list(table.trial_id) == ["t1"] * 8 + ["t2"] * 2  # rows in the order they were appended
    one_trial = pd.read_parquet(tmp_path / "r" / "trials" / "t2.parquet")  # a trial file is a plain Parquet table
    assert set(one_trial.columns) == set(COLUMNS) and len(one_trial) == 2


def test_a_trials_config_is_stored_once_per_file_not_once_per_row(tmp_path):
    import pyarrow.parquet as pq

    big = {**HP, "notes": "".join(f"{i:x}" for i in range(3000))}  # ~10 kB of JSON
    s = ResultsStore(tmp_path)
    s.append(rows(make_result(seeds=(0, 1, 2, 3), points=40, hparams=big), tid="big"))
    meta = pq.ParquetFile(tmp_path / "trials" / "big.parquet").metadata
    hp = meta.row_group(0).column(COLUMNS.index("hparams"))
    assert meta.num_rows == 4 * 41 and hp.path_in_schema == "hparams"
    assert hp.total_uncompressed_size < 2 * len(json.dumps(big))  # one copy, plus 164 small indices


def test_a_retried_trial_replaces_its_file_and_keeps_the_others(tmp_path):
    s = ResultsStore(tmp_path)
    keep = rows(tid="keep")
    s.append(keep)
    s.append(rows(make_result(statuses=["failed", "failed"], points=0), tid="retry"))
    keep_bytes = (tmp_path / "trials" / "keep.parquet").read_bytes()
    retried = rows(make_result(base=99.0), tid="retry")
    s.append(retried)
    assert (tmp_path / "trials" / "keep.parquet").read_bytes() == keep_bytes  # untouched
    assert_table_is(s.read(), keep + retried)
    assert s.finished()["retry"] == {0: "done", 1: "done"}
    assert list(s.read().trial_id.unique()) == ["keep", "retry"]


def test_rerunning_some_seeds_keeps_the_trials_other_seeds(tmp_path):
    s = ResultsStore(tmp_path)
    first = rows(make_result(seeds=(0, 1), statuses=["done", "failed"]), tid="t")
    s.append(first)
    seed1 = rows(make_result(seeds=(1,), base=70.0), tid="t")
    s.append(seed1)
    assert_table_is(s.read(), [r for r in first if r["seed"] == 0] + seed1)
    assert s.finished() == {"t": {0: "done", 1: "done"}}


def scan_only_for(tid):
    import pyarrow.parquet as pq

    real = pq.read_table

    def read_table(path, *args, **kwargs):
        assert kwargs.get("filters") is None or str(kwargs["filters"]).find(tid) >= 0, f"scanned {path} for {kwargs}"
        return real(path, *args, **kwargs)
    return read_table


def test_compacting_keeps_the_table_and_later_trial_files_win(tmp_path, monkeypatch):
    s = ResultsStore(tmp_path)
    t1, t2 = rows(tid="t1"), rows(make_result(seeds=(0, 1), statuses=["done", "failed"]), tid="t2")
    s.append(t1)
    s.append(t2)
    leftover = (tmp_path / "trials" / "t1.parquet").read_bytes()
    assert s.consolidate() == tmp_path / "results.csv"
    assert [p.name for p in (tmp_path / "trials").iterdir()] == ["_compacted.parquet"]
    exported = (tmp_path / "results.csv").stat().st_mtime_ns
    assert s.consolidate() == tmp_path / "results.csv"  # nothing new: the export is not rewritten
    assert (tmp_path / "results.csv").stat().st_mtime_ns == exported
    assert_table_is(s.read(), t1 + t2)
    assert s.finished() == {"t1": {0: "done", 1: "done"}, "t2": {0: "done", 1: "failed"}}
    (tmp_path / "trials" / "t1.parquet").write_bytes(leftover)  # killed before removing what it compacted
    assert_table_is(s.read(), t1 + t2)  # not doubled
    monkeypatch.setattr(store.pq, "read_table", scan_only_for("t2"))
    t3 = rows(tid="t3")
    s.append(t3)  # a new trial does not read the compacted rows
    seed1 = rows(make_result(seeds=(1,), base=70.0), tid="t2")
    s.append(seed1)  # a retry after compacting keeps the compacted seed 0 and replaces seed 1
    monkeypatch.undo()
    now = t1 + [r for r in t2 if r["seed"] == 0] + seed1 + t3
    assert_table_is(s.read(), now)
    assert s.finished()["t2"] == {0: "done", 1: "done"}
    s.compact()
    assert_table_is(s.read(), now)
    assert_table_is(read_export(tmp_path / "results.csv"), t1 + t2)  # the export is as of its writing


def test_files_a_compaction_removes_while_a_reader_lists_them_are_read_again(tmp_path, monkeypatch):
    s = ResultsStore(tmp_path)
    s.append(rows(tid="t1"))
    s.append(rows(tid="t2"))
    listed = s.trial_files()
    s.compact()  # another process, between the reader's listing and its opening the files
    calls, real = [], ResultsStore.trial_files

    def stale_once(self):
        calls.append(1)
        return listed if len(calls) == 1 else real(self)

    monkeypatch.setattr(ResultsStore, "trial_files", stale_once)
    assert s.finished() == {"t1": {0: "done", 1: "done"}, "t2": {0: "done", 1: "done"}} and len(calls) == 2


def test_crash_while_writing_leaves_the_old_files_and_no_partial_trial(tmp_path, monkeypatch):
    s = ResultsStore(tmp_path)
    s.append(rows(tid="t1"))
    old = (tmp_path / "trials" / "t1.parquet").read_bytes()

    def crash(*args):
        raise OSError("disk vanished")

    monkeypatch.setattr(store.os, "replace", crash)
    with pytest.raises(OSError, match="disk vanished"):
        s.append(rows(tid="t2"))  # a new trial
    with pytest.raises(OSError, match="disk vanished"):
        s.append(rows(make_result(base=5.0), tid="t1"))  # a retry
    monkeypatch.undo()
    assert (tmp_path / "trials" / "t1.parquet").read_bytes() == old
    assert sorted(p.name for p in (tmp_path / "trials").iterdir()) == ["t1.parquet"]  # no t2, no temp file
    assert set(s.finished()) == {"t1"}


def test_temp_files_of_a_killed_writer_are_ignored_then_removed(tmp_path):
    s = ResultsStore(tmp_path)
    s.append(rows(tid="t1"))
    stale = [tmp_path / "trials" / ".t2.parquet.abc123.tmp", tmp_path / ".results.csv.x1.tmp"]
    for path in stale:
        path.write_bytes(b"PAR1 half a file")  # what SIGKILL mid-write leaves
    staging = tmp_path / ".trials.q9.tmp"
    staging.mkdir()
    (staging / "t9.parquet").write_bytes(b"PAR1")
    assert s.finished() == {"t1": {0: "done", 1: "done"}} and len(s.read()) == 8  # never read
    s.append(rows(tid="t3"))
    assert not any(p.exists() for p in stale + [staging])
    assert set(s.finished()) == {"t1", "t3"}


def test_bad_rows_are_refused_before_anything_is_written(tmp_path):
    s = ResultsStore(tmp_path)
    with pytest.raises(StoreError, match="trial_id '../x'"):
        s.append(rows(tid="../x"))
    bad = rows(tid="ok")
    bad[0] = {**bad[0], "seed": "zero"}
    with pytest.raises(StoreError, match="column 'seed'"):
        s.append(bad)
    with pytest.raises(StoreError, match=r"unknown columns \['colour'\]"):
        s.append([{**rows(tid="ok")[0], "colour": "red"}])
    assert s.finished() == {} and not (tmp_path / "trials").exists()


def old_csv(directory, table_rows):
    """A results directory as the CSV store wrote it before trials/ existed."""
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(table_rows, columns=list(COLUMNS)).to_csv(directory / "results.csv", index=False, na_rep="")


def test_an_old_csv_directory_reads_and_converts_on_its_first_append(tmp_path):
    from eggroll_bench.plots.load import load_results

    old_rows = rows(tid="0123") + rows(make_result(base=40.0), tid="4e56")  # all-digit / exponent-like ids
    old_csv(tmp_path, old_rows)
    s = ResultsStore(tmp_path)
    assert s.path == tmp_path / "results.csv"
    assert s.finished() == {"0123": {0: "done", 1: "done"}, "4e56": {0: "done", 1: "done"}}
    csv_table = s.read()
    assert list(csv_table.trial_id.unique()) == ["0123", "4e56"] and len(csv_table) == 16
    assert len(load_results(tmp_path)) == 16
    csv_bytes = (tmp_path / "results.csv").read_bytes()
    new = rows(make_result(base=7.0), tid="abcd")
    s.append(new)  # converts the CSV into trials/, then adds the new trial
    assert s.path == tmp_path / "trials" and (tmp_path / "results.csv").read_bytes() == csv_bytes
    expected = [{**r, "error": r["error"] or ""} for r in old_rows]
    assert_table_is(s.read(), expected + new)
    assert set(s.finished()) == {"0123", "4e56", "abcd"}
    assert len(load_results(tmp_path)) == 24  # trials/ wins over the (now stale) CSV


def test_an_old_csv_without_a_later_column_reads_with_it_empty(tmp_path):
    old_rows = rows(tid="t1")
    frame = pd.DataFrame(old_rows, columns=list(COLUMNS)).drop(columns=["device"])
    frame.to_csv(tmp_path / "results.csv", index=False, na_rep="")
    s = ResultsStore(tmp_path)
    assert tuple(s.read().columns) == COLUMNS and s.read()["device"].isna().all()
    s.append(rows(tid="t2"))
    assert_table_is(s.read()[lambda d: d.trial_id == "t1"], [{**r, "device": ""} for r in old_rows])


def test_a_csv_of_another_schema_is_refused_and_left_alone(tmp_path):
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(StoreError, match="schema version"):
        ResultsStore(tmp_path).append(rows())
    assert (tmp_path / "results.csv").read_text() == "a,b\n1,2\n" and not (tmp_path / "trials").exists()


def read_export(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={c: str for c in TEXT_COLUMNS}, keep_default_na=False,
                       na_values={c: [""] for c in COLUMNS if c not in TEXT_COLUMNS})


def test_export_csv_writes_the_table_read_csv_gives_back(tmp_path):
    s = ResultsStore(tmp_path)
    t1 = rows(tid="t1")
    t2 = rows(failed_result("ppo", "Pendulum-v1", HP, 500, [0, 1], "boom, with a comma"), tid="t2")
    s.append(t1)
    s.append(t2)
    assert s.export_csv() == tmp_path / "results.csv"
    exported = read_export(tmp_path / "results.csv")
    assert tuple(exported.columns) == COLUMNS
    assert_table_is(exported, t1 + t2)
    assert s.path == tmp_path / "trials"  # the export does not change where the store reads


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
    assert_table_is(read_export(tmp_path / "train" / "results.csv"), table.to_dict("records"))  # the export is current after each lone run
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


def test_a_field_added_later_keeps_the_ids_of_older_trials_at_its_default():
    """Results written before `log_std` existed resume: at its default it is left out of the id."""
    from eggroll_bench.sweeps.store import ADDED_LATER

    old = {"lr": 0.05, "hidden": 16}
    for field, default in ADDED_LATER.items():
        assert trial_id("openes", "Pendulum-v1", 1000, {**old, field: default}) == \
            trial_id("openes", "Pendulum-v1", 1000, old)
    assert trial_id("openes", "Pendulum-v1", 1000, {**old, "log_std": "state"}) != \
        trial_id("openes", "Pendulum-v1", 1000, old)
