"""One named task: how to build its environment, its budgets, and what it needs installed.

Kept apart from the registry so that the built-in suites (`envs.tasks`) and users' own modules
can describe tasks without importing the registry that collects them.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from eggroll_bench.envs.core import RawEnv


@dataclass(frozen=True)
class Task:
    name: str
    suite: str
    source: str  # the library it comes from: gymnax, brax, jaxmarl, ...
    factory: Callable[[], "RawEnv"]
    budget_gpu: int  # env steps for a full (GPU-sized) run
    budget_quick: int  # env steps for a CPU `quick` run
    random_return: float | None = None  # mean episode return of a uniform-random policy
    # Overrides of algorithm defaults for this task: {"ppo": {...}, "eggroll": {...}, "*": {...}}
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    notes: str = ""
    # Optional libraries the factory imports, as (import name, pip package, extra): checked before
    # any work starts so a missing one is a clear message, not an ImportError mid-run.
    requires: tuple[tuple[str, str, str], ...] = ()

    def missing(self) -> list[tuple[str, str, str]]:
        """The required libraries that are not installed (found without importing them)."""
        return [req for req in self.requires if importlib.util.find_spec(req[0]) is None]


class MissingExtraError(ImportError):
    """A task's optional environment library is not installed."""

