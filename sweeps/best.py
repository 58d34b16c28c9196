"""A tune sweep's choices (`best.json`): which configuration won per (algorithm, task).

Written by the sweep manager at the end of a tune sweep, read by a final sweep's `from_tune`.
Kept apart from both so that the sweep-file parser and the manager do not import each other.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eggroll_bench.sweeps.store import write_atomic

BEST_FILE = "best.json"


class BestFileError(ValueError):
    """A `from_tune` path that does not hold a tune sweep's best.json."""


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


def write_best(directory: Path, best: dict[str, Any]) -> None:
    """`best` (see `sweeps.manager.select_best`) as `directory/best.json`, atomically."""
    write_atomic(directory / BEST_FILE, json.dumps(best, indent=2) + "\n")
