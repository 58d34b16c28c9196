"""The contract every algorithm fulfils: what the runner calls, and nothing else.

    algorithm = factory(env, config, total_steps)   # registered with algos.registry.register_algorithm
    algorithm.check()                                # refusals that belong to this algorithm, before compiling
    state = algorithm.init(key)                      # a pytree: params, optimiser state, env state, ...
    state, metrics = algorithm.update(state, key)    # one ES generation / one PPO update
    act = algorithm.eval_act(state)                  # act(obs, key) -> action, the evaluation policy
    params = algorithm.policy_params(state)          # the policy's parameters (checked for NaN/inf)

The runner jits `init` and a `lax.while_loop` of `update`, vmapped over rows (configuration x
seed), so both must be pure JAX functions of their arguments. `metrics["env_steps"]` is the number of environment transitions
the update consumed (every member's / environment's, summed), which is how budgets are counted
for every algorithm alike; an update is never cheaper than `min_steps_per_update` env steps.

Optional: `update(state, key, live=...)`: the runner then passes `live`, a traced bool that is
False when the row's update will be discarded (vmapped, the loop runs the body for rows that are
done); an update whose cost is data-dependent (ES episodes run until they end) can skip its work.

Optional: `parallel_axis -> (field, size, multiple_of)` names what a trial on several devices
splits over them (ES: "pop_size", PPO: "num_envs"; see `algos.sharding`). The runner refuses a
size it cannot split evenly; an algorithm without it runs whole on every device.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol, TypeVar, runtime_checkable

import jax

from eggroll_bench.algos.config import BaseConfig
from eggroll_bench.algos.rollout import ActFn
from eggroll_bench.envs.core import Env

State = TypeVar("State")


@runtime_checkable
class Algorithm(Protocol[State]):
    env: Env
    config: BaseConfig

    @property
    def min_steps_per_update(self) -> int:
        """The fewest env steps one update can consume (a budget below it trains nothing)."""

    def check(self) -> None:
        """Raise `ConfigError` for a configuration this algorithm cannot run on this environment."""

    def init(self, key: jax.Array) -> State: ...

    def update(self, state: State, key: jax.Array) -> tuple[State, Mapping[str, Any]]:
        """One update; the metrics hold `env_steps` (an integer array) and anything else to log."""

    def eval_act(self, state: State) -> ActFn: ...

    def policy_params(self, state: State) -> Any: ...
