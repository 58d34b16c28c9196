"""Append and load time of the results store vs the CSV store it replaced, at growing table sizes.

    python -m eggroll_bench.sweeps.store_bench [--sizes 10000 100000 1000000] [--repeats 2] [--dir D]

Each trial is 62 rows as a sweep writes them (`rows_from_result`: 2 seeds x 30 evaluation points,
plus one final row per seed) with a resolved EGGROLL configuration's hparams JSON and a versions
JSON. For every size N the same table is built in both layouts, then timed:

- append: adding one more trial (62 rows) to a store of N rows, median of `--repeats`;
- load: `ResultsStore.read()` of the whole table (what the plots and the sweep manager call);
- finished: `ResultsStore.finished()` (what a sweep calls on start, to resume);
- consolidate: what the end of a sweep run does (`ResultsStore.consolidate`: merge the trial files
  into one, export results.csv); load and finished are timed before and after it;
- bytes/row: disk size of the table (without the CSV export).

The CSV layout is built with one `to_csv` (appending its trials one by one would take hours at 1M
rows, which is the point); the Parquet layout is built by appending every trial through the store,
and the mean of those appends is reported too.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from eggroll_bench.algos.result import EvalPoint, SeedResult, TrainResult
from eggroll_bench.sweeps.schema import COLUMNS
from eggroll_bench.sweeps.store import (RESULTS_FILE, WRITE_LOCK_FILE, ResultsStore, _flock, rows_from_result,
                                        trial_id, write_atomic)

SEEDS, EVALS = 2, 30
ROWS_PER_TRIAL = SEEDS * (EVALS + 1)

# A resolved EGGROLL configuration as a sweep records it (network included); lr varies per trial.
HPARAMS = {
    "activation": "tanh", "antithetic": True, "eval_episodes": 16, "eval_every": 10, "fitness_shaping": "centered_rank",
    "group_size": 0, "hidden": 256, "layers": 3, "lr": 0.01, "lr_decay": 1.0, "max_grad_norm": 0.0,
    "noise_reuse": 1, "normalize_obs": True, "num_envs": 1, "optimizer": "adam", "pop_size": 2048, "rank": 1,
    "rollout_steps": 500, "sigma": 0.05, "sigma_decay": 1.0, "weight_decay": 0.0, "obs_clip": 10.0,
    "deterministic_eval": True, "network": {"kind": "mlp", "hidden": [256, 256, 256], "out_scale": 0.01},
}
VERSIONS = {"jax": "0.10.2", "jaxlib": "0.10.2", "flax": "0.12.8", "optax": "0.2.8", "gymnax": "1.0.1",
            "brax": "0.14.2", "jaxmarl": "0.2.0", "python": "3.11.7", "eggroll_bench": "0.1.0"}


def trial_rows(i: int) -> list[dict]:
    hparams = {**HPARAMS, "lr": 0.001 * (1 + i % 997), "sigma": 0.01 * (1 + i % 13)}
    seeds = tuple(SeedResult(s, "done", "", 1_000_000, 600, tuple(
        EvalPoint(1_000_000 * (k + 1) // EVALS, 20 * (k + 1), 100.0 + k + s + i % 7, 3.5, 0.8 * (k + 1))
        for k in range(EVALS))) for s in range(SEEDS))
    result = TrainResult("eggroll", "Breakout-MinAtar", hparams, 1_000_000, seeds, compile_s=12.5, run_s=30.0,
                         device="NVIDIA H100 80GB HBM3", versions=VERSIONS, num_agents=1)
    return rows_from_result(result, sweep="core16", trial_id=trial_id("eggroll", "Breakout-MinAtar", 1_000_000,
                                                                      hparams), suite="core16", random_return=1.2)


def csv_append(directory: Path, rows: list[dict]) -> None:
    """The CSV store's append as it was before the Parquet store: read all, drop the trial's
    (trial, seed) keys, add the rows, rewrite the whole file atomically."""
    path = directory / RESULTS_FILE
    new = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], columns=list(COLUMNS), dtype=object)
    keys = {(str(r["trial_id"]), str(r["seed"])) for r in rows}
    with _flock(directory / WRITE_LOCK_FILE):
        old = pd.read_csv(path, dtype=str, keep_default_na=False)
        old = old[[(t, s) not in keys for t, s in zip(old["trial_id"], old["seed"])]]
        write_atomic(path, pd.concat([old, new], ignore_index=True).to_csv(index=False, na_rep=""))


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def measure(n_rows: int, repeats: int, root: Path, log=print) -> list[dict]:
    trials = max(1, n_rows // ROWS_PER_TRIAL)
    template = [trial_rows(i) for i in range(min(trials, 997))]  # distinct configs; ids made unique below

    rng = random.Random(n_rows)

    def rows_of(i: int) -> list[dict]:
        # measured values differ on every row, as real returns and timings do
        tid = f"{i:012x}"
        return [{**r, "trial_id": tid, "return_mean": rng.uniform(0, 500), "return_std": rng.uniform(0, 50),
                 "wall_s": rng.uniform(0, 600)} for r in template[i % len(template)]]

    extra = [rows_of(trials + k) for k in range(repeats)]
    out = []

    csv_dir = root / f"csv-{n_rows}"
    csv_dir.mkdir()
    t0 = time.perf_counter()
    # trial i is template i % len(template) under its own id; built by indexing, not by N dicts
    base = pd.DataFrame([r for rows in template for r in rows], columns=list(COLUMNS))
    pick = [(i % len(template)) * ROWS_PER_TRIAL + k for i in range(trials) for k in range(ROWS_PER_TRIAL)]
    table = base.iloc[pick].reset_index(drop=True)
    table["trial_id"] = [f"{i:012x}" for i in range(trials) for _ in range(ROWS_PER_TRIAL)]
    for col, high in (("return_mean", 500), ("return_std", 50), ("wall_s", 600)):
        table[col] = [rng.uniform(0, high) for _ in range(len(table))]
    table.to_csv(csv_dir / RESULTS_FILE, index=False, na_rep="")
    del table, base, pick
    log(f"  csv: built {trials * ROWS_PER_TRIAL:,} rows in {time.perf_counter() - t0:.1f} s")
    csv_store = ResultsStore(csv_dir)  # a CSV-only directory: read() and finished() read the CSV
    load = _timed(csv_store.read)
    fin = _timed(csv_store.finished)
    size = _size(csv_dir / RESULTS_FILE)
    appends = [_timed(lambda r=r: csv_append(csv_dir, r)) for r in extra]
    out.append({"store": "results.csv (before)", "rows": trials * ROWS_PER_TRIAL,
                "append_s": statistics.median(appends), "build_append_s": None, "load_s": load,
                "finished_s": fin, "consolidate_s": None, "bytes_per_row": size / (trials * ROWS_PER_TRIAL)})
    shutil.rmtree(csv_dir)

    pq_dir = root / f"parquet-{n_rows}"
    store = ResultsStore(pq_dir)
    t0 = time.perf_counter()
    for i in range(trials):
        store.append(rows_of(i))
    build = time.perf_counter() - t0
    log(f"  parquet: appended {trials:,} trials in {build:.1f} s")
    extra_after = [rows_of(trials + repeats + k) for k in range(repeats)]
    for label, more in (("trials/*.parquet", extra), ("after consolidate", extra_after)):
        load = _timed(store.read)
        fin = _timed(store.finished)
        size = _size(store.trials_dir)
        append = statistics.median(_timed(lambda r=r: store.append(r)) for r in more)
        consolidate = _timed(store.consolidate) if more is extra else None
        out.append({"store": label, "rows": trials * ROWS_PER_TRIAL, "append_s": append,
                    "build_append_s": build / trials if consolidate else None, "load_s": load,
                    "finished_s": fin, "consolidate_s": consolidate, "bytes_per_row": size / (trials * ROWS_PER_TRIAL)})
    shutil.rmtree(pq_dir)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eggroll_bench.sweeps.store_bench", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="table sizes, rows")
    p.add_argument("--repeats", type=int, default=2, help="appends timed per size (median reported)")
    p.add_argument("--dir", default=None, help="scratch directory (default: a new one under the system temp dir)")
    args = p.parse_args(argv)
    if any(n < ROWS_PER_TRIAL for n in args.sizes) or args.repeats < 1:
        p.error(f"sizes must be at least {ROWS_PER_TRIAL} rows (one trial) and --repeats at least 1")
    root = Path(tempfile.mkdtemp(prefix="store_bench.", dir=args.dir))
    results = []
    try:
        for n in args.sizes:
            print(f"{n:,} rows ({max(1, n // ROWS_PER_TRIAL):,} trials of {ROWS_PER_TRIAL} rows)...", flush=True)
            results += measure(n, args.repeats, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nappend = one more {ROWS_PER_TRIAL}-row trial (median of {args.repeats}); "
          f"CPU count {os.cpu_count()}\n")
    print("| store | rows | append | mean append while building | load (read) | finished() | consolidate | bytes/row |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        build = f"{r['build_append_s'] * 1e3:.0f} ms" if r["build_append_s"] is not None else "-"
        consolidate = f"{r['consolidate_s']:.2f} s" if r["consolidate_s"] is not None else "-"
        print(f"| {r['store']} | {r['rows']:,} | {r['append_s']:.3f} s | {build} | {r['load_s']:.2f} s | "
              f"{r['finished_s']:.2f} s | {consolidate} | {r['bytes_per_row']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
