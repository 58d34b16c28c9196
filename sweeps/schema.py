"""The results schema (docs/design.md "Results"): one table, two kinds of row.

`row_type == "eval"`: one row per (trial, seed, evaluation point) — the learning curve.
`row_type == "final"`: one row per (trial, seed) — the trial's outcome, timing and throughput.

Both kinds share every column; columns that do not apply are empty (NaN / ""). The table loads
with one call, `sweeps.store.ResultsStore(dir).read()`; `results.csv` is the same table as CSV,
exported at the end of each sweep run.
"""
from __future__ import annotations

SCHEMA_VERSION = 2  # 2: the call_* columns; a trial's compile_s / run_s became its share of the call's

COLUMNS: tuple[str, ...] = (
    "schema_version",  # int, SCHEMA_VERSION when written
    "row_type",        # "eval" | "final"
    "sweep",           # sweep name ("train" for a lone `eggroll-bench train --out`)
    "trial_id",        # stable hash of the resolved trial config (without the seed)
    "algo",            # eggroll | openes | ppo
    "env",             # registered task name
    "suite",           # the suite a sweep listed the task through, else the task's own suite
    "num_agents",      # 1 for single-agent tasks
    "seed",            # int
    "env_steps",       # env steps consumed so far (eval) / in total (final)
    "updates",         # ES generations or PPO updates so far / in total
    "return_mean",     # mean evaluation return (team return for multi-agent)
    "return_std",      # std of evaluation returns over evaluation episodes
    "wall_s",          # the trial's run seconds at this evaluation point (eval rows; excludes compile;
                       # its share of the call's, as run_s)
    "compile_s",       # the trial's share of its call's compile seconds: call_compile_s / call_configs (final rows)
    "compile_cached",  # True: the compile was loaded from the persistent cache; "" when it was off (final rows)
    "run_s",           # the trial's share of its call's run seconds: call_run_s / call_configs (final rows)
    "steps_per_s",     # this seed's env_steps / run_s; summed over a trial's seeds: the trial's throughput
    "status",          # done | diverged | failed
    "error",           # error text for failed / diverged trials, else ""
    "hparams",         # JSON of the resolved hyperparameters (network included)
    "budget",          # the env-step budget the trial ran to
    "random_return",   # the task's random-policy return (for normalisation)
    "versions",        # JSON {"jax": ..., "flax": ..., ...}
    "device",          # e.g. "cpu (2 cores)" or "NVIDIA H100 80GB HBM3"
    "timestamp",       # ISO 8601 UTC, when the row was written
    # The compiled call the trial trained in (final rows; algos.result.CallTiming). A call trains
    # call_configs configurations x seeds = call_rows rows side by side; its seconds are shared.
    "call_id",         # the call's id: trials grouped into one call share it
    "call_configs",    # configurations trained in the call (1: the trial ran alone)
    "call_rows",       # rows of the call (configurations x seeds)
    "call_compile_s",  # the call's compile seconds
    "call_run_s",      # the call's run seconds, compile excluded
    "computed_updates",  # updates the call computed (each for all its rows): none past the last row's budget
    "code_version",    # the eggroll-bench that produced it: "0.2.0", "0.2.0+g<commit>" or "...+g<commit>.dirty.<hash>"
    "host_trials",     # trial processes that shared its host at most (the local pool's size; 1: alone); on a
                       # CPU they share its cores, so its times are longer than alone. Empty: not recorded
)


# Column kinds, for the typed Parquet files (sweeps/store.py). Every column not listed as integer,
# float or boolean is text.
BOOL_COLUMNS: tuple[str, ...] = ("compile_cached",)
INT_COLUMNS: tuple[str, ...] = ("schema_version", "num_agents", "seed", "env_steps", "updates", "budget",
                                "call_configs", "call_rows", "computed_updates", "host_trials")
FLOAT_COLUMNS: tuple[str, ...] = ("return_mean", "return_std", "wall_s", "compile_s", "run_s", "steps_per_s",
                                  "random_return", "call_compile_s", "call_run_s")
TEXT_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in INT_COLUMNS + FLOAT_COLUMNS + BOOL_COLUMNS)

# The same for every row a trial's run writes (its config and where/when it ran). They stay
# columns of the table, but a trial's Parquet file stores each distinct value once (dictionary
# encoding), not once per row.
TRIAL_COLUMNS: tuple[str, ...] = ("schema_version", "sweep", "trial_id", "algo", "env", "suite", "num_agents",
                                  "hparams", "budget", "random_return", "versions", "device", "timestamp",
                                  "code_version", "host_trials")
