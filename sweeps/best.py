"""A tune sweep's choices (`best.json`): which configuration won per (algorithm, task).

Written by the sweep manager at the end of a tune sweep, read by a final sweep's `from_tune`.
Kept apart from both so that the sweep-file parser and the manager do not import each other.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from eggroll_bench.sweeps.store import write_atomic

if TYPE_CHECKING:
    from eggroll_bench.sweeps.sweepfile import Sweep

BEST_FILE = "best.json"


class BestFileError(ValueError):
    """A `from_tune` path that does not hold a tune sweep's best.json."""


def select_best(sweep: Sweep, results: pd.DataFrame) -> dict[str, Any]:
    """Per (algo, task): the trial with the highest mean over seeds of its final return.

    Only trials whose every seed is `done` with a finite final return compete, so a diverged or
    failed configuration is never chosen; pairs with no such trial are listed under `missing`.
    """
    final = results[results["row_type"] == "final"]
    by_trial = {tid: group for tid, group in final.groupby("trial_id")}
    choices, missing = [], []
    for algo in sweep.algos:
        for env in sweep.tasks:
            candidates = [t for t in sweep.trials if t.algo == algo and t.env == env]
            scored = []
            for t in candidates:
                rows = by_trial.get(t.trial_id)
                if rows is None or set(rows["seed"].astype(int)) < set(t.seeds):
                    continue
                returns = rows["return_mean"].astype(float)
                if (rows["status"] == "done").all() and returns.map(math.isfinite).all():
                    scored.append((float(returns.mean()), t))
            if not scored:
                missing.append({"algo": algo, "env": env, "candidates": len(candidates)})
                continue
            score, t = max(scored, key=lambda x: x[0])
            choices.append({"algo": algo, "env": env, "trial_id": t.trial_id, "final_return": score,
                            "seeds": list(t.seeds), "candidates": len(candidates), "eligible": len(scored),
                            "varied": dict(t.varied), "hparams": dict(t.hparams), "budget": t.budget})
    return {"sweep": sweep.name, "sweep_file": str(sweep.source), "sha256": sweep.sha256,
            "metric": "mean over seeds of the final evaluation's return_mean", "choices": choices,
            "missing": missing}


def load_best(path: str | Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(algo, env) -> resolved hparams chosen by a tune sweep (its `best.json`, see `select_best`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        return {(c["algo"], c["env"]): dict(c["hparams"]) for c in data["choices"]}
    except FileNotFoundError:
        raise BestFileError(f"from_tune: {path} does not exist (run the tune sweep first)") from None
    except (ValueError, KeyError, TypeError) as err:
        raise BestFileError(f"from_tune: {path} is not a tune sweep's best.json ({err!r})") from None


def write_best(sweep: Sweep, results: pd.DataFrame) -> dict[str, Any]:
    best = select_best(sweep, results)
    write_atomic(sweep.out / BEST_FILE, json.dumps(best, indent=2) + "\n")
    return best
