"""Published reference runs (`sweeps/validate_references.toml`): load, check, and render as markdown.

Each `[[reference]]` row is one published run: its source, configuration, budget, evaluation
protocol and reported return, plus `ours`, the hyperparameters of ours that express it. Loading
checks every row before anything uses it: the algorithm and task exist, `ours` resolves into a valid
config for that task (`algos.registry.resolve`), and the curve lists pair up. `eggroll-bench
validate` compares a sweep's results with these rows (plots/validate.py); docs/validate.md carries
`references_markdown()` so the page and the file cannot drift apart (tests/test_validate.py).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from eggroll_bench.algos.config import ConfigError
from eggroll_bench.algos.registry import algorithm_names, resolve

REFERENCES_FILE = Path(__file__).with_name("validate_references.toml")
EPISODE_KINDS = ("evaluation", "training")
_REQUIRED = {"id": str, "algo": str, "task": str, "source": str, "commit": str, "budget": int, "protocol": str,
             "stochastic": bool, "episodes": str, "value_how": str, "seeds": int, "config": dict, "ours": dict,
             "differences": list}
_OPTIONAL = {"value": float, "curve_steps": list, "curve_returns": list}


class ReferenceError(ValueError):
    """The reference table has a row that cannot be used as written."""


@dataclass(frozen=True)
class Reference:
    id: str
    algo: str
    task: str
    source: str
    commit: str
    budget: int  # env steps per seed of the reference run
    protocol: str
    stochastic: bool  # the reported return is of the sampling (not greedy) policy
    episodes: str  # "evaluation" episodes apart from training, or the "training" episodes' returns
    value: float | None  # the reported final return; None where nothing is published
    value_how: str
    seeds: int
    curve_steps: tuple[int, ...]
    curve_returns: tuple[float, ...]
    config: Mapping[str, Any]  # the reference's own settings, in its own names
    ours: Mapping[str, Any]  # our hyperparameters that express it
    differences: tuple[str, ...]


def load_references(path: str | Path = REFERENCES_FILE) -> tuple[Reference, ...]:
    """Every row of the reference table, checked; a `ReferenceError` names the row and field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ReferenceError(f"{path}: cannot read the reference table: {err}") from None
    rows = data.get("reference")
    if not isinstance(rows, list) or not rows:
        raise ReferenceError(f"{path}: expected [[reference]] rows")
    refs = tuple(_row(path, i, row) for i, row in enumerate(rows))
    ids = [r.id for r in refs]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ReferenceError(f"{path}: reference ids must be unique; repeated: {', '.join(duplicated)}")
    return refs


def _row(path: Path, index: int, row: Mapping[str, Any]) -> Reference:
    where = f"{path}: reference {row.get('id', f'#{index + 1}')!s}"
    allowed = {**_REQUIRED, **_OPTIONAL}
    for key in row:
        if key not in allowed:
            raise ReferenceError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")
    for key, kind in allowed.items():
        if key not in row:
            if key in _REQUIRED:
                raise ReferenceError(f"{where}: missing {key!r}")
            continue
        value = row[key]
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if kind is float else (
            isinstance(value, kind) and not (kind is int and isinstance(value, bool)))
        if not ok:
            raise ReferenceError(f"{where}: {key} = {value!r}: expected {kind.__name__}")
    if row["algo"] not in algorithm_names():
        raise ReferenceError(f"{where}: algo {row['algo']!r} is not one of {', '.join(algorithm_names())}")
    if row["episodes"] not in EPISODE_KINDS:
        raise ReferenceError(f"{where}: episodes = {row['episodes']!r}: expected one of {', '.join(EPISODE_KINDS)}")
    if row["budget"] <= 0 or row["seeds"] <= 0:
        raise ReferenceError(f"{where}: budget and seeds must be positive")
    steps, returns = row.get("curve_steps", []), row.get("curve_returns", [])
    if len(steps) != len(returns):
        raise ReferenceError(f"{where}: curve_steps has {len(steps)} points but curve_returns {len(returns)}")
    from eggroll_bench.envs.registry import get_task

    try:
        task = get_task(row["task"])
        resolve(row["algo"], task.defaults, row["ours"])
    except KeyError as err:
        raise ReferenceError(f"{where}: {err.args[0]}") from None
    except ConfigError as err:
        raise ReferenceError(f"{where}: ours: {err}") from None
    return Reference(row["id"], row["algo"], row["task"], row["source"], row["commit"], row["budget"],
                     row["protocol"], row["stochastic"], row["episodes"],
                     float(row["value"]) if "value" in row else None, row["value_how"], row["seeds"],
                     tuple(int(s) for s in steps), tuple(float(r) for r in returns), dict(row["config"]),
                     dict(row["ours"]), tuple(row["differences"]))


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _settings(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def references_markdown(refs: tuple[Reference, ...] | None = None) -> str:
    """The reference table as markdown: one summary table, then each row's configuration in full."""
    refs = load_references() if refs is None else refs
    lines = ["| reference | algo | task | budget (env steps) | reported return | protocol | seeds |",
             "|---|---|---|---:|---:|---|---:|"]
    for r in refs:
        value = "—" if r.value is None else f"{r.value:g}"
        lines.append(f"| {r.id} | {r.algo} | {r.task} | {r.budget:,} | {value} | {_cell(r.protocol)} | {r.seeds} |")
    for r in refs:
        lines += ["", f"### {r.id}", "",
                  f"- source: {_cell(r.source)} (commit {r.commit})",
                  f"- budget: {r.budget:,} env steps per seed",
                  f"- protocol: {_cell(r.protocol)}",
                  f"- reported return: {'none published' if r.value is None else f'{r.value:g}'} — {_cell(r.value_how)}",
                  f"- their configuration: {_cell(_settings(r.config))}",
                  f"- ours: `{_settings(r.ours)}`"]
        if r.curve_steps:
            lines.append(f"- their learning curve: {len(r.curve_steps)} points from {r.curve_steps[0]:,} to "
                         f"{r.curve_steps[-1]:,} env steps (in the table file)")
        lines += [f"- difference: {_cell(d)}" for d in r.differences]
    return "\n".join(lines) + "\n"
