"""What a training call returns: one `TrainResult` for several seeds of one configuration."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eggroll_bench.provenance import code_version


@dataclass(frozen=True)
class EvalPoint:
    env_steps: int  # env steps consumed by training when this evaluation ran
    updates: int  # ES generations / PPO updates done
    return_mean: float  # mean evaluation return over `eval_episodes` fresh episodes
    return_std: float
    wall_s: float  # run seconds (compile excluded) since the start of training


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
class TrainResult:
    algo: str
    env: str
    hparams: dict[str, Any]  # the resolved configuration (algorithm + network + evaluation)
    budget: int  # env-step budget per seed
    seeds: tuple[SeedResult, ...]
    compile_s: float  # compiling the trial's functions (shared by its seeds)
    run_s: float  # running them, compile excluded (the seeds run together, vmapped)
    device: str
    versions: dict[str, str] = field(default_factory=dict)
    num_agents: int | None = None  # agents of the task (None when the trial failed before building it)
    compile_cached: bool | None = None  # every compile loaded from JAX's persistent cache (None: cache off / failed)
    group_size: int = 1  # configurations trained in the same compiled call, sharing compile_s and run_s
    # the eggroll-bench that produced it (provenance.code_version: version, git commit, dirty hash)
    code_version: str = field(default_factory=code_version)

    @property
    def steps_per_s(self) -> float:
        """Throughput of the compiled call: all seeds' env steps per run second."""
        return sum(s.env_steps for s in self.seeds) / self.run_s if self.run_s > 0 else float("nan")
