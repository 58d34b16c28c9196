"""The compiled workloads the benchmarks time, built from the project's real code.

Every workload steps a `FixedHorizonEnv` through `algos.rollout.run_episodes`, the loop the runner
uses for ES fitness, so each variant steps exactly batch × T transitions and counts them the way
the runner does (Σ episode lengths, returned by the compiled call itself):

- `inference_rollout`: the same Actor and batch with one shared set of parameters: no noise, no
  per-member parameters, no update — the ceiling;
- `population_rollout`: one generation's rollout of an ES population: the noise is drawn once
  (`NoiseModel.sample`) and each member acts through `EvolutionStrategy.population_act`;
- `full_generation`: `EvolutionStrategy.update` itself (rollout + fitness + gradient + optimiser).

Why `run_episodes` and not a `lax.scan`: in a scan XLA:CPU sank part of the noise generation into
the loop body (measured: hidden 1024, 1024 members, 32 ms per step instead of 17 ms), so a
scan-based rollout timed a cost the runner does not pay.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from eggroll_bench.algos.config import ESConfig
from eggroll_bench.algos.registry import get_algorithm, resolve
from eggroll_bench.algos.es import ESState, EvolutionStrategy
from eggroll_bench.algos.rollout import ActFn, run_episodes
from eggroll_bench.envs.core import Env
from eggroll_bench.envs.registry import get_task, make

# fn(state, key) -> (output, env_steps): what every timed workload looks like
Workload = Callable[[ESState, jax.Array], tuple[Any, jax.Array]]


class FixedHorizonEnv:
    """An Env whose episodes never end from the learner's view: `done` is always False and the
    step limit is `horizon`, so `run_episodes` steps every environment exactly `horizon` times.
    The wrapped Env still auto-resets internally when its own episodes end, so the dynamics stay
    those of the task."""

    def __init__(self, env: Env, horizon: int):
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.inner = env
        self.spec = dataclasses.replace(env.spec, max_steps=horizon)

    def reset(self, key):
        return self.inner.reset(key)

    def step(self, key, state, action):
        obs, state, reward, done, info = self.inner.step(key, state, action)
        return obs, state, reward, jnp.zeros_like(done), info


def es_config(algo: str, env_name: str, hidden: int, depth: int, pop_size: int, rank: int = 1,
              activation: str = "tanh", **overrides: Any) -> ESConfig:
    """The task's ES defaults (e.g. brax observation normalisation) with the benchmark's network."""
    values = {"hidden": hidden, "depth": depth, "pop_size": pop_size, "activation": activation, **overrides}
    if algo == "eggroll":
        values["rank"] = rank
    return resolve(algo, get_task(env_name).defaults, values)


def make_es(algo: str, env_name: str, hidden: int, depth: int, pop_size: int, rank: int = 1,
            activation: str = "tanh", horizon: int | None = None, **overrides: Any) -> EvolutionStrategy:
    """An `EvolutionStrategy` on the task, on a `FixedHorizonEnv` when `horizon` is given."""
    env = make(env_name)
    if horizon is not None:
        env = FixedHorizonEnv(env, horizon)
    return get_algorithm(algo).make(env, es_config(algo, env_name, hidden, depth, pop_size, rank, activation,
                                                   **overrides), 0)


def inference_act(es: EvolutionStrategy, state: ESState) -> ActFn:
    """`population_act` without the population: the mean parameters, shared by the whole batch,
    with the same observation preprocessing and action selection."""

    def act(obs, key):
        out = es.actor.apply({"params": state.params}, es._observe(state, obs))
        return es.head.sample(out, key, es.config.deterministic_policy)

    return act


def inference_rollout(es: EvolutionStrategy) -> Workload:
    """fn(state, key) -> (episodes, env steps): the same batch and network, shared parameters."""

    def fn(state: ESState, key: jax.Array):
        episodes = run_episodes(es.env, inference_act(es, state), key, es.batch)
        return episodes, episodes.lengths.sum()

    return fn


def population_rollout(es: EvolutionStrategy) -> Workload:
    """fn(state, key) -> (episodes, env steps): draw the generation's noise once, then roll out the
    population, each member with its own perturbation (the first half of `es.update`)."""

    def fn(state: ESState, key: jax.Array):
        sigma = es.sigma(state.generation)
        noise = es.noise.sample(state.noise_key, state.generation, state.params)
        episodes = run_episodes(es.env, es.population_act(state, noise, sigma), key, es.batch)
        return episodes, episodes.lengths.sum()

    return fn


def full_generation(es: EvolutionStrategy) -> Workload:
    """fn(state, key) -> ((state, metrics), env steps): one `EvolutionStrategy.update`."""

    def fn(state: ESState, key: jax.Array):
        new_state, metrics = es.update(state, key)
        return (new_state, metrics), metrics["env_steps"]

    return fn


WORKLOADS: dict[str, Callable[[EvolutionStrategy], Workload]] = {
    "inference": inference_rollout, "rollout": population_rollout, "generation": full_generation,
}


def population_step(es: EvolutionStrategy, state: ESState):
    """(fn(variables, obs, key) -> actions, variables' shapes): one forward step of the whole
    population given the members' prebuilt variables, i.e. the body of `population_act`'s `act`
    without the once-per-generation noise draw. Mirrors `population_act` (a test checks that
    both give the same actions); needed because `population_act` builds the variables itself."""
    found = {}

    def shapes(state):  # traced once, allocates nothing; the in_axes are plain Python values
        noise = es.noise.sample(state.noise_key, state.generation, state.params)
        variables, found["axes"] = es.noise.member_variables(state.params, noise, es.sigma(state.generation))
        return variables

    variables = jax.eval_shape(shapes, state)
    members, per = es.config.pop_size, es.config.episodes_per_member
    forward = jax.vmap(es.actor.apply, in_axes=(found["axes"], 0))

    def fn(variables, obs, key):
        x = es._observe(state, obs)
        out = forward(variables, x.reshape((members, per) + x.shape[1:]))
        out = jax.tree.map(lambda y: y.reshape((members * per,) + y.shape[2:]), out)
        return es.head.sample(out, key, es.config.deterministic_policy)

    return fn, variables


def init_state(es: EvolutionStrategy, seed: int = 0) -> ESState:
    return jax.jit(es.init)(jax.random.PRNGKey(seed))


def state_shapes(es: EvolutionStrategy) -> Any:
    """ShapeDtypeStructs of the ES state: lets memory analysis compile without allocating."""
    return jax.eval_shape(es.init, jax.random.PRNGKey(0))


def key_shape() -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct((2,), jnp.uint32)
