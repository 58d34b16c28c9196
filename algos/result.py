"""What a training call returns: one `TrainResult` for several seeds of one configuration."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eggroll_bench.algos.host_memory import host_trials
from eggroll_bench.provenance import code_version


@dataclass(frozen=True)
class EvalPoint:
    env_steps: int  # env steps consumed by training when this evaluation ran
    updates: int  # ES generations / PPO updates done
    return_mean: float  # mean evaluation return over `eval_episodes` fresh episodes
    return_std: float
    wall_s: float  # the trial's run seconds (compile excluded) since the start of training (see `CallTiming`)


@dataclass(frozen=True)
class SeedResult:
    seed: int
    status: str  # done | diverged | failed
    error: str  # why it diverged / failed, else ""
    env_steps: int
    updates: int
    evals: tuple[EvalPoint, ...]

    @property
    def final(self) -> EvalPoint | None:
        return self.evals[-1] if self.evals else None


@dataclass(frozen=True)
class CallTiming:
    """The compiled call a trial trained in, which it may share with other configurations.

    A call trains `rows` = configurations × seeds side by side (vmapped); its compile and run
    seconds belong to all of them. A trial's own `compile_s` and `run_s` (and its evaluation
    points' `wall_s`) are its share: the call's seconds × its rows / the call's rows, i.e. the
    call's / `configs`. For a trial alone in its call the share is the whole call, so the
    definition is the same for single and grouped trials, and a trial's throughput (its env steps
    / its run_s) is the call's throughput.
    """

    call_id: str  # unique per call: the trials of one group share it
    configs: int  # configurations trained in the call
    rows: int  # configurations × seeds
    compile_s: float  # the call's compile seconds (NaN when nothing was compiled, e.g. a failed trial)
    run_s: float  # the call's run seconds, compile excluded
    computed_updates: int = 0  # updates the call computed for its rows (ES generations / PPO updates)

    @property
    def share(self) -> float:
        """A configuration's part of the call's seconds."""
        return 1.0 / self.configs


@dataclass(frozen=True)
class TrainResult:
    algo: str
    env: str
    hparams: dict[str, Any]  # the resolved configuration (algorithm + network + evaluation)
    budget: int  # env-step budget per seed
    seeds: tuple[SeedResult, ...]
    compile_s: float  # the trial's share of its call's compile seconds (`CallTiming`)
    run_s: float  # the trial's share of its call's run seconds, compile excluded (its seeds run together)
    device: str
    versions: dict[str, str] = field(default_factory=dict)
    num_agents: int | None = None  # agents of the task (None when the trial failed before building it)
    compile_cached: bool | None = None  # every compile loaded from JAX's persistent cache (None: cache off / failed)
    call: CallTiming | None = None  # the compiled call it trained in (None: it never ran, e.g. failed)
    # the eggroll-bench that produced it (provenance.code_version: version, git commit, dirty hash)
    code_version: str = field(default_factory=code_version)
    # trial processes that shared its host at most (algos.host_memory.host_trials): on a CPU they share cores
    host_trials: int = field(default_factory=host_trials)

    @property
    def group_size(self) -> int:
        """Configurations trained in the same compiled call."""
        return self.call.configs if self.call is not None else 1

    @property
    def steps_per_s(self) -> float:
        """The trial's throughput: all its seeds' env steps per second of its run_s."""
        return sum(s.env_steps for s in self.seeds) / self.run_s if self.run_s > 0 else float("nan")
