"""Evolution strategies: EGGROLL and OpenES are this one algorithm with different noise.

One `update` is one generation: draw the population's noise (counter-based, see
`algos.noise`), run every member's `episodes_per_member` episodes to their end, shape the
fitness, estimate the gradient with one contraction, and apply it with an optax optimiser.
Evaluation uses the mean parameters with no noise.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from eggroll_bench.algos import sharding
from eggroll_bench.algos.config import ConfigError, EggrollConfig, ESConfig
from eggroll_bench.algos.network import Actor, PolicyHead, input_dim
from eggroll_bench.algos.noise import FullRankNoise, LowRankNoise, NoiseModel, shape_fitness
from eggroll_bench.algos.observations import ObsNorm, preprocess
from eggroll_bench.algos.rollout import ActFn, run_episodes
from eggroll_bench.envs.core import Env


class ESState(struct.PyTreeNode):
    params: Any
    opt_state: Any
    obs_norm: ObsNorm
    generation: jax.Array
    noise_key: jax.Array  # base of the counter-based noise keys; fixed for the whole run


OPTIMIZERS = {
    "adam": lambda schedule, weight_decay: optax.adam(schedule),
    "adamw": lambda schedule, weight_decay: optax.adamw(schedule, weight_decay=weight_decay),
    "sgd": lambda schedule, weight_decay: optax.sgd(schedule),
}


def make_optimizer(name: str, lr: float, lr_decay: float, weight_decay: float) -> optax.GradientTransformation:
    """The optax optimiser `name` (one of `OPTIMIZERS`), its learning rate decayed per generation."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"optimizer: unknown optimiser {name!r}; allowed: {', '.join(sorted(OPTIMIZERS))}")
    # lr_t = lr · lr_decay^t written out (not optax.exponential_decay, which branches in Python on the
    # decay rate): lr and lr_decay may be traced values, one per trained configuration.
    def schedule(count: jax.Array) -> jax.Array:
        return lr * jnp.power(lr_decay, count.astype(jnp.float32))

    return OPTIMIZERS[name](schedule, weight_decay)


class EvolutionStrategy:
    """One ES; `noise` decides which (low-rank: EGGROLL, full-rank: OpenES)."""

    def __init__(self, env: Env, config: ESConfig, noise: NoiseModel):
        self.env, self.spec, self.config, self.noise = env, env.spec, config, noise
        self.head = PolicyHead(self.spec, config.log_std)
        self.actor = Actor(self.head.action_dim, self.spec.discrete, config.hidden, config.depth, config.activation,
                           self.spec.mask_size, config.log_std)
        self.tx = make_optimizer(config.optimizer, config.lr, config.lr_decay, config.weight_decay)
        self.batch = config.pop_size * config.episodes_per_member

    @property
    def min_steps_per_update(self) -> int:
        return self.batch  # every episode lasts at least one step

    @property
    def parallel_axis(self) -> tuple[str, int, int]:
        """What a trial on several devices splits: the population (antithetic pairs stay whole)."""
        return "pop_size", self.config.pop_size, 2 if self.config.antithetic else 1

    def check(self) -> None:
        """The noise model's refusals, which depend on the network's shapes (EGGROLL's rank bound)."""
        self.noise.check(jax.eval_shape(self.init_params, jax.random.PRNGKey(0)), self.config)

    def init_params(self, key: jax.Array) -> Any:
        dummy = jnp.zeros(self.spec.batch_prefix + (input_dim(self.spec, self.config.agent_id),))
        return self.actor.init(key, dummy)["params"]

    def init(self, key: jax.Array) -> ESState:
        init_key, noise_key = jax.random.split(key)
        params = self.init_params(init_key)
        return ESState(params, self.tx.init(params), ObsNorm.create(self.spec.obs_shape), jnp.asarray(0), noise_key)

    def sigma(self, generation: jax.Array) -> jax.Array:
        c = self.config
        return jnp.maximum(c.sigma * c.sigma_decay ** generation.astype(jnp.float32), c.sigma_min)

    def _observe(self, state: ESState, obs: jax.Array) -> jax.Array:
        return preprocess(self.spec, state.obs_norm, obs, self.config.normalize_obs, self.config.agent_id)

    def population_act(self, state: ESState, noise: dict, sigma: jax.Array) -> ActFn:
        """Act for the whole (member × episode) batch; each member acts with its own noise."""
        variables, axes = self.noise.member_variables(state.params, noise, sigma)
        members, per = self.config.pop_size, self.config.episodes_per_member
        forward = jax.vmap(self.actor.apply, in_axes=(axes, 0))

        def act(obs, key):
            x = self._observe(state, obs)
            out = forward(variables, x.reshape((members, per) + x.shape[1:]))
            out = jax.tree.map(lambda y: y.reshape((members * per,) + y.shape[2:]), out)
            return self.head.sample(out, key, self.config.deterministic_policy)

        return act

    def start_keys(self, key: jax.Array) -> jax.Array | None:
        """Reset keys of the (member × episode) batch, member-major.

        With `common_starts`, episode e of every member starts from the same state (common
        random numbers): fitness differences then come from the parameters, not from which start
        states a member happened to draw. On tasks whose start states vary a lot (MPE landmark
        positions) independent starts drown the signal of a small population.
        """
        c = self.config
        if not c.common_starts:
            return None
        per_episode = jax.random.split(key, c.episodes_per_member)
        return jnp.tile(per_episode, (c.pop_size,) + (1,) * (per_episode.ndim - 1))

    def update(self, state: ESState, key: jax.Array, live: jax.Array | bool = True) -> tuple[ESState, dict]:
        """One generation. `live=False`: the runner will discard it, so its episodes end at once."""
        c = self.config
        sigma = self.sigma(state.generation)
        noise = sharding.split_tree(self.noise.sample(state.noise_key, state.generation, state.params))
        key, start_key = jax.random.split(key)
        # Observation moments only when they are used (normalize_obs is static): otherwise their
        # per-step sums over the batch are pure overhead, and obs_norm, never applied, stays put.
        episodes = run_episodes(self.env, self.population_act(state, noise, sigma), key, self.batch,
                                self.start_keys(start_key), place=sharding.split_tree, moments=c.normalize_obs,
                                live=live)
        fitness = episodes.returns.reshape(c.pop_size, c.episodes_per_member).mean(-1)
        shaped = shape_fitness(fitness, c.fitness_shaping)
        # The gradient takes the rollout's draw. Drawing it a second time from the same keys gave
        # the same program (XLA merged the two draws) but traced and optimised the draw twice: each
        # threefry draw of a new shape costs ~0.15 s of XLA:CPU compile.
        grad = self.noise.gradient(state.params, noise, shaped, sigma)
        neg = jax.tree.map(jnp.negative, grad)  # optax minimises; ES ascends the fitness
        updates, opt_state = self.tx.update(neg, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = ESState(params, opt_state, state.obs_norm.merge(episodes.moments), state.generation + 1,
                            state.noise_key)
        metrics = {"env_steps": episodes.lengths.sum(), "fitness_mean": fitness.mean(), "fitness_max": fitness.max()}
        return new_state, metrics

    def eval_act(self, state: ESState) -> ActFn:
        """The mean policy, no noise, with the evaluation protocol's determinism."""

        def act(obs, key):
            out = self.actor.apply({"params": state.params}, self._observe(state, obs))
            return self.head.sample(out, key, self.config.eval_deterministic)

        return act

    def policy_params(self, state: ESState) -> Any:
        return state.params


def make_eggroll(env: Env, config: EggrollConfig, total_steps: int) -> EvolutionStrategy:
    return EvolutionStrategy(env, config, LowRankNoise(config.pop_size, config.antithetic, config.rank))


def make_openes(env: Env, config: ESConfig, total_steps: int) -> EvolutionStrategy:
    return EvolutionStrategy(env, config, FullRankNoise(config.pop_size, config.antithetic))
