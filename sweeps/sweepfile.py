"""Sweep files (`sweeps/*.toml`): parse, validate and expand into trials, before anything runs.

The format is documented in the header of `sweeps/quick.toml` and in `results/README.md`. Every
mistake is a `SweepError` naming the file (and line, where it can be found), the key and what is
allowed, raised by `load_sweep` — so a bad file never gets as far as the results directory.

A trial is one resolved configuration (algo, env, budget, hyperparameters) run for all the sweep's
seeds in one vmapped call; its id is `sweeps.store.trial_id` of that configuration.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import random
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from eggroll_bench import plugins
from eggroll_bench.algos.config import ConfigError, as_dict, check_type, defaults, static_part, type_name, unknown_name
from eggroll_bench.algos.registry import algorithm_names, config_class, field_names, resolve
from eggroll_bench.sweeps.best import BestFileError, load_best
from eggroll_bench.sweeps.store import trial_id

TOP_KEYS = ("name", "description", "out", "mode", "algos", "tasks", "seeds", "budget", "budgets", "set",
            "search", "trials", "search_seed", "from_tune", "imports", "executor", "save_policies",
            "checkpoint_every", "runs")
ALGO_KEYS = ("set", "grid")
RUN_KEYS = ("algo", "task", "budget", "set", "grid")
MODES = ("tune", "final")
SEARCHES = ("grid", "random")
NAMED_BUDGETS = ("quick", "gpu")
DISTRIBUTIONS = ("uniform", "loguniform")
_MAX_DRAWS = 20  # random search: draws per wanted trial before giving up on invalid / repeated ones
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SweepError(ValueError):
    """A sweep file (or the results directory it points at) cannot be run as written."""


@dataclass(frozen=True)
class Trial:
    trial_id: str
    algo: str
    env: str
    suite: str  # the suite the sweep's `tasks` named it through, else the task's own suite
    budget: int  # env steps per seed
    seeds: tuple[int, ...]
    hparams: Mapping[str, Any]  # resolved (defaults < task defaults < from_tune < set < grid point)
    varied: Mapping[str, Any]  # this trial's grid / random-search values (what tells it from siblings)
    random_return: float | None

    def describe(self) -> str:
        knobs = " ".join(f"{k}={v}" for k, v in sorted(self.varied.items()))
        return f"{self.algo} {self.env} [{self.trial_id}]" + (f" {knobs}" if knobs else "")


@dataclass(frozen=True)
class Sweep:
    name: str
    source: Path
    sha256: str  # of the sweep file's bytes
    out: Path
    mode: str
    search: str
    algos: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    trials: tuple[Trial, ...]
    imports: tuple[str, ...] = ()  # modules that register its tasks / algorithms (`imports = [...]`)
    save_policies: bool = True  # each trial saves its seeds' final policies (`save_policies = false`: not)
    checkpoint_every: float | None = None  # minutes of run time between a trial's checkpoints (None: default)


class _File:
    """The sweep file's text, for error messages that point at a line."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = [line.split("#")[0] for line in text.splitlines()]  # comments never match

    def error(self, message: str, *keys: str, tables: tuple[str, ...] = ()) -> SweepError:
        """`message` prefixed with the file and the line of the first of `keys` found (in `tables`
        first, e.g. "openes.grid", then anywhere)."""
        line = self._find(keys, tables)
        return SweepError(f"{self.path}{f', line {line}' if line else ''}: {message}")

    def _find(self, keys: tuple[str, ...], tables: tuple[str, ...]) -> int | None:
        for key in keys:
            pattern = re.compile(rf"""(^|[\s\[.{{,])["']?{re.escape(key)}["']?\s*[=\].]""")
            for start, end in [self._section(t) for t in tables] + [(0, len(self.lines))]:
                hit = next((i + 1 for i in range(start, end) if pattern.search(self.lines[i])), None)
                if hit:
                    return hit
        return None

    def _section(self, table: str) -> tuple[int, int]:
        """Line range (0-based, end excluded) of `[table]`'s body; empty if it has no header."""
        headers = [i for i, text in enumerate(self.lines) if text.strip().startswith("[")]
        for i in headers:
            if re.sub(r"""[\s"']""", "", self.lines[i]) == f"[{table}]":
                return i + 1, next((h for h in headers if h > i), len(self.lines))
        return 0, 0


def _unknown(file: _File, what: str, key: str, allowed: list[str] | tuple[str, ...], where: str = "") -> SweepError:
    table = (where.strip("[]"),) if where else ()
    close_where = f" in {where}" if where else ""
    message = unknown_name(what, key, list(allowed)).replace(f"{key!r}.", f"{key!r}{close_where}.", 1)
    return file.error(message, key, tables=table)


def _check_type(file: _File, where: str, key: str, value: Any, default: Any) -> None:
    """TOML values are typed, so be strict: "0.1" is not a float and 1.5 is not an int."""
    problem = check_type(key, value, default)
    if problem:
        raise file.error(f"{where}: {problem}", key, tables=(where.strip("[]"),))


def _defaults(algo: str) -> dict[str, Any]:
    return defaults(config_class(algo))


def _parse_budget(file: _File, key: str, value: Any) -> str | int:
    if isinstance(value, str) and value in NAMED_BUDGETS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    label = key if key == "budget" else f"[budgets] {key}"
    raise file.error(f"{label} = {value!r}: expected 'quick', 'gpu' or a positive number of env steps", key,
                     tables=("budgets",) if key != "budget" else ())


def _parse_seeds(file: _File, value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return tuple(range(value))
    if (isinstance(value, list) and value and len(set(value)) == len(value)
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        return tuple(value)
    raise file.error(f"seeds = {value!r}: expected a count (seeds 0..N-1) or a list of distinct non-negative "
                     f"integers", "seeds")


def _parse_grid_value(file: _File, algo: str, key: str, value: Any, default: Any, search: str,
                      where: str | None = None) -> Any:
    where, grid_table = where or f"[{algo}.grid]", (f"{algo}.grid",)
    if isinstance(value, dict):
        if search != "random":
            raise file.error(f"{where}: {key} = {value!r}: distributions need search = 'random'; "
                             f"a grid takes a list of values", key, tables=grid_table)
        if len(value) != 1 or next(iter(value)) not in DISTRIBUTIONS:
            raise file.error(f"{where}: {key}: a distribution is one of {{ uniform = [lo, hi] }} or "
                             f"{{ loguniform = [lo, hi] }}, got {value!r}", key, tables=grid_table)
        (dist, bounds), = value.items()
        if type(default) not in (int, float):
            raise file.error(f"{where}: {key} is a {type_name(default)}; only numbers take a distribution", key,
                             tables=grid_table)
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(
                isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds) and bounds[0] < bounds[1]):
            raise file.error(f"{where}: {key}: {dist} needs [lo, hi] with lo < hi, got {bounds!r}", key,
                             tables=grid_table)
        if dist == "loguniform" and bounds[0] <= 0:
            raise file.error(f"{where}: {key}: loguniform needs lo > 0, got {bounds!r}", key, tables=grid_table)
        return {dist: list(bounds)}
    if not isinstance(value, list) or not value:
        raise file.error(f"{where}: {key} = {value!r}: a grid value is a non-empty list of values to try "
                         f"(a fixed value goes in [{algo}.set])", key, tables=grid_table)
    for item in value:
        _check_type(file, where, key, item, default)
    return list(value)


def _parse_algo_table(file: _File, algo: str, table: Any, search: str, where: str | None = None
                      ) -> tuple[dict, dict]:
    """An algorithm's `set` and `grid` tables (`[ppo.set]`, or a run's `set` / `grid` when `where`
    names the run), checked against its hyperparameters."""
    if where is None:
        if not isinstance(table, dict):
            raise file.error(f"{algo} must be a table with keys {', '.join(ALGO_KEYS)}", algo)
        for key in table:
            if key not in ALGO_KEYS:
                raise _unknown(file, "key", key, ALGO_KEYS, where=f"[{algo}]")
    name = (lambda part: f"[{algo}.{part}]") if where is None else (lambda part: f"{where} {part}")
    defaults = _defaults(algo)
    fixed, grid = table.get("set", {}), table.get("grid", {})
    for part, values in (("set", fixed), ("grid", grid)):
        if not isinstance(values, dict):
            raise file.error(f"{name(part)} must be a table of hyperparameters", algo)
        for key in values:
            if key not in defaults:
                raise _unknown(file, f"{algo} hyperparameter", key, sorted(defaults), where=name(part))
    for key, value in fixed.items():
        _check_type(file, name("set"), key, value, defaults[key])
    both = sorted(set(fixed) & set(grid))
    if both:
        raise file.error(f"{algo}: {', '.join(both)} both fixed in {name('set')} and searched in {name('grid')}",
                         both[0])
    grid = {k: _parse_grid_value(file, algo, k, v, defaults[k], search, None if where is None else name("grid"))
            for k, v in grid.items()}
    return dict(fixed), grid


def _sample(rng: random.Random, spec: Any, default: Any) -> Any:
    if isinstance(spec, list):
        return rng.choice(spec)
    (dist, (lo, hi)), = spec.items()
    x = rng.uniform(lo, hi) if dist == "uniform" else math.exp(rng.uniform(math.log(lo), math.log(hi)))
    # rounded so ids, logs and best.json stay readable; int fields get ints
    return int(round(x)) if isinstance(default, int) else float(f"{x:.4g}")


def _points(algo: str, grid: Mapping[str, Any], search: str, seed: int) -> Iterator[dict[str, Any]]:
    """Grid: every combination. Random: an endless stream of draws (the caller takes what it needs)."""
    keys = sorted(grid)  # sorted: the expansion order does not depend on the file's key order
    if search == "grid":
        yield from (dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys)))
        return
    # a string seed is hashed with sha512 by `random`: reproducible across processes and platforms;
    # seeded per algorithm, so every task gets the same draws (comparable across tasks)
    rng = random.Random(f"{seed}:{algo}")
    defaults = _defaults(algo)
    while True:
        yield {k: _sample(rng, grid[k], defaults[k]) for k in keys}


def load_sweep(path: str | Path, *, out: str | Path | None = None, defer_from_tune: bool = False) -> Sweep:
    """Parse, validate and expand a sweep file. `out` overrides the file's output directory.

    `defer_from_tune=True` checks a final sweep before its tune sweep has run: `from_tune` must be
    a path, but its best.json is not read, so the trials lack the tuned values. Use it only to
    refuse a bad file early; load again without it to get the trials to run.
    """
    path = Path(path)
    try:
        data_bytes = path.read_bytes()
    except OSError as err:
        raise SweepError(f"{path}: cannot read the sweep file ({err.strerror})") from None
    text = data_bytes.decode("utf-8", errors="replace")
    file = _File(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SweepError(f"{path}: invalid TOML: {err}") from None  # tomllib's text has line and column

    imports = _load_imports(file, data.get("imports", []))  # before any name is resolved: they add tasks/algos
    algo_names = algorithm_names()
    for key in data:
        if key not in TOP_KEYS and key not in algo_names:
            raise _unknown(file, "key", key, TOP_KEYS + algo_names)
    # `algos` x `tasks` (the cartesian product) and / or `[[runs]]` (one algorithm on one task each)
    required = ("name", "seeds") if "runs" in data else ("name", "algos", "tasks", "seeds")
    for key in required:
        if key not in data:
            raise file.error(f"missing required key {key!r} (required: name, seeds, and algos + tasks "
                             f"and / or [[runs]])")
    if ("algos" in data) != ("tasks" in data):
        raise file.error("algos and tasks go together (their product is run); give both, or only [[runs]]",
                         "algos" if "algos" in data else "tasks")
    name = data["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise file.error(f"name = {name!r}: expected a name of letters, digits, '.', '_' or '-'", "name")
    if not isinstance(data.get("out", ""), str):
        raise file.error(f"out = {data['out']!r}: expected a directory path", "out")
    mode = data.get("mode", "final")
    if mode not in MODES:
        raise file.error(f"mode = {mode!r}: expected one of {', '.join(MODES)}", "mode")
    search, n_trials, search_seed = _parse_search(file, data, mode)
    algos = _parse_algos(file, data["algos"]) if "algos" in data else []
    tasks, suite_of = _parse_tasks(file, data["tasks"]) if "tasks" in data else ([], {})
    task_names = [t.name for t in tasks]
    seeds = _parse_seeds(file, data["seeds"])
    budget = _parse_budget(file, "budget", data.get("budget", "quick"))
    runs = _parse_runs(file, data.get("runs", []), budget, search)
    budgets = data.get("budgets", {})
    if not isinstance(budgets, dict):
        raise file.error("budgets must be a table of task name = budget", "budgets")
    for task_name, value in budgets.items():
        if task_name not in task_names:
            raise _unknown(file, "task (not in this sweep's tasks)", task_name, task_names, where="[budgets]")
        _parse_budget(file, task_name, value)
    all_algos = list(dict.fromkeys(algos + [r.algo for r in runs]))
    all_tasks = list(dict.fromkeys(task_names + [r.task.name for r in runs]))
    common = _parse_common(file, data.get("set", {}), all_algos)
    tables = {a: _parse_algo_table(file, a, data[a], search) for a in algo_names if a in data}
    best = _parse_from_tune(file, data.get("from_tune"), mode, algos, task_names, defer_from_tune)

    trials = _expand(file, tasks, suite_of, algos, seeds, budget, budgets, common, tables, best, search,
                     n_trials, search_seed, runs)
    save_policies = data.get("save_policies", True)
    if not isinstance(save_policies, bool):
        raise file.error(f"save_policies = {save_policies!r}: expected true or false", "save_policies")
    checkpoint_every = data.get("checkpoint_every")
    if checkpoint_every is not None and (isinstance(checkpoint_every, bool)
                                         or not isinstance(checkpoint_every, (int, float)) or checkpoint_every < 0):
        raise file.error(f"checkpoint_every = {checkpoint_every!r}: expected minutes of run time (a number >= 0)",
                         "checkpoint_every")
    out_dir = Path(out) if out is not None else Path(data.get("out", f"results/{name}"))
    return Sweep(name=name, source=path, sha256=hashlib.sha256(data_bytes).hexdigest(), out=out_dir, mode=mode,
                 search=search, algos=tuple(all_algos), tasks=tuple(all_tasks), seeds=seeds, trials=tuple(trials),
                 imports=imports, save_policies=save_policies,
                 checkpoint_every=float(checkpoint_every) if checkpoint_every is not None else None)


def _parse_search(file: _File, data: Mapping[str, Any], mode: str) -> tuple[str, int, int]:
    search = data.get("search", "grid")
    if search not in SEARCHES:
        raise file.error(f"search = {search!r}: expected one of {', '.join(SEARCHES)}", "search")
    if search == "grid":
        for key in ("trials", "search_seed"):
            if key in data:
                raise file.error(f"{key} only applies to search = 'random'", key)
        return search, 0, 0
    if mode != "tune":
        raise file.error("search = 'random' needs mode = 'tune'", "search")
    n = data.get("trials")
    if not (isinstance(n, int) and not isinstance(n, bool) and n > 0):
        raise file.error(f"trials = {n!r}: random search needs trials = a positive integer "
                         f"(configurations per algorithm and task)", "trials", "search")
    seed = data.get("search_seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise file.error(f"search_seed = {seed!r}: expected an integer", "search_seed")
    return search, n, seed


def _load_imports(file: _File, imports: Any) -> tuple[str, ...]:
    """`imports = ["my_pkg.tasks"]`: modules that register tasks or algorithms, loaded here and by
    every trial process (see `eggroll_bench.plugins`)."""
    if not (isinstance(imports, list) and all(isinstance(m, str) and m.strip() for m in imports)):
        raise file.error(f"imports = {imports!r}: expected a list of module names, e.g. [\"my_pkg.tasks\"]",
                         "imports")
    try:
        plugins.load_modules(imports)
    except plugins.PluginError as err:
        raise file.error(f"imports: {err}", "imports") from None
    return tuple(imports)


def _parse_algos(file: _File, algos: Any) -> list[str]:
    names = algorithm_names()
    if not (isinstance(algos, list) and algos and all(isinstance(a, str) for a in algos)):
        raise file.error(f"algos = {algos!r}: expected a non-empty list of {', '.join(names)}", "algos")
    for algo in algos:
        if algo not in names:
            raise _unknown(file, "algorithm", algo, names, where="algos")
    return list(dict.fromkeys(algos))


def _parse_tasks(file: _File, names: Any) -> tuple[list, dict[str, str]]:
    """The tasks, in order without duplicates, and each one's suite label (`_suite_labels`).

    A task whose optional library is not installed (the `paper` extra) is refused here, so every
    command that loads a sweep says what to install instead of failing with an ImportError later.
    """
    if not (isinstance(names, list) and names and all(isinstance(t, str) for t in names)):
        raise file.error(f"tasks = {names!r}: expected a non-empty list of task or suite names", "tasks")
    from eggroll_bench.envs import registry  # the module, not its names: tests patch `registry.unavailable`

    try:
        tasks = registry.resolve_tasks(names)
    except KeyError as err:
        raise file.error(f"tasks: {err.args[0]} (or a suite: {', '.join(sorted(registry.suites()))})",
                         "tasks") from None
    missing = registry.unavailable(tasks)
    if missing:
        raise file.error(f"tasks: {missing}", "tasks")
    return tasks, _suite_labels(names)


def _suite_labels(names: list[str]) -> dict[str, str]:
    """Task name -> the `suite` its rows record: the suite the sweep listed it through (the first one,
    when listed twice), else the task's own suite. A task can belong to several suites (CartPole-v1
    is in core16 and paper16), and the rows of a `tasks = ["paper16"]` sweep should all say paper16,
    so that filtering results.csv on the suite finds all 16 tasks."""
    from eggroll_bench.envs.registry import get_task, suites

    members = suites()
    labels: dict[str, str] = {}
    for name in names:
        for task_name in members.get(name, ()):
            labels.setdefault(task_name, name)
        if name not in members:
            labels.setdefault(name, get_task(name).suite)
    return labels


def _parse_common(file: _File, common: Any, algos: list[str]) -> dict[str, Any]:
    """[set]: each key must belong to at least one listed algorithm; it applies to those that have it."""
    if not isinstance(common, dict):
        raise file.error("set must be a table of hyperparameters for every algorithm", "set")
    for key, value in common.items():
        owners = [a for a in algos if key in _defaults(a)]
        if not owners:
            allowed = sorted({k for a in algos for k in field_names(a)})
            raise _unknown(file, f"hyperparameter (for {', '.join(algos)})", key, allowed, where="[set]")
        for algo in owners:
            _check_type(file, "[set]", key, value, _defaults(algo)[key])
    return dict(common)


@dataclass(frozen=True)
class _Run:
    """One `[[runs]]` table: an algorithm on a task at a budget with its own settings."""

    where: str  # how errors name it: "[[runs]] #2 (ppo on CartPole-v1)"
    algo: str
    task: Any  # envs.task.Task
    suite: str
    budget: str | int
    fixed: dict[str, Any]
    grid: dict[str, Any]


def _parse_runs(file: _File, runs: Any, budget: str | int, search: str) -> list[_Run]:
    """`[[runs]]`: explicit (algorithm, task) cells, each with its own budget and settings, for sweeps
    whose configuration differs per cell (e.g. reproducing published runs, sweeps/validate.toml)."""
    if not (isinstance(runs, list) and all(isinstance(r, dict) for r in runs)):
        raise file.error("runs must be an array of tables ([[runs]] with algo, task, and optionally budget, "
                         "set, grid)", "runs")
    names = algorithm_names()
    out = []
    for i, run in enumerate(runs, 1):
        label = f"[[runs]] #{i}"
        for key in run:
            if key not in RUN_KEYS:
                raise _unknown(file, "key", key, RUN_KEYS, where=label)
        for key in ("algo", "task"):
            if not isinstance(run.get(key), str):
                raise file.error(f"{label}: missing {key} (a {'registered algorithm' if key == 'algo' else 'task'} "
                                 f"name)", "runs")
        algo, task_name = run["algo"], run["task"]
        if algo not in names:
            raise _unknown(file, "algorithm", algo, names, where=label)
        from eggroll_bench.envs import registry

        if task_name in registry.suites():
            raise file.error(f"{label}: task = {task_name!r} is a suite; a run names one task", task_name)
        (task,), suite_of = _parse_tasks(file, [task_name])
        where = f"{label} ({algo} on {task_name})"
        value = run.get("budget", budget)
        try:
            steps = _parse_budget(file, "budget", value)
        except SweepError:
            raise file.error(f"{where}: budget = {value!r}: expected 'quick', 'gpu' or a positive number of "
                             f"env steps", "budget") from None
        for part in ("set", "grid"):
            if not isinstance(run.get(part, {}), dict):
                raise file.error(f"{where}: {part} must be a table of hyperparameters", part)
        fixed, grid = _parse_algo_table(file, algo, run, search, where=where)
        out.append(_Run(where, algo, task, suite_of[task.name], steps, fixed, grid))
    return out


def _parse_from_tune(file: _File, from_tune: Any, mode: str, algos: list[str], task_names: list[str],
                     defer: bool = False) -> dict[tuple[str, str], dict[str, Any]]:
    if from_tune is None:
        return {}
    if mode != "final" or not isinstance(from_tune, str):
        raise file.error("from_tune = 'path/to/best.json' belongs to a mode = 'final' sweep", "from_tune")
    if defer:  # its tune sweep has not run yet (see load_sweep)
        return {}
    try:
        best = load_best(from_tune)
    except BestFileError as err:
        raise file.error(str(err), "from_tune") from None
    missing = [f"{a}/{t}" for t in task_names for a in algos if (a, t) not in best]
    if missing:
        raise file.error(f"from_tune: {from_tune} has no choice for {', '.join(missing)} "
                         f"(it has {', '.join(sorted(f'{a}/{t}' for a, t in best)) or 'none'})", "from_tune")
    return best


def _expand(file: _File, tasks, suite_of, algos, seeds, budget, budgets, common, tables, best, search, n_trials,
            search_seed, runs: list[_Run] = ()) -> list[Trial]:
    ranked: list[tuple[tuple, Trial]] = []
    seen: set[str] = set()
    search_args = (search, n_trials, search_seed)
    for ti, task in enumerate(tasks):
        choice = budgets.get(task.name, budget)
        for ai, algo in enumerate(algos):
            fixed, grid = tables.get(algo, ({}, {}))
            base = dict(best.get((algo, task.name), {}))
            base.update({k: v for k, v in common.items() if k in _defaults(algo)})
            base.update(fixed)
            for order, trial in _cell(file, task, suite_of[task.name], algo, choice, seeds, base, grid, search_args,
                                      seen):
                ranked.append(((ti, ai) + order, trial))
    for ri, run in enumerate(runs):
        fixed, grid = tables.get(run.algo, ({}, {}))
        base = dict(best.get((run.algo, run.task.name), {}))
        base.update({k: v for k, v in common.items() if k in _defaults(run.algo)})
        base.update(fixed)
        base.update(run.fixed)
        # a run's own settings: what it fixes leaves the algorithm's grid, its grid adds to it
        grid = {**{k: v for k, v in grid.items() if k not in run.fixed}, **run.grid}
        for order, trial in _cell(file, run.task, run.suite, run.algo, run.budget, seeds, base, grid, search_args,
                                  seen, duplicate=run.where):
            ranked.append(((len(tasks) + ri, 0) + order, trial))
    return [t for _, t in sorted(ranked, key=lambda x: x[0])]


def _cell(file: _File, task, suite: str, algo: str, choice: str | int, seeds, base: dict, grid: dict,
          search_args: tuple, seen: set[str], duplicate: str | None = None) -> list[tuple[tuple, Trial]]:
    """The trials of one (algorithm, task) cell: every grid point (or random draw) resolved on top of
    `base`. Ids already in `seen` are skipped (a random search drawing one configuration twice), or,
    for a run (`duplicate` names it), refused: it would silently be the same trial as another."""
    search, n_trials, search_seed = search_args
    steps = {"quick": task.budget_quick, "gpu": task.budget_gpu}.get(choice, choice)
    out: list[tuple[tuple, Trial]] = []
    kept, first_error = 0, None
    for pi, point in enumerate(_points(algo, grid, search, search_seed)):
        if search == "random" and (kept == n_trials or pi >= _MAX_DRAWS * n_trials):
            break
        try:
            resolved = resolve(algo, task.defaults, {**base, **point})
            hparams = as_dict(resolved)
        except ConfigError as err:
            knobs = "".join(f" {k}={v}" for k, v in point.items())
            named = re.match(r"\w+", str(err))  # ConfigError messages start with the field
            keys = ((named.group(),) if named else ()) + tuple(point) + (algo,)
            where = f"{duplicate}: " if duplicate else ""
            error = file.error(f"{where}{algo} on {task.name}{' with' + knobs if knobs else ''}: {err}", *keys,
                               tables=(f"{algo}.set", f"{algo}.grid", "set"))
            if search == "grid":
                raise error from None
            first_error = first_error or error  # a random draw outside the valid region: draw again
            continue
        tid = trial_id(algo, task.name, steps, hparams)
        if tid in seen:
            if duplicate:
                raise file.error(f"{duplicate}: resolves to a trial already in this sweep ({tid}); "
                                 f"remove one of the two", "runs")
            continue
        seen.add(tid)
        kept += 1
        # trials of one static part (one compiled program) run next to each other
        shape = tuple(sorted(static_part(resolved).items()))
        out.append(((shape, pi), Trial(tid, algo, task.name, suite, int(steps), seeds, hparams, point,
                                       task.random_return)))
    if not kept and first_error is not None:
        raise first_error
    return out


def load_executor_table(path: str | Path) -> dict[str, Any]:
    """The file's optional `[executor]` table as `sweeps.executors.settings` keys (`SETTINGS`: kind,
    workers, address, cpus_per_trial, trial_timeout, ...; `executor` is another name for `kind`);
    `{}` without one. Where and how trials run is no part of a trial, so it is not in `Sweep`: the
    command line overrides it key by key."""
    from eggroll_bench.sweeps.executors import SETTINGS, ExecutorError, check_setting

    path = Path(path)
    text = path.read_text()
    file = _File(path, text)
    table = tomllib.loads(text).get("executor", {})
    if not isinstance(table, dict):
        raise file.error(f"executor must be a table ([executor]), got {type_name(table)}", "executor")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in SETTINGS + ("executor",):
            raise _unknown(file, "key", key, SETTINGS + ("executor",), "[executor]")
        name = "kind" if key == "executor" else key
        try:
            check_setting(name, value)
        except ExecutorError as err:
            raise file.error(f"[executor]: {err}", key, tables=("executor",)) from None
        out[name] = value
    return out
